#!/usr/bin/env bash
# checkov, pinned in requirements/checkov.txt, on the SAM template.
#
#   scripts/checkov.sh [TEMPLATE [CHECKOV OPTION...]]
#
# Without arguments it scans every stack's template in turn (template.yaml,
# the provider stack, and consumer/template.yaml, the consumer stack) and
# exits with the worst status of the runs. Without further options the report
# lists failed checks only (--quiet); options given replace that and go to
# checkov as they are (e.g. `-o cli -o json --output-file-path console,out`).
#
# checkov lives in its own virtualenv (.venv-checkov): its dependency closure
# conflicts with the main virtualenv's pins. The virtualenv is (re)built only
# when requirements/checkov.txt changes (stamp keyed by its hash, as the
# Makefile does for .venv).
#
# One run scans the template twice:
#   - as written, so findings point at template.yaml lines;
#   - as plain CloudFormation after the SAM transform (the aws-sam-translator
#     of the main virtualenv, the one `sam deploy` uses), so the IAM roles,
#     Lambda permissions and event source mappings SAM generates are checked
#     as well.
# Suppressions exist only inline in template.yaml (Metadata.checkov.skip, each
# with a comment). SAM copies a function's Metadata onto the
# AWS::Lambda::Function it generates, so one skip covers both scans.
#
# checkov runs with .checkov.yaml as its only configuration: a HOME of its own
# (no ~/.checkov.yaml) and no inherited environment (no API key, no CKV_*
# overrides such as CKV_SKIP_CHECK). It runs offline: skip-download in the
# configuration, and no look-up of newer checkov releases on PyPI.
#
# Exit status: 0 no finding, 1 findings, 2 setup error (main virtualenv
# missing, transform failed), 3 checkov could not be installed.
set -euo pipefail

if (($# == 0)); then
  ROOT="$(cd "$(dirname "$0")/.." && pwd)"
  worst=0
  for stack_template in template.yaml consumer/template.yaml; do
    echo "checkov.sh: $stack_template" >&2
    status=0
    "$ROOT/scripts/checkov.sh" "$ROOT/$stack_template" || status=$?
    ((status > worst)) && worst=$status
  done
  exit "$worst"
fi

TEMPLATE=template.yaml
if (($# > 0)); then
  # Relative to the caller's directory; kept relative to the repository root
  # when inside it, so reports name it the way the repository does.
  TEMPLATE="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  shift
fi
cd "$(dirname "$0")/.."
TEMPLATE=${TEMPLATE#"$PWD/"}
PYTHON=${PYTHON:-python3}
VENV=.venv-checkov
REQUIREMENTS=requirements/checkov.txt
CONFIG=.checkov.yaml
MAIN_PYTHON=.venv/bin/python
OUT=.aws-sam/checkov
STAMP="$VENV/.installed-$(sha256sum "$REQUIREMENTS" | cut -c1-12)"

mkdir -p "$VENV" "$OUT"
# Keep the virtualenv out of git and of ruff (which honours .gitignore), as
# `python -m venv` itself does from Python 3.13 on.
[[ -f $VENV/.gitignore ]] || echo '*' >"$VENV/.gitignore"
# One run at a time: both write the virtualenv and the transformed template.
if command -v flock >/dev/null; then
  exec 9>"$VENV/.lock"
  flock 9
fi

install() {
  if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV" || return
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" ||
    return
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
}

if [[ ! -f $STAMP ]]; then
  echo "checkov.sh: installing $REQUIREMENTS into $VENV" >&2
  if ! install; then
    echo "checkov.sh: could not install checkov into $VENV" >&2
    exit 3
  fi
fi

if [[ ! -x $MAIN_PYTHON ]]; then
  echo "checkov.sh: $MAIN_PYTHON not found (aws-sam-translator): run 'make venv' first" >&2
  exit 2
fi

# Named after the template's path (consumer/template.yaml ->
# consumer-template.transformed.json): stacks never overwrite each other's.
TRANSFORMED="$OUT/$(tr / - <<<"${TEMPLATE%.*}").transformed.json"
# The transform needs a Region but no credentials and no network. Local
# CodeUri/ContentUri paths become placeholder S3 locations, as in
# `sam validate`: the code (and a state machine's definition file) is not
# what checkov scans.
if ! AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} \
  "$MAIN_PYTHON" - "$TEMPLATE" "$TRANSFORMED" <<'PY'; then
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

CODE_LOCATIONS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class NoManagedPolicyNames:
    """Policies here are ARNs or statements, never bare managed policy names."""

    def load(self) -> dict[str, str]:
        return {}


source, target = sys.argv[1:]
with open(source, encoding="utf-8") as handle:
    template = json.loads(json.dumps(yaml_parse(handle.read())))
for name, resource in template.get("Resources", {}).items():
    key = CODE_LOCATIONS.get(resource.get("Type", ""))
    properties = resource.get("Properties", {})
    if key and isinstance(properties.get(key), str):
        properties[key] = f"s3://placeholder-bucket/{name}.zip"
with open(target, "w", encoding="utf-8") as handle:
    json.dump(transform(template, {}, NoManagedPolicyNames()), handle, indent=1)
PY
  echo "checkov.sh: the SAM transform of $TEMPLATE failed" >&2
  exit 2
fi

if (($# == 0)); then
  set -- --quiet
fi
HOME_DIR=$(mktemp -d)
trap 'rm -rf "$HOME_DIR"' EXIT
# checkov exits 1 on any failed check that is not skipped inline.
env -i PATH="$PATH" HOME="$HOME_DIR" LANG=C.UTF-8 CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
  "$VENV/bin/checkov" --config-file "$CONFIG" --file "$TEMPLATE" --file "$TRANSFORMED" "$@"
