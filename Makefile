# Every task a person runs. `make demo` and `make test` set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.txt pyproject.toml | sha256sum | cut -c1-12)
SAM := $(BIN)/sam
# Where `make build` puts the consumer stack (consumer/template.yaml).
CONSUMER_BUILD := .aws-sam/consumer
PYTEST_ARGS ?=

.PHONY: venv node-tools demo test test-fast test-kafka kafka-fetch lint security-lint format build bench reliability deploy deploy-consumer local-aws clean

$(STAMP): requirements/dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# asl-validator (npm, pinned in package-lock.json) for the state machine definitions.
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | sha256sum | cut -c1-12)

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

node-tools: $(NODE_STAMP)

## The whole story on the embedded AWS: no account needed.
demo: venv
	$(BIN)/msk-privatelink demo

## Every test: unit, embedded AWS, crash sweeps, faults, real Kafka brokers, templates.
test: venv node-tools
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

## Apache Kafka jars from Maven Central (needs a JDK and Maven), cached in .cache/kafka.
kafka-fetch:
	scripts/kafka/fetch.sh

## Facts proved on real Kafka brokers (ZooKeeper mode and KRaft mode).
test-kafka: venv kafka-fetch
	$(BIN)/python -m pytest -m kafka $(PYTEST_ARGS)

## Everything except the slow template build, crash sweeps and Kafka brokers.
test-fast: venv node-tools
	$(BIN)/python -m pytest -n 2 -m "not template and not crash and not kafka" $(PYTEST_ARGS)

## cfn-lint and checkov (pinned, own virtualenv .venv-checkov): any unexplained finding fails.
security-lint: venv
	$(BIN)/cfn-lint template.yaml consumer/template.yaml
	scripts/checkov.sh

lint: venv node-tools security-lint
	npm run --silent validate-asl
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: venv
	$(SAM) validate --lint
	$(SAM) build
	$(SAM) validate --lint -t consumer/template.yaml
	$(SAM) build -t consumer/template.yaml --build-dir $(CONSUMER_BUILD)

## API calls, wall time and memory per scenario and broker count; cold imports.
bench: venv
	$(BIN)/python -m bench --docs docs/performance.md

## Crash, fault, replay, throttling and fuzz suites; writes docs/reliability.md from their figures.
reliability: venv
	$(BIN)/python -m pytest -n 2 -m "crash or faults" --junitxml=.cache/reliability.xml -q
	$(BIN)/python scripts/reliability_report.py .cache/reliability.xml docs/reliability.md

deploy: build
	$(SAM) deploy --guided

## The consumer stack, in a consumer account (the one recipe; see docs/consumer.md).
deploy-consumer: build
	$(SAM) deploy -t $(CONSUMER_BUILD)/template.yaml --config-file $(CURDIR)/consumer/samconfig.toml --guided

## The embedded AWS as an HTTP endpoint for other processes (AWS_ENDPOINT_URL).
local-aws: venv
	$(BIN)/msk-privatelink local-aws --port 4566

clean:
	rm -rf node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
