# The dispute assistant. `make help` lists the targets.
# Two commands matter: `make run` and `make test`; both set up what is missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
STACK := $(TOOLS)/bin/python scripts/stack.py
RASA_VENV := .venv/.synced
BACKEND_VENV := backend/.venv/.synced
WEBCHAT := backend/src/storefront/static/vendor/rasa-webchat.js
export UV_NO_PROGRESS := 1

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]+:.*## / {printf "  \033[1m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- setup: every step is skipped when its inputs have not changed -------------

$(UV):
	@command -v python3 >/dev/null || { echo "error: python3 is needed to install uv"; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(RASA_VENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$$(scripts/find-python 3.10)"
	touch $@

$(BACKEND_VENV): backend/pyproject.toml backend/uv.lock | $(UV)
	$(UV) sync --frozen --project backend --python "$$(scripts/find-python 3.11)"
	touch $@

# The chat widget's bundle, pinned by package-lock.json and served locally (no CDN).
$(WEBCHAT): backend/src/storefront/package.json backend/src/storefront/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm (Node.js) is needed for the chat widget: apt-get install nodejs npm"; exit 1; }
	npm ci --prefix backend/src/storefront --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(@D)
	# The bundle @imports a web font from a CDN; drop it so the page works offline.
	sed 's#@import url(https://fonts.googleapis.com/[^)]*);##g' \
		backend/src/storefront/node_modules/rasa-webchat/lib/index.js > $@.tmp
	! grep -q 'fonts.googleapis' $@.tmp
	mv $@.tmp $@

setup: $(RASA_VENV) $(BACKEND_VENV) $(WEBCHAT) ## install environments, widget and secrets (idempotent)
	@$(STACK) ensure-env

# --- run -----------------------------------------------------------------------

run: setup ## start everything (backend, actions, Rasa, web page); Ctrl-C stops it
	$(STACK) run

run-cluster: setup ## the same, as replicas behind HAProxy on PostgreSQL and Redis (docs/scaling.md)
	scripts/ensure-haproxy
	$(STACK) run-cluster

train: setup ## train the Rasa model now
	$(STACK) train

model: setup ## train the model only if data/, domain.yml or config.yml changed
	$(STACK) train --if-needed

seed: setup ## reset the backend database to the demo data
	$(STACK) exec backend/.venv/bin/python -m dispute_backend migrate
	$(STACK) exec backend/.venv/bin/python -m dispute_backend seed --reset

# --- quality -------------------------------------------------------------------

lint: setup ## ruff lint and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	backend/.venv/bin/ruff check backend tests/backend tests/console
	backend/.venv/bin/ruff format --check backend tests/backend tests/console

format: setup ## apply ruff's formatting and safe fixes
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
	backend/.venv/bin/ruff check --fix backend tests/backend tests/console
	backend/.venv/bin/ruff format backend tests/backend tests/console

typecheck: setup ## mypy: actions/ and extensions/, backend/ (strict)
	.venv/bin/mypy
	(cd backend && .venv/bin/mypy)

test-actions: setup ## unit tests of the actions and NLU extensions
	.venv/bin/pytest -q tests/actions

test-contract: setup ## the same cases against the actions' fake backend and the real one (SQLite)
	.venv/bin/pytest -q tests/contract

test-backend: setup ## backend tests on SQLite and PostgreSQL
	backend/.venv/bin/pytest -q tests/backend

test-console: setup ## operator console tests: the real backend (SQLite), a Rasa stub
	backend/.venv/bin/pytest -q tests/console

validate: setup ## rasa data validate (fails on any warning)
	scripts/validate-data

test-stories: setup model ## conversation test stories (tests/stories), no prediction error allowed
	$(STACK) exec .venv/bin/rasa test core --stories tests/stories --model models/dispute-assistant.tar.gz \
		--fail-on-prediction-errors --out var/results/stories

test-e2e: setup model ## the whole stack over HTTP and in headless Chromium
	scripts/ensure-chromium
	backend/.venv/bin/pytest -q tests/e2e

test-conversations: setup model ## the unscripted buyer conversations (tests/conversations) against the whole stack
	backend/.venv/bin/pytest -q tests/conversations

test-security: setup model ## attacks on the whole stack: impersonation, replays, floods, SSRF, limits, logs
	backend/.venv/bin/pytest -q tests/security

test-cluster: setup model ## the cluster: ordering, socket.io across servers, faults, compose file (~5 min)
	scripts/ensure-haproxy
	scripts/ensure-chromium
	.venv/bin/pytest -q tests/extensions
	backend/.venv/bin/pytest -q tests/cluster
	scripts/check-compose

test: lint typecheck validate test-actions test-contract test-backend test-console test-stories test-e2e test-conversations test-security test-cluster ## everything CI runs

# Not part of `make test`: about 5 minutes on two idle cores (docs/testing.md).
MUTATION := var/mutation
mutation: setup ## mutation score of actions/ and of the backend's rules and services (>= 80% killed each)
	mkdir -p $(MUTATION)/backend/tests
	ln -sfn "$(CURDIR)/backend/src" $(MUTATION)/backend/src
	ln -sfn "$(CURDIR)/tests/backend" $(MUTATION)/backend/tests/backend
	ln -sfn "$(CURDIR)/backend/pyproject.toml" $(MUTATION)/backend/pyproject.toml
	rm -rf mutants $(MUTATION)/backend/mutants  # a fresh run: no verdict kept from older code
	start=$$SECONDS
	TOKENIZERS_PARALLELISM=false .venv/bin/mutmut run --max-children 2 > $(MUTATION)/actions.log 2>&1 \
		|| { tail -n 40 $(MUTATION)/actions.log; exit 1; }
	.venv/bin/mutmut results --all true > $(MUTATION)/actions.results
	echo "actions: $$(( (SECONDS - start) / 60 )) min $$(( (SECONDS - start) % 60 )) s"
	start=$$SECONDS
	(cd $(MUTATION)/backend && BACKEND_TEST_DATABASES=sqlite "$(CURDIR)/backend/.venv/bin/mutmut" run \
		--max-children 2 > ../backend.log 2>&1) || { tail -n 40 $(MUTATION)/backend.log; exit 1; }
	(cd $(MUTATION)/backend && "$(CURDIR)/backend/.venv/bin/mutmut" results --all true) \
		> $(MUTATION)/backend.results
	echo "backend: $$(( (SECONDS - start) / 60 )) min $$(( (SECONDS - start) % 60 )) s"
	$(TOOLS)/bin/python scripts/mutation_score.py 80 \
		actions=$(MUTATION)/actions.results backend=$(MUTATION)/backend.results

bench-backend: setup ## backend p50/p95 and req/s, 1 and 16 clients, SQLite and PostgreSQL (about 2.5 minutes)
	backend/.venv/bin/python -m dispute_backend bench

eval-nlu: setup ## NLU 5-fold cross-validation: per-label F1, macro-F1 (about ten minutes)
	$(STACK) exec .venv/bin/rasa test nlu --nlu data/nlu --cross-validation --folds 5 \
		--out var/results/nlu
	$(STACK) exec .venv/bin/python scripts/nlu_report.py var/results/nlu

eval-ood: setup model ## held-out requests from other domains: share read as a dispute intent (max 3 %)
	$(STACK) exec .venv/bin/python scripts/ood_probe.py

bench-bot: setup model ## short and long conversations at N = 1, 10, 50 and a turn's cost at message 60, vs a bare rasa init bot
	backend/.venv/bin/python scripts/bench_bot.py

clean: ## remove environments, models and run-time data (keeps .env)
	rm -rf .venv backend/.venv $(TOOLS) models var backend/src/storefront/node_modules $(WEBCHAT)

.PHONY: help setup run train model seed lint format typecheck test-actions test-contract test-backend \
	test-console validate test-stories test-e2e test-conversations test-security test mutation \
	bench-backend bench-bot eval-nlu eval-ood clean
