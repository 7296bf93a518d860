"""What the template tests share: the real tools, template parsing, IAM
statement walking, an evaluator for intrinsics, and the built layer's checks.

Both templates (template.yaml and consumer/template.yaml) are held to the
same rules, so the helpers take the template (or its path) as an argument.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVIDER_TEMPLATE = REPO / "template.yaml"
CONSUMER_TEMPLATE = REPO / "consumer" / "template.yaml"
BIN = Path(sys.executable).parent
SAM = BIN / "sam"
CFN_LINT = BIN / "cfn-lint"
CHECKOV_SCRIPT = REPO / "scripts" / "checkov.sh"
CHECKOV_UNAVAILABLE = 3  # scripts/checkov.sh: checkov could not be installed
CHECKOV_VERSION = "3.3.30"

OWNER_TAG = "msk-privatelink:managed-by"
OWNER_VALUE = "msk-privatelink"
READ_ONLY_VERBS = ("Describe", "Get", "List")
EM_AARCH64 = 183  # ELF e_machine value of ARM64
# The layer's one compiled dependency, as Lambda's arm64 python3.13 loads it.
MSGSPEC_EXTENSION = "_core.cpython-313-aarch64-linux-gnu.so"
# The network-interface actions Lambda takes with a VPC function's execution
# role (AWSLambdaVPCAccessExecutionRole's ec2 actions): the one set of writes
# allowed on "*" without a tag condition, and only in the VPC function's role.
LAMBDA_VPC_ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
VPC_ENI_STATEMENT = ("KafkaAdminFunctionRole", "ManageVpcNetworkInterfaces")
# The consumer stack's prober functions (connectivity canary) run in VPCs too.
PROBER_ENI_STATEMENT = ("ProberRole", "VpcNetworkInterfaces")


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------
def load_template(path: Path) -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    # JSON round trip: plain dicts/lists/str instead of cfn-lint's node types.
    return dict(json.loads(json.dumps(cfn_yaml.load(str(path)))))


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicyNames:
        def load(self) -> dict[str, str]:
            return {}

    source = json.loads(json.dumps(template))
    for name, resource in source["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-bucket/{name}.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return dict(transform(source, {}, NoManagedPolicyNames()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# ---------------------------------------------------------------------------
# Real tools
# ---------------------------------------------------------------------------
def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The layer Makefile runs `python3 -m pip`: make it this interpreter.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHON", None)
    return env


def tool(path: Path, package: str) -> Path:
    # A missing tool is a broken environment, not a reason to skip.
    if not path.is_file():
        pytest.fail(f"{path.name} not found at {path}: install {package} into this virtualenv")
    return path


def sam_binary() -> Path:
    return tool(SAM, "aws-sam-cli")


def run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def run_checkov(template: Path, report: Path) -> subprocess.CompletedProcess[str]:
    """The pinned checkov (installed on first use) on the template as written
    and as transformed by SAM; the JSON report goes to ``report``."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [
            str(CHECKOV_SCRIPT),
            str(template.relative_to(REPO)),
            "--compact",
            "-o",
            "cli",
            "-o",
            "json",
            "--output-file-path",
            f"console,{report}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # the first run installs checkov
        check=False,
    )


def assert_sam_validate_lint_passes(template: Path, cwd: Path) -> None:
    result = run(
        [str(sam_binary()), "validate", "--lint", "--template-file", str(template)],
        cwd=cwd,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def assert_cfn_lint_passes(template: Path) -> None:
    result = run([str(tool(CFN_LINT, "cfn-lint")), str(template)], cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def run_sam_build(template: Path, work: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`sam build` of the template into work/build, from scratch."""
    return run(
        [
            str(sam_binary()),
            "build",
            "--template-file",
            str(template),
            *options,
            "--build-dir",
            str(work / "build"),
            "--cache-dir",
            str(work / "cache"),
            "--no-cached",
        ],
        cwd=work,
        timeout=900,
    )


def assert_checkov_passes(path: Path, template: dict[str, Any], report_path: Path) -> set[str]:
    """checkov finds nothing on the template at ``path`` (as written and as
    transformed by SAM), every suppression in it is inline, and every inline
    skip still suppresses something. Returns the resources it checked."""
    result = run_checkov(path, report_path)
    output = result.stdout[-20_000:] + result.stderr[-5_000:]
    if result.returncode == CHECKOV_UNAVAILABLE:
        message = f"checkov could not be installed:\n{output}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)

    assert report_path.is_file(), output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    [report] = as_list(report)  # one framework: cloudformation
    assert report["summary"]["checkov_version"] == CHECKOV_VERSION
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0, output
    assert result.returncode == 0, output
    assert report["summary"]["passed"] > 0

    skipped = {
        (c["resource"].split(".", 1)[1], c["check_id"]): c["check_result"].get("suppress_comment")
        for c in report["results"]["skipped_checks"]
        if c["file_path"] == f"/{path.relative_to(REPO)}"
    }
    declared = {(name, skip["id"]): skip["comment"] for name, skip in inline_skips(template)}
    assert skipped == declared
    return {c["resource"] for c in report["results"]["passed_checks"]}


def inline_skips(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        checkov = (resource.get("Metadata") or {}).get("checkov") or {}
        for skip in checkov.get("skip", []):
            yield name, skip


# ---------------------------------------------------------------------------
# The built layer
# ---------------------------------------------------------------------------
def assert_arm64_msgspec_without_pydantic(layer: Path) -> None:
    """The layer validates with msgspec, whose compiled extension must be the
    aarch64 build for CPython 3.13; pydantic no longer ships."""
    assert (layer / "msgspec").is_dir()
    assert not (layer / "pydantic").exists()
    [extension] = list((layer / "msgspec").glob("_core*.so"))
    assert extension.name == MSGSPEC_EXTENSION
    header = extension.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == EM_AARCH64


def assert_runtime_package_only(layer: Path) -> None:
    """The layer holds the runtime package exactly as the source tree has it,
    and nothing of the development package: no module that imports moto or
    msk_privatelink_dev (either would fail to import in Lambda)."""
    source = REPO / "layers" / "core" / "msk_privatelink"
    shipped = {
        p.relative_to(layer / "msk_privatelink") for p in (layer / "msk_privatelink").rglob("*.py")
    }
    assert shipped == {p.relative_to(source) for p in source.rglob("*.py")}
    assert not list(layer.rglob("msk_privatelink_dev"))
    assert not (layer / "moto").exists()
    forbidden = re.compile(r"^\s*(import|from) (moto|msk_privatelink_dev)\b", re.MULTILINE)
    importing = [
        str(path.relative_to(layer))
        for path in (layer / "msk_privatelink").rglob("*.py")
        if forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert importing == [], "these modules would fail to import in Lambda"


# ---------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    owner: str
    sid: str
    body: dict[str, Any]

    @property
    def actions(self) -> list[str]:
        return [str(a) for a in as_list(self.body.get("Action", []))]

    @property
    def resources(self) -> list[Any]:
        return as_list(self.body.get("Resource", []))

    @property
    def condition_keys(self) -> set[str]:
        return {key for block in self.body.get("Condition", {}).values() for key in block}


def iam_statements(template: dict[str, Any]) -> list[Statement]:
    """Every identity-policy statement the template itself writes."""
    found = []
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if resource["Type"] == "AWS::Serverless::Function":
            documents += [p for p in props.get("Policies", []) if isinstance(p, dict)]
        elif resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            if "Statement" not in document:
                continue  # a SAM policy template (e.g. SQSSendMessagePolicy)
            for index, statement in enumerate(as_list(document["Statement"])):
                found.append(Statement(name, statement.get("Sid", str(index)), statement))
    return found


def star_statements_explained(template: dict[str, Any], path: Path) -> tuple[set[str], set[str]]:
    """The Sids of the template's statements granted on "*", and the Sids
    with a comment right above them in its source at ``path``."""
    star = {s.sid for s in iam_statements(template) if "*" in s.resources}
    lines = path.read_text(encoding="utf-8").splitlines()
    explained = {
        match.group(1)
        for index, line in enumerate(lines)
        if (match := re.match(r"^\s*- Sid: (\w+)\s*$", line))
        and lines[index - 1].lstrip().startswith("#")
    }
    return star, explained


def is_mutating(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return not verb.startswith(READ_ONLY_VERBS)


def is_lambda_vpc_eni_grant(owner: str, sid: str | None, actions: list[str]) -> bool:
    """The VPC function's ENI statement: exactly those actions, in that role."""
    return (owner, sid) in (VPC_ENI_STATEMENT, PROBER_ENI_STATEMENT) and set(
        actions
    ) == LAMBDA_VPC_ENI_ACTIONS


def iam_action_catalogue() -> dict[str, Any]:
    """cfn-lint's copy of the IAM service authorization reference."""
    from cfnlint.data import AdditionalSpecs
    from cfnlint.helpers import load_resource

    return dict(load_resource(AdditionalSpecs, "Policies.json"))


def resource_types(catalogue: dict[str, Any], action: str) -> list[str] | None:
    """Resource types an action can be scoped to ([] = only "*"); None if unknown."""
    service, name = action.lower().split(":", 1)
    actions = catalogue.get(service, {}).get("Actions", {})
    if name not in actions:
        return None
    return list(actions[name].get("Resources", []))


# ---------------------------------------------------------------------------
# Principals
# ---------------------------------------------------------------------------
def principals(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Principal", "NotPrincipal", "AllowedPrincipals"):
                yield value
            yield from principals(value)
    elif isinstance(node, list):
        for item in node:
            yield from principals(item)


def grants_everyone(principal: Any) -> bool:
    if isinstance(principal, dict):
        return any("*" in as_list(value) for value in principal.values())
    return "*" in as_list(principal)


# ---------------------------------------------------------------------------
# A small evaluator for the intrinsics the parameter document uses, so the
# rendered JSON can be checked for every shape of input.
# ---------------------------------------------------------------------------
PSEUDO = {
    "AWS::StackName": "msk-privatelink",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}
SUB_VAR = re.compile(r"\$\{([A-Za-z0-9:._]+)\}")


@dataclass(frozen=True)
class Renderer:
    template: dict[str, Any]
    overrides: dict[str, str]

    def parameter(self, name: str) -> Any:
        spec = self.template["Parameters"][name]
        raw = self.overrides.get(name, str(spec.get("Default", "")))
        return raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.template["Conditions"][name]))

    def eval(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.eval(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {key: self.eval(value) for key, value in node.items()}
        [(fn, arg)] = node.items()
        if fn == "Ref":
            return PSEUDO[arg] if arg in PSEUDO else self.parameter(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.eval(arg[1]))

            def substitute(match: re.Match[str]) -> str:
                key = match.group(1)
                if key in names:
                    return str(names[key])
                value = self.eval({"Ref": key})
                assert isinstance(value, str), f"${{{key}}} is not a string"
                return value

            return SUB_VAR.sub(substitute, text)
        if fn == "Fn::Join":
            return str(self.eval(arg[0])).join(self.eval(arg[1]))
        if fn == "Fn::Split":
            return str(self.eval(arg[1])).split(self.eval(arg[0]))
        if fn == "Fn::Select":
            return self.eval(arg[1])[int(self.eval(arg[0]))]
        if fn == "Fn::If":
            return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return self.eval(arg[0]) == self.eval(arg[1])
        if fn == "Fn::Not":
            return not self.eval(arg[0])
        return {fn: self.eval(arg)}
