"""AWS errors as the project sees them: throttling is retried, a reached quota
is terminal and names the quota, anything else is retried at the run level."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import ClientError

from msk_privatelink.aws.errors import QUOTA_CODES, THROTTLING_CODES, translate
from msk_privatelink.kernel.errors import AwsCallError, QuotaExceededError, ThrottledError


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


def model_error_codes(*services: str) -> set[str]:
    session = botocore.session.get_session()
    codes = set()
    for service in services:
        model = session.get_service_model(service)
        for name in model.shape_names:
            shape = model.shape_for(name)
            if shape.metadata.get("exception") or shape.metadata.get("error"):
                codes.add(shape.metadata.get("error", {}).get("code", name))
    return codes


def test_every_quota_code_is_an_error_the_services_define() -> None:
    assert set(QUOTA_CODES) <= model_error_codes("elbv2", "route53", "events")


@pytest.mark.parametrize("code", sorted(QUOTA_CODES))
def test_a_quota_error_is_terminal_and_names_its_quota(code: str) -> None:
    translated = translate(error(code), "CreateThing x")

    assert isinstance(translated, QuotaExceededError)
    assert not translated.retryable
    assert QUOTA_CODES[code] in str(translated)
    assert "Service Quotas" in str(translated)


def test_throttling_is_retried_and_other_errors_too() -> None:
    assert isinstance(translate(error(sorted(THROTTLING_CODES)[0]), "x"), ThrottledError)
    other = translate(error("InternalFailure"), "x")
    assert isinstance(other, AwsCallError)
    assert other.retryable
