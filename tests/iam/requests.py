"""What IAM authorises for one AWS API call: the action, every resource the
call names (as ARNs in the action's documented formats) and the request
context, plus the actions IAM authorises on the side (tag-on-create,
iam:PassRole, vpce:AllowMultiRegion, Route 53's VPC check)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.iam import catalogue
from tests.iam.policy import Context, Request

# Operations IAM authorises under another action's name: SQS batch calls use
# the single call's permission (SQS Developer Guide, "Amazon SQS API
# permissions: Actions and resource reference"); Lambda's Invoke is
# lambda:InvokeFunction (Service Authorization Reference, AWS Lambda).
ACTION_OF_OPERATION = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction",
}
# botocore signing names that differ from the IAM service prefix.
PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}
# Where a variable of an ARN format is found in a call's parameters, and how
# the parameter's value becomes the variable's. EC2 names resources by id in
# ``Resources`` (CreateTags, DeleteTags): the id's prefix tells the type.
PARAMETERS_OF_VARIABLE: dict[str, tuple[tuple[str, ...], Callable[[str], str]]] = {
    "ParameterNameWithoutLeadingSlash": (("Name", "Names", "Path"), lambda v: v.lstrip("/")),
    "QueueName": (("QueueName", "QueueUrl"), lambda v: v.rstrip("/").rsplit("/", 1)[-1]),
    "TableName": (("TableName", "RequestItems"), str),
    "Id": (("HostedZoneId", "Id", "ResourceId", "ResourceIds"), lambda v: v.rsplit("/", 1)[-1]),
    "VpcEndpointServiceId": (("ServiceId", "ServiceIds", "Resources"), str),
    "VpcEndpointId": (("VpcEndpointId", "VpcEndpointIds", "Resources"), str),
    "SubnetId": (("SubnetId", "SubnetIds", "Resources"), str),
    "SecurityGroupId": (("SecurityGroupIds", "GroupId", "GroupIds", "Resources"), str),
    "VpcId": (("VpcId", "VPCId", "Resources"), str),
    "EventBusName": (("EventBusName", "Name"), lambda v: v.rsplit("/", 1)[-1]),
    "RuleName": (("Rule", "Name"), str),
    "FunctionName": (("FunctionName",), lambda v: v.rsplit(":", 1)[-1]),
    "ConfigurationName": (("Name",), str),
    "LoadBalancerName": (("Name",), str),
    "TargetGroupName": (("Name",), str),
    # GetSecretValue takes a name or an ARN; the catalogue's format wants the name part.
    "SecretId": (("SecretId",), lambda v: v.split(":secret:", 1)[-1]),
}
EC2_ID_PREFIX = {
    "VpcEndpointServiceId": "vpce-svc-",
    "VpcEndpointId": "vpce-",
    "SubnetId": "subnet-",
    "SecurityGroupId": "sg-",
    "VpcId": "vpc-",
}
UNKNOWN = "{unknown}"  # only a "*" in a policy matches it
TAGGING_ACTIONS = {
    "elasticloadbalancing:AddTags",
    "ec2:CreateTags",
    "ssm:AddTagsToResource",
    "events:TagResource",
    "sqs:TagQueue",
    "dynamodb:TagResource",
    "states:TagResource",
    "lambda:TagResource",
}

TagReader = Callable[[str], Mapping[str, str] | None]


@dataclass(frozen=True)
class Call:
    function: str
    account: str
    region: str
    signing_name: str
    operation: str
    params: Mapping[str, Any]
    # The function's own Region (AWS_REGION): a global service's client says
    # "aws-global", but the role's policies were resolved for the stack's Region.
    function_region: str = ""

    @property
    def prefix(self) -> str:
        return PREFIX_OF_SIGNING_NAME.get(self.signing_name, self.signing_name)

    @property
    def action(self) -> str:
        name = ACTION_OF_OPERATION.get((self.prefix, self.operation), self.operation)
        return f"{self.prefix}:{name}"


class UnknownAction(Exception):
    pass


def requests_for(call: Call, tags: TagReader) -> list[Request]:
    action = catalogue.action(call.action)
    if action is None:
        raise UnknownAction(f"{call.action} is not an IAM action")
    typed = typed_resource_arns(action, call)
    request_tags = _request_tags(call.params)
    requests = [
        Request(action.qualified, arn, _context(call, arn, request_tags, tags)) for arn, _ in typed
    ]
    requests += _implicit(call, action, typed, request_tags, tags)
    return requests


def resource_arns(action: catalogue.Action, call: Call) -> list[str]:
    return [arn for arn, _ in typed_resource_arns(action, call)]


def typed_resource_arns(
    action: catalogue.Action, call: Call
) -> list[tuple[str, catalogue.ResourceType | None]]:
    """Every resource the call involves, with its type ("*" when the action has
    no resource-level permissions or the call names none). A resource the call
    creates has an id nobody knows yet: it stands as UNKNOWN, which only a
    wildcard in a policy matches."""
    strings = list(_strings(call.params))
    found: list[tuple[str, catalogue.ResourceType | None]] = []
    for resource_type in _applicable(action.resource_types, call, strings):
        pattern = resource_type.arn_pattern()
        named = [s for s in strings if pattern.match(s)]
        if not named:
            creates = resource_type.creatable or call.operation.startswith("Create")
            created = creates and _names_something(resource_type, call)
            built = _build(resource_type, call)
            named = [a for a in built if resource_type.required or created or UNKNOWN not in a]
        found += [(a, resource_type) for a in named if a not in {f for f, _ in found}]
    return found or [("*", None)]


def _names_something(resource_type: catalogue.ResourceType, call: Call) -> bool:
    """Whether the call's parameters give any variable of the type's ARN."""
    return any(
        _variable_values(v, call.params)
        for v in resource_type.variables
        if v not in ("Partition", "Region", "Account")
    )


def _applicable(
    types: tuple[catalogue.ResourceType, ...], call: Call, strings: list[str]
) -> list[catalogue.ResourceType]:
    """The resource types this call can involve: an ELB call concerns one kind
    of load balancer (application, network, gateway), given by its ARNs or its
    ``Type``; a Route 53 tagging call names its ``ResourceType``."""
    if call.prefix == "elasticloadbalancing":
        kinds = {"application": "app", "network": "net", "gateway": "gwy"}
        kind = kinds.get(str(call.params.get("Type", "")))
        for text in strings:
            for short in kinds.values():
                if f"/{short}/" in text:
                    kind = short
        if kind is not None:
            others = {k for k in kinds.values() if k != kind}
            return [t for t in types if not any(f"/{o}" in t.name for o in others)]
    if call.prefix == "route53" and "ResourceType" in call.params:
        return [t for t in types if t.name == call.params["ResourceType"]]
    if call.prefix == "events":
        bus = str(call.params.get("EventBusName", "default")).rsplit("/", 1)[-1]
        other = "rule-on-custom-event-bus" if bus == "default" else "rule-on-default-event-bus"
        return [t for t in types if t.name != other]
    return list(types)


def _build(resource_type: catalogue.ResourceType, call: Call) -> list[str]:
    choices: list[list[str]] = []
    for variable in resource_type.variables:
        if variable == "Partition":
            choices.append(["aws"])
        elif variable == "Region":
            choices.append([call.region])
        elif variable == "Account":
            choices.append([call.account])
        else:
            choices.append(_variable_values(variable, call.params) or [UNKNOWN])
    arns = []
    for values in itertools.product(*choices):
        arn = resource_type.arn_format
        for variable, value in zip(resource_type.variables, values, strict=True):
            arn = arn.replace("${" + variable + "}", value, 1)
        arns.append(arn)
    return arns


def _variable_values(variable: str, params: Mapping[str, Any]) -> list[str]:
    names, convert = PARAMETERS_OF_VARIABLE.get(variable, ((variable,), str))
    for name in names:
        for value in _values_of(params, name):
            if isinstance(value, Mapping):  # RequestItems: the table names are its keys
                values = [str(k) for k in value]
            elif isinstance(value, list):
                values = [v for v in value if isinstance(v, str)]
            else:
                values = [str(value)]
            if name == "Resources":
                values = [v for v in values if _ec2_id_of(variable, v)]
            if values:
                return [convert(v) for v in values]
    return []


def _ec2_id_of(variable: str, value: str) -> bool:
    prefix = EC2_ID_PREFIX.get(variable)
    if prefix is None or not value.startswith(prefix):
        return False
    # "vpce-" also starts every endpoint service id ("vpce-svc-").
    return not (variable == "VpcEndpointId" and value.startswith("vpce-svc-"))


def _values_of(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _values_of(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, key)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _request_tags(params: Mapping[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for raw in (params.get("Tags"), params.get("tags")):
        if isinstance(raw, list):
            tags.update({t["Key"]: t["Value"] for t in raw})
        elif isinstance(raw, Mapping):
            tags.update({str(k): str(v) for k, v in raw.items()})
    for spec in params.get("TagSpecifications", []) or []:
        tags.update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    return tags


def _context(
    call: Call,
    arn: str,
    request_tags: Mapping[str, str],
    tags: TagReader,
    extra: Mapping[str, list[str] | None] | None = None,
) -> Context:
    values: dict[str, list[str] | None] = {
        "aws:TagKeys": sorted(request_tags) or None,
        f"{call.prefix}:CreateAction": None,
        "iam:PassedToService": None,
        **(extra or {}),
    }

    def tag_keys(key: str) -> tuple[bool, list[str] | None]:
        lowered = key.lower()
        if lowered.startswith("aws:requesttag/"):
            value = request_tags.get(key.split("/", 1)[1])
            return True, None if value is None else [value]
        if lowered.startswith("aws:resourcetag/") or lowered.startswith(
            f"{call.prefix}:resourcetag/"
        ):
            held = tags(arn) if arn != "*" else None
            value = (held or {}).get(key.split("/", 1)[1])
            return True, None if value is None else [value]
        return False, None

    def route53(key: str) -> tuple[bool, list[str] | None]:
        if not key.lower().startswith("route53:"):
            return False, None
        return True, _route53_key(key.split(":", 1)[1], call.params)

    return Context(values, [tag_keys, route53])


def _route53_key(name: str, params: Mapping[str, Any]) -> list[str] | None:
    # Service Authorization Reference, Amazon Route 53 condition keys.
    if name == "VPCs":
        vpc = params.get("VPC")
        return [f"VPCId={vpc['VPCId']},VPCRegion={vpc['VPCRegion']}"] if vpc else None
    changes = params.get("ChangeBatch", {}).get("Changes", [])
    if not changes:
        return None
    if name == "ChangeResourceRecordSetsRecordTypes":
        return sorted({c["ResourceRecordSet"]["Type"] for c in changes})
    if name == "ChangeResourceRecordSetsNormalizedRecordNames":
        return sorted({c["ResourceRecordSet"]["Name"].lower().rstrip(".") for c in changes})
    if name == "ChangeResourceRecordSetsActions":
        return sorted({c["Action"] for c in changes})
    return None


def _implicit(
    call: Call,
    action: catalogue.Action,
    typed: list[tuple[str, catalogue.ResourceType | None]],
    request_tags: Mapping[str, str],
    tags: TagReader,
) -> list[Request]:
    out: list[Request] = []
    arns = [arn for arn, _ in typed]
    # Tag-on-create: the tags of a create are authorised as the service's
    # tagging action on the created resource (the type that takes request
    # tags), with the create named in <service>:CreateAction.
    tagging = sorted(TAGGING_ACTIONS & set(action.dependent_actions))
    if request_tags and tagging:
        extra = {f"{call.prefix}:CreateAction": [call.operation]}
        created = [arn for arn, t in typed if t is not None and t.creatable] or arns
        out += [
            Request(tagging[0], arn, _context(call, arn, request_tags, tags, extra))
            for arn in created
        ]
    # A role handed to a service (a rule target's RoleArn, a Lambda function's
    # Role) is authorised as iam:PassRole on that role, for that service.
    roles = list(_values_of(call.params, "RoleArn"))
    if call.prefix == "lambda" and isinstance(call.params.get("Role"), str):
        roles.append(call.params["Role"])
    for role_arn in roles:
        passed = {"iam:PassedToService": [f"{call.signing_name}.amazonaws.com"]}
        context = _context(call, str(role_arn), {}, tags, passed)
        out.append(Request("iam:PassRole", str(role_arn), context))
    out += _lambda_function_setup(call, arns, tags)
    # Cross-Region PrivateLink is authorised as vpce:AllowMultiRegion on the
    # endpoint or service (AWS PrivateLink, "Cross-Region connectivity").
    multi_region = {
        "CreateVpcEndpoint": "ServiceRegion",
        "CreateVpcEndpointServiceConfiguration": "SupportedRegions",
        "ModifyVpcEndpointServiceConfiguration": "AddSupportedRegions",
    }
    if call.prefix == "ec2" and call.params.get(multi_region.get(call.operation, "")):
        out += [
            Request("vpce:AllowMultiRegion", arn, _context(call, arn, {}, tags))
            for arn in arns
            if ":vpc-endpoint" in arn
        ]
    # A private hosted zone's VPC is checked with ec2:DescribeVpcs on the
    # caller's behalf (a dependent action of the Route 53 call).
    describes_vpc = "ec2:DescribeVpcs" in action.dependent_actions
    if call.prefix == "route53" and call.params.get("VPC") and describes_vpc:
        out.append(Request("ec2:DescribeVpcs", "*", _context(call, "*", {}, tags)))
    return out


def _lambda_function_setup(call: Call, arns: list[str], tags: TagReader) -> list[Request]:
    """What Lambda checks with the caller's permissions when a function is
    created or reconfigured (AWS Lambda Developer Guide):
    - tags given at creation: lambda:TagResource on the function ("Using tags
      on Lambda functions", permissions required for working with tags);
    - layers: lambda:GetLayerVersion on each layer version ("Adding layers to
      functions");
    - a VPC configuration: ec2:DescribeSecurityGroups, ec2:DescribeSubnets
      and ec2:DescribeVpcs ("Giving Lambda functions access to resources in
      an Amazon VPC", IAM permissions for users).
    """
    if call.prefix != "lambda" or call.operation not in (
        "CreateFunction",
        "UpdateFunctionConfiguration",
    ):
        return []
    out: list[Request] = []
    functions = [arn for arn in arns if ":function:" in arn]
    if call.operation == "CreateFunction" and call.params.get("Tags"):
        out += [
            Request(
                "lambda:TagResource",
                arn,
                _context(call, arn, _request_tags(call.params), tags),
            )
            for arn in functions
        ]
    for layer in call.params.get("Layers") or []:
        out.append(
            Request("lambda:GetLayerVersion", str(layer), _context(call, str(layer), {}, tags))
        )
    vpc = call.params.get("VpcConfig") or {}
    if vpc.get("SubnetIds") or vpc.get("SecurityGroupIds"):
        for action in ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"):
            out.append(Request(action, "*", _context(call, "*", {}, tags)))
    return out
