# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Caches stay inside the repo, never in ~.
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export HF_HOME := $(CURDIR)/.cache/huggingface
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.cache/torch_extensions
export XDG_CACHE_HOME := $(CURDIR)/.cache
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := False
# Stage commands (`python ...` in dvc.yaml) must find the venv first.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.PHONY: install demo test ui constraints clean

install: $(STAMP)

# torch goes first from the CPU wheel (a plain `torch` would pull GBs of CUDA); the rest is resolved
# against constraints.txt, which pins torch so nothing can replace it.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: install
	$(BIN)/dvc repro

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

ui: install
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri $(MLFLOW_TRACKING_URI)

constraints: install
	{ echo "torch==2.13.0"; $(BIN)/python -m pip freeze --exclude-editable | grep -v -E '^(torch|lingshu)=='; } > constraints.txt

clean:
	rm -rf $(VENV) .cache
