"""One way to build and deploy the consumer stack: the Makefile's, which the
docs and the stack's samconfig name (not three recipes that disagree)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_dry_run(target: str) -> str:
    result = subprocess.run(
        ["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_deploy_consumer_deploys_what_build_built_with_the_stacks_samconfig() -> None:
    commands = make_dry_run("deploy-consumer")
    built = re.search(r"sam build -t consumer/template\.yaml --build-dir (\S+)", commands)
    deployed = re.search(r"sam deploy -t (\S+)/template\.yaml --config-file (\S+)", commands)

    assert built, commands
    assert deployed, commands
    assert deployed.group(1) == built.group(1)
    assert deployed.group(2) == str(REPO / "consumer" / "samconfig.toml")


def test_the_docs_and_the_samconfig_give_that_recipe_and_no_other() -> None:
    for path in ("docs/consumer.md", "consumer/samconfig.toml", "README.md"):
        text = (REPO / path).read_text(encoding="utf-8")
        assert "make deploy-consumer" in text, path
        assert "sam deploy -t" not in text, path
