# Every target creates the virtualenv and installs what it needs, so a fresh machine needs only make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run check-config test test-container lint fmt bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

## run: the service; with no DATABRICKS_HOST, also the local workspace emulator and demo jobs
run: $(STAMP)
	$(BIN)/python -m service dev

## check-config: the settings `run` would use (secrets masked), their warnings, or the error
check-config: $(STAMP)
	$(BIN)/jobs-sidecar check-config

## test: the whole suite (unit, emulator fidelity, end to end over loopback, and the container
##       tests when a Docker engine answers or can be started, the browser tests when chromium is
##       there or can be installed, the Redis tests when redis-server is; without them those tests
##       skip, saying why)
test: $(STAMP)
	@bash .ci/docker-up --if-possible
	@bash .ci/browser-up --if-possible
	@bash .ci/redis-up --if-possible
	$(BIN)/python -m pytest

## test-container: the container tests alone: build the image and run it for real (starts dockerd
##                 and builds the stand-in base image when needed; fails rather than skips)
test-container: $(STAMP)
	bash .ci/docker-up
	$(BIN)/python -m pytest -m container tests/container

## lint: ruff, mypy (strict) and hadolint on the Dockerfiles
lint: $(STAMP)
	$(BIN)/ruff check service tests bench examples
	$(BIN)/ruff format --check service tests bench examples
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile docker/redis/Dockerfile

fmt: $(STAMP)
	$(BIN)/ruff check --fix service tests bench examples
	$(BIN)/ruff format service tests bench examples

## bench: the stream and throughput benchmarks (prints JSON; see README)
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
