"""A stack as its SAM template declares it, resolved for one local deployment.

The demo and the tests wire the real handlers from here: each function's
environment, the event patterns of its rules, the roles and policies its calls
are authorised by, and the queues the stack creates all come from
``template.yaml`` / ``consumer/template.yaml`` after the SAM transform
(samtranslator, as ``sam deploy`` runs it), so a renamed variable, a changed
pattern or a narrowed policy changes what runs locally too.

Resources the template names (an event bus ``Name``, a log group
``LogGroupName``, ...) keep the template's name; those CloudFormation would name
itself get ``<stack>-<LogicalId>`` unless the caller binds another name.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msk_privatelink_dev.local.lambdas import REPO_ROOT

PROVIDER_TEMPLATE = REPO_ROOT / "template.yaml"
CONSUMER_TEMPLATE = REPO_ROOT / "consumer" / "template.yaml"
_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9:._]+)\}")
# The property holding a resource's name, where the template may set one.
_NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SSM::Parameter": "Name",
}


class UnresolvableError(Exception):
    """The template uses something this local resolver cannot give a value."""


@functools.cache
def transformed(template: Path) -> dict[str, Any]:
    """``template`` as CloudFormation receives it after the SAM transform."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        # SAM looks up AWS managed policy names only for policy shorthands;
        # the templates give full ARNs.
        def load(self) -> dict[str, str]:
            return {}

    source = json.loads(json.dumps(_raw_template(template)))
    for name, resource in source["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://local-artifacts/{name}.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # the transform needs a partition
    try:
        return dict(transform(source, {}, NoManagedPolicies()))
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


@dataclass(frozen=True)
class Stack:
    """One deployment of a template: stack name, account, Region, parameters,
    and the names of resources bound by the caller."""

    template: Path
    name: str
    account: str
    region: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def with_parameters(self, **parameters: str) -> Stack:
        """This stack updated with other parameter values."""
        return dataclasses.replace(self, parameters={**self.parameters, **parameters})

    @property
    def document(self) -> dict[str, Any]:
        return transformed(self.template)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.document["Resources"]
        return resources

    def exists(self, logical_id: str) -> bool:
        resource = self.resources.get(logical_id)
        return resource is not None and (
            "Condition" not in resource or self.condition(resource["Condition"])
        )

    # -- names and attributes --------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        if logical_id in self.names:
            return self.names[logical_id]
        resource = self.resources[logical_id]
        key = _NAME_PROPERTY.get(resource["Type"])
        given = resource.get("Properties", {}).get(key) if key else None
        if given is not None:
            return str(self.resolve(given))
        fifo = resource["Type"] == "AWS::SQS::Queue" and self._fifo(logical_id)
        return f"{self.name}-{logical_id}" + (".fifo" if fifo else "")

    def _fifo(self, logical_id: str) -> bool:
        return bool(self.resolve(self.resources[logical_id]["Properties"].get("FifoQueue", False)))

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.document.get("Parameters", {}):
            return self.parameter(name)
        if name not in self.resources:
            raise UnresolvableError(f"Ref {name}: no such parameter or resource")
        kind = self.resources[name]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.get_att(name, "QueueUrl")
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"):
            return self.get_att(name, "Arn")
        if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            # A layer version's Ref is its ARN; the stack publishes version 1.
            layer = self.physical_name(name)
            return f"arn:aws:lambda:{self.region}:{self.account}:layer:{layer}:1"
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        region, account = self.region, self.account
        arns = {
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            # CloudFormation's LogGroup Arn ends in ":*" (AWS::Logs::LogGroup return values).
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::StepFunctions::StateMachine": (
                f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            ),
            "AWS::SSM::Parameter": f"arn:aws:ssm:{region}:{account}:parameter{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute in ("Name", "QueueName"):
            return name
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute} ({kind})")

    # -- parameters and conditions ---------------------------------------------------
    def parameter(self, name: str) -> Any:
        spec = self.document["Parameters"][name]
        raw = self.parameters.get(name, str(spec.get("Default", "")))
        if spec["Type"] == "CommaDelimitedList" or spec["Type"].startswith("List<"):
            return raw.split(",")
        return raw

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.document["Conditions"][name]))

    # -- intrinsic functions -----------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic function evaluated; ``AWS::NoValue``
        entries dropped from objects and lists."""
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(fn, arg)] = node.items()
            if fn == "Ref" or fn.startswith("Fn::") or fn == "Condition":
                return self._intrinsic(fn, arg)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _intrinsic(self, fn: str, arg: Any) -> Any:
        if fn == "Ref":
            return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical_id, attribute)
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return _SUB_VAR.sub(lambda m: self._sub_value(m.group(1), names), text)
        if fn == "Fn::Join":
            return str(self.resolve(arg[0])).join(str(v) for v in self.resolve(arg[1]))
        if fn == "Fn::Split":
            return str(self.resolve(arg[1])).split(self.resolve(arg[0]))
        if fn == "Fn::Select":
            return self.resolve(arg[1])[int(self.resolve(arg[0]))]
        if fn == "Fn::If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return self.resolve(arg[0]) == self.resolve(arg[1])
        if fn == "Fn::Not":
            return not self.resolve(arg[0])
        if fn == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        raise UnresolvableError(f"{fn} is not supported locally")

    def _sub_value(self, key: str, names: Mapping[str, Any]) -> str:
        if key in names:
            return str(names[key])
        if "." in key and not key.startswith("AWS::"):
            logical_id, attribute = key.split(".", 1)
            return self.get_att(logical_id, attribute)
        value = self.ref(key)
        if not isinstance(value, str):
            raise UnresolvableError(f"${{{key}}} is not a string")
        return value

    # -- what the handlers are wired with ------------------------------------------------
    def function_id(self, code_dir: str) -> str:
        """The logical id of the function whose code is ``functions/<code_dir>``
        (SAM keeps a function's logical id)."""
        for logical_id, resource in _raw_template(self.template)["Resources"].items():
            code = resource.get("Properties", {}).get("CodeUri")
            function = resource["Type"] == "AWS::Serverless::Function"
            if function and isinstance(code, str) and Path(code).name == code_dir:
                return str(logical_id)
        raise KeyError(f"no function with code functions/{code_dir} in {self.template.name}")

    def environment(self, code_dir: str) -> dict[str, str]:
        """The environment Lambda gives the function of ``functions/<code_dir>``:
        the template's variables plus the runtime's ``AWS_REGION``.

        Not ``AWS_DEFAULT_REGION``: handlers here run in one process, some on
        other threads (the Step Functions engine's), and a consumer's Region
        set process-wide for one handler would move another's default clients."""
        props = self.resources[self.function_id(code_dir)]["Properties"]
        variables = self.resolve(props.get("Environment", {}).get("Variables", {}))
        return {**{key: str(value) for key, value in variables.items()}, "AWS_REGION": self.region}

    def role_id(self, code_dir: str) -> str:
        role = self.resources[self.function_id(code_dir)]["Properties"]["Role"]
        logical_id: str = role["Fn::GetAtt"][0]
        return logical_id

    def event_patterns(self) -> dict[str, dict[str, Any]]:
        """Every rule's event pattern, by the rule's logical id."""
        return {
            logical_id: self.resolve(resource["Properties"]["EventPattern"])
            for logical_id, resource in self.resources.items()
            if resource["Type"] == "AWS::Events::Rule"
            and "EventPattern" in resource["Properties"]
            and self.exists(logical_id)
        }

    def queue_attributes(self, logical_id: str) -> dict[str, str]:
        """The SQS attributes the template's queue properties set (CreateQueue's names)."""
        props = self.resolve(self.resources[logical_id].get("Properties", {}))
        attributes: dict[str, str] = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if key == "RedrivePolicy":
                attributes[key] = json.dumps(value)
            elif isinstance(value, bool):
                attributes[key] = "true" if value else "false"
            else:
                attributes[key] = str(value)
        return attributes

    def create_table(self, dynamodb: Any, logical_id: str) -> str:
        """The template's DynamoDB table (keys and billing mode), created in the
        embedded AWS; returns its name."""
        props = self.resolve(self.resources[logical_id]["Properties"])
        name = self.physical_name(logical_id)
        dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
        )
        return name

    def create_queue(self, sqs: Any, logical_id: str) -> str:
        """The template's queue, created in the embedded AWS; returns its URL."""
        url: str = sqs.create_queue(
            QueueName=self.physical_name(logical_id),
            Attributes=self.queue_attributes(logical_id),
        )["QueueUrl"]
        expected = self.ref(logical_id)
        if url != expected:
            raise UnresolvableError(f"{logical_id}: created at {url}, expected {expected}")
        return url


@functools.cache
def _raw_template(template: Path) -> dict[str, Any]:
    """The template as written (cfn-lint's loader: the short-form tags)."""
    from cfnlint.decode import cfn_yaml

    # JSON round trip: plain dicts and lists instead of the loader's node types.
    return dict(json.loads(json.dumps(cfn_yaml.load(str(template)))))


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()
