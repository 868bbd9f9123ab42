# Every target installs what it needs from uv.lock, so a fresh machine needs only make and Python.
# uv itself comes from PyPI at the version pinned here, into .tools/ (never into the project venv).
PYTHON     ?= python3
UV_VERSION := 0.13.10
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
# No interpreter is ever downloaded: uv uses $(PYTHON), as pip did.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compiled at install, and our own sources before each run: with PYTHONDONTWRITEBYTECODE
# set (as on this project's machines and in the image), nothing else ever writes a .pyc, and a
# process that compiles its ~600 modules from source takes 4 MB more RSS and ~1 s more to start.
export UV_COMPILE_BYTECODE := 1
COMPILE    = $(BIN)/python -m compileall -q service
SYNC       := $(UV) sync --frozen --python $(PYTHON) --quiet
RUN_STAMP  := $(VENV)/.run-installed
# bench and soak run the measured servers on the runtime dependencies only, as deployed
# (bench/procs.py: service_python)
RUNTIME_VENV  := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
ALL_STAMP  := $(VENV)/.all-installed

.PHONY: run check-config test test-soak test-fast test-container docs-screenshots lint fmt lock app-bundle bench soak clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# run: the runtime dependencies only (no test or lint group); --inexact keeps what `make test`
# installed, so switching between the two targets reinstalls nothing.
$(RUN_STAMP): uv.lock pyproject.toml | $(UV)
	$(SYNC) --no-dev --inexact
	touch $@

$(RUNTIME_STAMP): uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(RUNTIME_VENV) $(SYNC) --no-dev
	touch $@

# test and lint: exactly the lock, every group.
$(ALL_STAMP): uv.lock pyproject.toml | $(UV)
	$(SYNC) --all-groups
	touch $@ $(RUN_STAMP)

## run: the service; with no DATABRICKS_HOST, also the local workspace emulator and demo jobs
##      (make run ARGS="--config config/my.toml" passes options to `jobs-sidecar dev`)
run: $(RUN_STAMP)
	@$(COMPILE)
	$(BIN)/python -m service dev $(ARGS)

## check-config: the settings `run` would use (secrets masked), their warnings, or the error
check-config: $(RUN_STAMP)
	$(BIN)/jobs-sidecar check-config

## test: the whole suite (unit, emulator fidelity, end to end over loopback, and the container
##       tests when a Docker engine answers or can be started, the browser tests when chromium is
##       there or can be installed, the Redis tests when redis-server is; without them those tests
##       skip, saying why)
test: $(ALL_STAMP)
	@bash .ci/docker-up --if-possible
	@bash .ci/browser-up --if-possible
	@bash .ci/redis-up --if-possible
	@$(COMPILE)
	$(BIN)/python -m pytest

## test-soak: the soak for two minutes alone (tests/soak: load and faults across replicas and
##            Redis; also part of `make test`)
test-soak: $(ALL_STAMP)
	@bash .ci/redis-up
	@$(COMPILE)
	$(BIN)/python -m pytest -m soak tests/soak

## test-fast: everything but the e2e, scale, browser and container tests (under a minute): the
##            loop while changing code (tests/README.md: which marker to run for which change)
test-fast: $(ALL_STAMP)
	$(BIN)/python -m pytest -m "not e2e and not scale and not browser and not container and not soak"

## test-container: the container tests alone: build the image and run it for real (starts dockerd
##                 and builds the stand-in base image when needed; fails rather than skips)
test-container: $(ALL_STAMP)
	bash .ci/docker-up
	$(BIN)/python -m pytest -m container tests/container

## docs-screenshots: the dashboard's screenshots in docs/, taken anew by its browser tests
docs-screenshots: $(ALL_STAMP)
	@bash .ci/browser-up --if-possible
	DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_runs_view.py \
		tests/browser/test_run_view.py tests/browser/test_small_screens.py

## lint: ruff, mypy (strict) and hadolint on the Dockerfiles
lint: $(ALL_STAMP)
	$(BIN)/ruff check service tests bench examples deploy
	$(BIN)/ruff format --check service tests bench examples deploy
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile docker/redis/Dockerfile

fmt: $(ALL_STAMP)
	$(BIN)/ruff check --fix service tests bench examples deploy
	$(BIN)/ruff format service tests bench examples deploy

## lock: resolve pyproject.toml anew into uv.lock (newest versions allowed), and export the
##       runtime requirements the image and the Databricks App install; commit all three together
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) export --frozen --no-dev --no-emit-project --quiet --output-file deploy/databricks-app/requirements.txt

## app-bundle: stage the Databricks App's source in deploy/databricks-app/build (the bundle's
##             source_code_path; docs/databricks-apps.md); CONFIG=<file> stages other job settings
CONFIG ?= config/jobs.toml
app-bundle:
	$(PYTHON) deploy/databricks-app/stage.py deploy/databricks-app/build --config $(CONFIG)

## bench: the stream and throughput benchmarks (prints JSON; see bench/README.md)
bench: $(ALL_STAMP) $(RUNTIME_STAMP)
	@$(COMPILE)
	SERVICE_PYTHON=$(RUNTIME_VENV)/bin/python $(BIN)/python -m bench.run

## soak: load and faults for 30 minutes across three replicas and Redis, then one JSON verdict
##       (make soak ARGS="--minutes 10"; bench/README.md)
soak: $(ALL_STAMP) $(RUNTIME_STAMP)
	@$(COMPILE)
	SERVICE_PYTHON=$(RUNTIME_VENV)/bin/python $(BIN)/python -m bench.soak $(ARGS)

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
