"""Development tools that never ship in the Lambda layer: the embedded AWS
(moto and the MSK simulator), the demo and the local Lambda, workflow and
consumer harnesses. It lives outside ``layers/core``, so the layer build
cannot copy it; the runtime package never imports it (a test walks the
imports)."""
