"""The single factory for boto3 clients.

Retries are botocore's (standard mode, which backs off on throttling); no
adapter wraps a single call in a loop of its own. Endpoint and credential
resolution is boto3's, so ``AWS_ENDPOINT_URL`` and profiles work unchanged.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from msk_privatelink import __version__

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kafka import KafkaClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra=f"msk-privatelink/{__version__}",
)

# Invoke (RequestResponse) of the Kafka admin function waits for the function:
# the read timeout must outlast its 60 s timeout, or botocore would give up
# and invoke it again while the first call still runs.
# An operator at a terminal: fewer, shorter attempts than a Lambda, which
# has a queue behind it to try again.
CLI_CONFIG = BOTO_CONFIG.merge(
    Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3)
)
INVOKE_CONFIG = BOTO_CONFIG.merge(
    Config(read_timeout=90, retries={"mode": "standard", "max_attempts": 3})
)


class AwsClients:
    """Lazily built, cached clients sharing one session."""

    def __init__(
        self,
        session: boto3.Session | None = None,
        region: str | None = None,
        config: Config | None = None,
    ) -> None:
        """``config``: the Lambdas' retries (``BOTO_CONFIG``, read when a client
        is built) unless given; the CLI passes ``CLI_CONFIG`` so that an
        unreachable endpoint fails in seconds."""
        self._session = session or boto3.Session(region_name=region)
        self._region = region
        self._given_config = config

    @property
    def _config(self) -> Config:
        return self._given_config or BOTO_CONFIG

    @property
    def session(self) -> boto3.Session:
        return self._session

    @property
    def region(self) -> str:
        return self._region or self._session.region_name or "us-east-1"

    @cached_property
    def kafka(self) -> KafkaClient:
        return self._session.client("kafka", region_name=self.region, config=self._config)

    @cached_property
    def ec2(self) -> EC2Client:
        return self._session.client("ec2", region_name=self.region, config=self._config)

    @cached_property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self._session.client("elbv2", region_name=self.region, config=self._config)

    @cached_property
    def ssm(self) -> SSMClient:
        return self._session.client("ssm", region_name=self.region, config=self._config)

    @cached_property
    def events(self) -> EventBridgeClient:
        return self._session.client("events", region_name=self.region, config=self._config)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._session.client("dynamodb", region_name=self.region, config=self._config)

    @cached_property
    def route53(self) -> Route53Client:
        # Route 53 is a global service: its Region is not the cluster's.
        return self._session.client("route53", config=self._config)

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        return self._session.client("secretsmanager", region_name=self.region, config=self._config)

    @cached_property
    def service_quotas(self) -> ServiceQuotasClient:
        return self._session.client("service-quotas", region_name=self.region, config=self._config)

    @cached_property
    def sqs(self) -> SQSClient:
        return self._session.client("sqs", region_name=self.region, config=self._config)

    @cached_property
    def lambda_(self) -> LambdaClient:
        # broker-override: the Kafka admin function runs in the cluster's VPC.
        return self._session.client("lambda", region_name=self.region, config=INVOKE_CONFIG)
