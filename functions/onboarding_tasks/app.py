"""Task function of the onboarding and offboarding state machines.

The state machine names the step in `action`; the request travels in
`request`. A raised error reaches the state machine as the error name it
catches (the exception class name, e.g. InvalidRequestError).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import InvalidEventError
from msk_privatelink.onboarding.service import ConsumerWorkflows
from msk_privatelink.onboarding.settings import OnboardingSettings

logger = Logger()
metrics = Metrics()

Step = Callable[[ConsumerWorkflows, dict[str, Any]], dict[str, Any]]
STEPS: dict[str, Step] = {
    "validate": lambda w, e: w.validate(e.get("request")),
    "register": lambda w, e: w.register(e.get("request")),
    "allow": lambda w, e: w.allow(e.get("request")),
    "subscribe": lambda w, e: w.subscribe(e.get("request")),
    "request_consumer": lambda w, e: w.request_consumer(e.get("request"), e["taskToken"]),
    "check_answer": lambda w, e: w.check_answer(
        e.get("request"), e.get("reply"), int(e.get("rounds", 0))
    ),
    "accept": lambda w, e: w.accept(e.get("request"), e.get("reply")),
    "check_connections": lambda w, e: w.check_connections(
        e.get("request"), e.get("reply"), int(e.get("attempt", 0))
    ),
    "activate": lambda w, e: w.activate(e.get("request"), int(e["generation"])),
    "announce_onboarded": lambda w, e: w.announce_onboarded(e.get("request")),
    "compensate": lambda w, e: w.compensate(e.get("request"), e.get("error")),
    "begin_offboarding": lambda w, e: w.begin_offboarding(e.get("request")),
    "revoke": lambda w, e: w.revoke(e.get("request")),
    "request_removal": lambda w, e: w.request_removal(e.get("request"), e["taskToken"]),
    "reject_connections": lambda w, e: w.reject_connections(e.get("request")),
    "unsubscribe": lambda w, e: w.unsubscribe(e.get("request")),
    "finish_offboarding": lambda w, e: w.finish_offboarding(e.get("request")),
    "announce_offboarded": lambda w, e: w.announce_offboarded(e.get("request")),
}


@lru_cache(maxsize=1)
def _workflows(settings: OnboardingSettings) -> ConsumerWorkflows:
    return ConsumerWorkflows(AwsClients(), settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    action = event.get("action")
    step = STEPS.get(action) if isinstance(action, str) else None
    if step is None:
        raise InvalidEventError(f"unknown action {action!r}; expected one of {sorted(STEPS)}")
    request = event.get("request") or {}
    logger.append_keys(
        action=action,
        cluster_arn=request.get("clusterArn"),
        consumer_account_id=request.get("consumerAccountId"),
    )
    workflows = _workflows(OnboardingSettings.from_env())
    result = step(workflows, event)
    metrics.add_metric(f"Step_{action}", MetricUnit.Count, 1)
    logger.info("step done", extra={"result": result})
    return result
