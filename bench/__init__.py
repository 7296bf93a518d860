"""`make bench`: AWS calls, wall time and memory per reconcile scenario; cold imports.

Runs on the embedded AWS (moto plus the MSK simulator), so the numbers are
call counts and relative costs, not AWS latencies.
"""
