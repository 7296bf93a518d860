"""The reconciler's side of broker-override: invoke the Kafka admin function (RequestResponse).

The reconciler runs outside the cluster's VPC; the Kafka admin function runs
inside it and is the only code that talks to brokers. The payload carries no
secret (the function reads SCRAM credentials itself).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from msk_privatelink.advertised.request import AdvertisedRequest, AdvertisedResponse
from msk_privatelink.aws.errors import translate
from msk_privatelink.kernel.errors import AwsCallError, InvalidEventError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class LambdaBrokerOverride:
    """Calls the Kafka admin function and returns its answer."""

    def __init__(self, lambda_client: LambdaClient, function_name: str) -> None:
        self._lambda = lambda_client
        self._function_name = function_name

    def __call__(self, request: AdvertisedRequest) -> AdvertisedResponse:
        try:
            answer = self._lambda.invoke(
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(request.to_dict()).encode(),
            )
        except ClientError as exc:
            raise translate(exc, f"Invoke {self._function_name}") from exc
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            # An unhandled error in the function (timeout, crash): worth another run.
            try:
                message = str(json.loads(payload).get("errorMessage", ""))
            except (ValueError, AttributeError):
                message = ""
            raise AwsCallError(
                f"Kafka admin function {self._function_name} failed "
                f"({answer['FunctionError']}): {message}"
            )
        try:
            return AdvertisedResponse.from_dict(json.loads(payload))
        except ValueError as exc:
            raise InvalidEventError(
                f"Kafka admin function {self._function_name} answered with non-JSON"
            ) from exc
