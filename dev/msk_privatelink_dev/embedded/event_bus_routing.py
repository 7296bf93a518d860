"""PutEvents on an event bus in another account or Region.

EventBridge's PutEvents takes a bus ARN (EventBridge API Reference,
"PutEventsRequestEntry": "The name or ARN of the event bus to receive the
event"), and a bus in another account takes the events its resource policy
admits (EventBridge User Guide, "Permissions for event buses"). moto 5.2.5
keeps only the name of the ARN and looks for the bus in the caller's own
account, so a provider function putting an event on a consumer's bus would
reach nothing. This wraps moto's PutEvents so an entry naming another
account's or Region's bus is matched against that bus's rules, stamped with
the caller's account (as EventBridge does), and refused when the bus policy
does not admit the caller: the whole call fails with AccessDeniedException,
the error IAM gives a request no policy allows. What AWS does with a call
mixing admitted and refused buses is not documented; the delivery code
isolates each bus either way.

moto is imported inside the function: the module must import without moto.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from typing import Any

_LOCK = threading.Lock()
_INSTALLED: set[str] = set()


def _admits(policy: str | None, account_id: str) -> bool:
    if not policy:
        return False
    for statement in json.loads(policy).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        action = statement.get("Action")
        actions = action if isinstance(action, list) else [action]
        if not {"events:PutEvents", "events:*"} & set(actions):
            continue
        principal = statement.get("Principal")
        values = principal.get("AWS") if isinstance(principal, dict) else principal
        names = values if isinstance(values, list) else [values]
        if any(n in (account_id, f"arn:aws:iam::{account_id}:root") for n in names):
            return True
    return False


def install() -> None:
    """Wrap moto's PutEvents once per process (idempotent)."""
    with _LOCK:
        if _INSTALLED:
            return
        from moto.core.exceptions import JsonRESTError
        from moto.core.utils import unix_time
        from moto.events.models import EventsBackend, events_backends
        from moto.events.utils import _BASE_EVENT_MESSAGE
        from moto.moto_api._internal import mock_random as random
        from moto.utilities.arns import parse_arn

        original = EventsBackend.put_events

        def foreign(backend: Any, name: Any) -> Any:
            if not isinstance(name, str) or not name.startswith("arn:"):
                return None
            arn = parse_arn(name)
            if (arn.account, arn.region) == (backend.account_id, backend.region_name):
                return None
            return arn

        @functools.wraps(original)
        def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if not any(foreign(self, e.get("EventBusName")) for e in events):
                return original(self, events)
            for event in events:
                arn = foreign(self, event.get("EventBusName"))
                if arn is None:
                    continue
                target = events_backends[arn.account][arn.region]
                bus = target.event_buses.get(arn.resource_id)
                if bus is None or not _admits(bus.policy, self.account_id):
                    raise JsonRESTError(
                        "AccessDeniedException",
                        f"User: arn:aws:sts::{self.account_id}:assumed-role is not authorized "
                        f"to perform: events:PutEvents on resource: {event['EventBusName']} "
                        "because no resource-based policy allows the events:PutEvents action",
                    )
            entries: list[dict[str, Any]] = []
            for event in events:
                arn = foreign(self, event.get("EventBusName"))
                if arn is None:
                    entries += original(self, [event])
                    continue
                bus = events_backends[arn.account][arn.region].event_buses[arn.resource_id]
                event_id = str(random.uuid4())
                for rule in list(bus.rules.values()):
                    message = copy.deepcopy(_BASE_EVENT_MESSAGE)
                    message.update(
                        {
                            "id": event_id,
                            "detail-type": event["DetailType"],
                            "source": event["Source"],
                            "account": self.account_id,
                            "time": unix_time(),
                            "region": arn.region,
                            "resources": event.get("Resources", []),
                            "detail": json.loads(event["Detail"]),
                            "ingestion-time": unix_time(),
                        }
                    )
                    rule.send_to_targets(message)
                entries.append({"EventId": event_id})
            return entries

        EventsBackend.put_events = put_events  # type: ignore[method-assign]
        _INSTALLED.add("put_events")
