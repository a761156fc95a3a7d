# picr — every command sets itself up: a .venv on Python 3.13 (else python3), the dev requirements,
# and the verified u2netp weights in models/. A second run only re-checks stamps.
SHELL := /bin/bash
PY313 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
BASE_PYTHON := $(if $(PY313),$(PY313),python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := models/u2netp.onnx
export U2NET_HOME := $(CURDIR)/models
export AWS_DEFAULT_REGION ?= eu-west-2
export SAM_CLI_TELEMETRY := 0
IN ?=
OUT ?= out

.PHONY: setup browser demo test process build bench load lint clean

setup: $(STAMP) $(MODEL) browser

# Headless Chromium + ChromeDriver (Debian packages) for the upload and review page tests.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

$(STAMP): requirements-dev.txt
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(MODEL): tools/fetch_model.py | $(STAMP)
	$(PY) tools/fetch_model.py models

demo: setup
	$(PY) -m tools.demo --out demo-out

process: setup
	@test -n "$(IN)" || { echo 'usage: make process IN="photos or folders" OUT=dir'; exit 2; }
	$(PY) -m tools.process --out $(OUT) $(IN)

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q

build: setup
	$(PY) -m tools.build

bench: setup
	$(PY) -m tools.bench

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf .aws-sam demo-out .pytest_cache

load: setup
	$(PY) -m tools.load --photos $(or $(PHOTOS),40)
