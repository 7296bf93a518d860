"""Reconciler Lambda: SQS FIFO batch of "reconcile cluster X" nudges."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from msk_privatelink.advertised.outcome import AdvertisedListenersPendingError, AdvertisedStatus
from msk_privatelink.aws.clients import AwsClients
from msk_privatelink.kernel.errors import MskPrivateLinkError
from msk_privatelink.reconcile.budget import RECORD_START_SECONDS, TimeBudget
from msk_privatelink.reconcile.reconciler import ReconcileOutcome
from msk_privatelink.reconcile.service import ReconcileService
from msk_privatelink.reconcile.settings import ReconcilerSettings
from msk_privatelink.reconcile.triggers import ReconcileRequest

logger = Logger()
metrics = Metrics()
# A failed record blocks only its own cluster's message group.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# Advertised listeners still on their way bring the record back soon only on
# its first deliveries: a rolling restart outlasts the queue's five receives,
# and a pending rollout must never push a record into the dead-letter queue.
# Later runs come from the schedule.
PENDING_RETRY_RECEIVES = 2


@lru_cache(maxsize=1)
def _service(settings: ReconcilerSettings) -> ReconcileService:
    return ReconcileService(AwsClients(), settings)


def _record_handler(record: SQSRecord, done: set[str], budget: TimeBudget) -> None:
    request = ReconcileRequest.from_json(record.body)
    logger.set_correlation_id(request.cluster_arn)
    logger.append_keys(cluster_arn=request.cluster_arn, trigger=request.trigger)
    if request.cluster_arn in done:
        # Queued before this batch's reconcile of the cluster read the world.
        logger.info("coalesced with an earlier message of this batch")
        return
    # Outside the try: a broken deployment must fail loudly (and reach the DLQ).
    service = _service(ReconcilerSettings.from_env())
    if budget.below(RECORD_START_SECONDS):
        # Earlier records of the batch used the invocation: this one runs in
        # the next, without counting as a failed receive.
        service.continue_later(record.raw_event, request)
        metrics.add_metric("ReconcileContinued", MetricUnit.Count, 1)
        logger.info("too little time left in this invocation: queued again")
        done.add(request.cluster_arn)
        return
    started = time.monotonic()
    try:
        outcome = service.reconcile(request, budget)
    except MskPrivateLinkError as exc:
        metrics.add_metric("ReconcileErrors", MetricUnit.Count, 1)
        if exc.retryable:
            logger.warning("reconcile failed, will retry", extra={"error": str(exc)})
            raise
        # Terminal: retrying cannot fix it; the message is dropped, loudly.
        logger.error("reconcile refused", extra={"error": str(exc), "kind": type(exc).__name__})
        done.add(request.cluster_arn)
        return
    metrics.add_metric(
        "ReconcileDuration", MetricUnit.Milliseconds, (time.monotonic() - started) * 1000
    )
    metrics.add_metric("PlannedChanges", MetricUnit.Count, len(outcome.plan))
    metrics.add_metric("AppliedChanges", MetricUnit.Count, len(outcome.applied))
    if outcome.status in ("guarded", "refused"):
        metrics.add_metric("GuardRefusals", MetricUnit.Count, 1)
        logger.warning("guard withheld changes", extra=outcome.to_dict())
    elif outcome.status == "partial":
        # A big first create outlasts one invocation: what was made stays and
        # is published, the next run makes the rest.
        service.continue_later(record.raw_event, request)
        metrics.add_metric("ReconcileContinued", MetricUnit.Count, 1)
        logger.info("time budget spent, the next run carries on", extra=outcome.to_dict())
    elif outcome.status == "blocked":
        # Typically consumers still connected to a removed broker's service.
        metrics.add_metric("BlockedChanges", MetricUnit.Count, len(outcome.blocked))
        logger.warning("removals blocked, a later run retries", extra=outcome.to_dict())
    else:
        logger.info("reconciled", extra=outcome.to_dict())
    done.add(request.cluster_arn)
    _advertised(outcome, int(record.attributes.approximate_receive_count or 1))


def _advertised(outcome: ReconcileOutcome, receive_count: int) -> None:
    advertised = outcome.advertised
    if advertised is None:
        return
    if advertised.status is AdvertisedStatus.FAILED:
        # Terminal: the brokers keep their previous listeners until a person
        # fixes the cause; retrying the same request cannot help.
        metrics.add_metric("AdvertisedListenersFailed", MetricUnit.Count, 1)
        logger.error(
            "advertised listeners failed",
            extra={"mode": advertised.mode, "error": advertised.detail},
        )
    elif advertised.pending:
        metrics.add_metric("AdvertisedListenersPending", MetricUnit.Count, 1)
        logger.info(
            "advertised listeners pending",
            extra={"mode": advertised.mode, "status": advertised.status.value},
        )
        if receive_count <= PENDING_RETRY_RECEIVES:
            # Fails the record (not the networking, which is done) so that
            # retry_soon brings it back after RETRY_DELAY_SECONDS.
            raise AdvertisedListenersPendingError(
                f"{outcome.cluster_arn}: advertised listeners {advertised.status.value}: "
                f"{advertised.detail}"
            )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    done: set[str] = set()
    budget = TimeBudget.of(context)
    try:
        response = process_partial_response(
            event=event,
            record_handler=lambda record: _record_handler(record, done, budget),
            processor=processor,
            context=context,
        )
    except Exception:
        retry_soon(event.get("Records", []))
        raise
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    retry_soon([r for r in event.get("Records", []) if r.get("messageId") in failed])
    return response


def retry_soon(records: list[dict[str, Any]]) -> None:
    """Bring failed records back after a short delay, not the queue's long timeout."""
    if records:
        _service(ReconcilerSettings.from_env()).retry_soon(records)
