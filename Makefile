# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
comma := ,
# What running needs: .[project], and the SDK of the storage UPLOADS_STORAGE names (s3, azure,
# gcs), so that `UPLOADS_STORAGE=s3 ... make run` works as the provider pages say. More with
# `make install EXTRAS=project,s3,emulators`. The suite's emulators, browser driver and
# linters come with `make test` (.[dev]), which is several times larger.
STORAGE_EXTRA := $(filter s3 azure gcs,$(UPLOADS_STORAGE))
EXTRAS ?= project$(if $(STORAGE_EXTRA),$(comma)$(STORAGE_EXTRA))
RUN_STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install azurite run worker test bench bench-multipart clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# .[dev] holds every extra: after `make test` there is nothing more to install.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@if [ $(DEV_STAMP) -nt pyproject.toml ]; then :; else \
		echo "$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'"; \
		$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'; fi
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

# `make bench`: the suite's packages and .[bench] (django-s3direct, measured beside presign).
$(BENCH_STAMP): pyproject.toml $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

install: $(RUN_STAMP)

run: export DJANGO_DEBUG ?= 1
run: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_user --base-url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The background worker of the tasks backend the settings name (config/worker.py): for
# `make run TASKS_BACKEND=database`, `manage.py db_worker`; for TASKS_BACKEND=rq (with
# REDIS_URL or TASKS_REDIS_URL), `manage.py rqworker`. Large files are verified in a task; the
# immediate backend runs it inside the request instead, and has no worker.
worker: export DJANGO_DEBUG ?= 1
worker: export TASKS_BACKEND ?= database
worker: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m config.worker

# Azurite, the Azure Blob emulator, for the Azure tests, and the uppy bundle for /demo/uppy/
# and its browser test (skipped where npm is missing).
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the Azure and Uppy tests will be skipped"; fi

# Azurite alone, for `make run` against it (docs/azure.md).
azurite: node_modules/.package-lock.json

test: $(DEV_STAMP) node_modules/.package-lock.json
	@$(BIN)/python -c 'import sys, django; print(f"Python {sys.version.split()[0]}, Django {django.__version__}")'
	$(BIN)/python -m pytest

# Issue 19's figures on PostgreSQL + Redis + SeaweedFS and on SQLite + local signer: presign,
# django-s3direct's signing and a bare DRF view with wrk, complete, the whole flow, round trips
# (pg), the tasks run after, and a SIZE file in parts (SIZE=0: none);
# `make bench STACK=sqlite ROUNDS=5 DURATION=10 SIZE=256MiB WORKERS=4 WORKER_CLASS=gthread`.
# wrk comes from Debian's package, installed here when missing (as root). The Python-client
# bench stays: `.venv/bin/python bench/run.py`.
STACK ?= both
ROUNDS ?= 3
DURATION ?= 8
WORKERS ?= 2
WORKER_CLASS ?= sync
GTHREADS ?= 1
SIZE ?= 1GiB
bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } || \
		{ echo "make bench needs wrk: sudo apt-get install wrk" >&2; exit 1; }
	$(BIN)/python bench/wrk_bench.py --stack $(STACK) --rounds $(ROUNDS) --duration $(DURATION) \
		--workers $(WORKERS) --worker-class $(WORKER_CLASS) --gthreads $(GTHREADS) \
		--multipart-size $(SIZE)

# A 1 GiB file in parts through the API (SeaweedFS, local signer) beside boto3 and a copy;
# smaller with `make bench-multipart SIZE=256MiB`.
bench-multipart: $(DEV_STAMP)
	$(BIN)/python bench/multipart.py --size $(SIZE)

clean:
	rm -rf $(VENV) .venv-new var .pytest_cache
