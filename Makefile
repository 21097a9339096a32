# The two commands of the README are `make run` and `make test`; the rest are helpers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# what `make test-cluster` (and CI) runs against a Redis Cluster: the broker, worker, API
# and Python API suites, the sharded queues, the URL forms
CLUSTER_SUITES := tests/test_broker_*.py tests/test_keys_and_scripts.py tests/test_inspect.py \
	tests/test_services.py tests/test_task_api.py tests/test_sharded_queues.py \
	tests/test_redis_urls.py tests/worker tests/api tests/workflows tests/flow

.DEFAULT_GOAL := help
.PHONY: help run test chromium lint format clean bench bench-api test-cluster test-failover bench-scaling \
	bench-console bench-workflows bench-limits faults faults-full screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "taskqueue needs Python >= 3.12; $(PYTHON) is " + sys.version.split()[0] + " (set PYTHON=python3.12 or newer)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: $(BIN)/python requirements.txt requirements-embedded.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-embedded.txt
	@touch $@

$(VENV)/.dev-deps: $(VENV)/.run-deps requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.run-deps ## set up and run the whole product: console + API + worker (+ Redis unless REDIS_URL is set)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runall

test: $(VENV)/.dev-deps chromium ## set up and run the whole test suite
	$(BIN)/python -m pytest

# The console's browser tests drive Debian's chromium (never a downloaded browser): install
# it when we can (root with apt-get), else stop at once with the command to run.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium', then make test."; \
	    exit 1; \
	  fi; }

test-cluster: $(VENV)/.dev-deps ## the broker, worker and API suites on a real 3-master Redis Cluster
	TASKQUEUE_TEST_REDIS=cluster $(BIN)/python -m pytest -m "not slow" $(CLUSTER_SUITES)

test-failover: $(VENV)/.dev-deps ## kill a Cluster master and a Sentinel master under load; print what it cost
	$(BIN)/python -m pytest -s tests/worker/test_failover.py

faults: $(VENV)/.dev-deps ## the fault-injection suite at the CI size (tests/faults; also part of `make test`)
	$(BIN)/python -m pytest tests/faults

faults-full: $(VENV)/.dev-deps ## the fault-injection suite at the issue's sizes; prints each scenario's FIGURES
	FAULTS_SIZE=full $(BIN)/python -m pytest -s -m faults --timeout 1800 tests/faults

screenshots: $(VENV)/.dev-deps ## regenerate docs/screenshots/*.png (the README's) from the browser test
	TASKQUEUE_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/console/test_browser.py -k screenshot
	TASKQUEUE_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/console/test_charts_browser.py \
	  tests/console/test_health_browser.py -k "chart or warning"

lint: $(VENV)/.dev-deps ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-deps ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the virtualenv and var/ (the embedded Redis data and the SQLite database)
	rm -rf $(VENV) var

bench: $(VENV)/.run-deps ## worker benchmark: taskqueue's rows from the shared peer harness (bench/README.md)
	$(BIN)/python bench/run_peers.py

bench-api: $(VENV)/.dev-deps ## API enqueue benchmark (docs/api.md)
	$(BIN)/python bench/api_bench.py

bench-scaling: $(VENV)/.dev-deps ## drain rate with 1, 2, 4 workers on one Redis and on a cluster (docs/scaling.md)
	$(BIN)/python bench/scaling.py

bench-console: $(VENV)/.dev-deps ## the console under load: 10 live sessions while 5,000 tasks/s flow (docs/console.md)
	$(BIN)/python bench/console_load.py

bench-workflows: $(VENV)/.dev-deps ## a 10,000-member chord and a 1,000-step chain vs independent tasks and Celery (docs/PERFORMANCE.md)
	$(BIN)/python bench/workflow_bench.py

bench-limits: $(VENV)/.dev-deps ## rate-limit accuracy (200/s, 60 s, 4 workers) and fair share behind a 100,000-task tenant (docs/PERFORMANCE.md#flow-control)
	$(BIN)/python bench/limits_bench.py; $(BIN)/python bench/fairness_bench.py
