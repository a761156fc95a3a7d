# picr — every command sets itself up: a .venv on Python 3.13 (else python3), the locked dev requirements
# (installed with hash checking), and the verified u2netp weights in models/. A second run only re-checks
# stamps. `make lock` is the one way the locks change.
SHELL := /bin/bash
PY313 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
BASE_PYTHON := $(if $(PY313),$(PY313),python3)
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements-dev.txt
STAMP := $(VENV)/.installed
WEIGHTS := models/u2netp.onnx
# The cutout model the local commands run and `make calibrate` fits (its weights: models/$(MODEL).onnx).
MODEL ?= u2netp
export U2NET_HOME := $(CURDIR)/models
export AWS_DEFAULT_REGION ?= eu-west-2
export SAM_CLI_TELEMETRY := 0
IN ?=
OUT ?= out

.PHONY: setup venv browser faketime demo test test-shifted process invoke env build bench load lint lock clean corpus \
	evaluate-corpus calibrate profile simulated-owner owner-bounds

setup: $(STAMP) $(WEIGHTS) browser

venv: $(STAMP)

# Debian packages the tests use, installed once: $(1) the commands to look for, $(2) the packages.
define apt_need
	@command -v $(1) >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(2) >/dev/null; }
endef

# Headless Chromium + ChromeDriver for the upload and review page tests.
browser:
	$(call apt_need,chromium chromedriver,chromium chromium-driver)

# Only what the lock names, only files whose sha256 it lists: --require-hashes refuses anything else
# (a file that differs from the one locked, a dependency the lock does not pin). pip itself is in the lock.
$(STAMP): $(LOCK)
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	touch $@

# The locks, from the human-edited *.in files: the newest releases published before today (UTC), so a
# second run on the same day writes the same files. requirements-dev.txt is resolved for every platform;
# the deployed locks are constrained by it (the tests run exactly what ships) and resolved for where they
# run: the layer and drive-sync for arm64 Lambda, the cutout image (its function and the stage that fetches
# its weights) for arm64 and its x86_64 fallback.
# A bump is one deliberate commit of the changed locks, which the suite then judges.
LOCK_DATE ?= $(shell date -u +%F)
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --upgrade --generate-hashes --python-version 3.13 \
	--exclude-newer $(LOCK_DATE) --custom-compile-command "make lock"
lock: $(STAMP)
	$(UV_COMPILE) --universal requirements-dev.in -o $(LOCK)
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_28 -c $(LOCK) layers/pillow/requirements.in \
		-o layers/pillow/requirements.txt
	$(UV_COMPILE) --universal -c $(LOCK) functions/cutout/requirements.in -o functions/cutout/requirements.txt
	$(UV_COMPILE) --universal -c $(LOCK) functions/cutout/requirements-build.in \
		-o functions/cutout/requirements-build.txt
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_28 -c $(LOCK) functions/drive_sync/requirements.in \
		-o functions/drive_sync/requirements.txt

# Weights tools/fetch_model.py has a source for (u2netp; u2net when a command asks for MODEL=u2net), verified by
# sha256; any other model's file must already be in models/.
models/%.onnx: tools/fetch_model.py | $(STAMP)
	$(PY) tools/fetch_model.py models --model $*

demo: setup profile
	$(PY) -m tools.demo --out demo-out

process: setup profile
	@test -n "$(IN)" || { echo 'usage: make process IN="photos or folders" OUT=dir'; exit 2; }
	$(PY) -m tools.process --model $(MODEL) --out $(OUT) $(IN)

# One sample event through one function's handler on the embedded moto stack (no Docker): prints its return
# value and what it changed in the bucket and the jobs table.
invoke: $(STAMP) $(WEIGHTS) profile
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo 'usage: make invoke FN=IngestFunction EVENT=events/ingest.json'; exit 2; }
	@$(PY) -m tools.invoke $(FN) $(EVENT)

# For `sam local invoke` against a deployed stack: its functions' environment (--env-vars) and the sample
# events naming its bucket, under .aws-sam/local/ (or ENV_OUT), from the stack's outputs (AWS credentials needed).
env: venv
	@test -n "$(STACK)" || { echo 'usage: make env STACK=picr [REGION=eu-west-1]'; exit 2; }
	@$(PY) -m tools.local_env --stack $(STACK) $(if $(REGION),--region $(REGION)) $(if $(ENV_OUT),--out $(ENV_OUT))

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q

# The same suite with the process clock a year ahead and a year back (libfaketime, for every process the
# tests start, moto and Chromium included): no test may depend on today's date.
# -m: libfaketime's thread-safe variant, as its README advises for threaded programs: the suite's are (moto's
# server, the Function URL servers, onnxruntime), and the plain variant re-reads its offset every 10 s into
# shared buffers with no lock. That re-read calls getenv from any thread, so the suite never changes the C
# environment while threads run (tools/embedded_stack.py: interpreter_environment).
SHIFTS ?= +400d -400d
test-shifted: setup faketime
	@for shift in $(SHIFTS); do \
	  echo "== the suite with the clock moved $$shift"; \
	  faketime -m -f "$$shift" $(PY) -m pytest -n 2 -q -p no:cacheprovider || exit 1; \
	done

faketime:
	$(call apt_need,faketime,faketime)

build: setup
	$(PY) -m tools.build

bench: setup profile
	$(PY) -m tools.bench

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf .aws-sam demo-out .pytest_cache

# LOAD_ARGS passes tools/load.py's options, e.g. "--faults 0 --crash-rate 0 --redeliver 0" for the clean run
# whose service times tools/burst_sim.py replays.
load: setup profile
	$(PY) -m tools.load --photos $(or $(PHOTOS),40) $(LOAD_ARGS)

# The calibration corpus (git-ignored corpus/): pinned Debian packages, sha256-checked, into
# ~/.cache/picr-corpus (or $$PICR_CORPUS_CACHE), then 375 generated photos with exact masks; a few minutes.
# CORPUS_ARGS="--ids plain-000,empty-001" or "--limit 2" builds a subset.
CORPUS_ARGS ?=
corpus: setup
	$(PY) -m tools.corpus.build --out corpus $(CORPUS_ARGS)

# The fix page's acceptance: a scripted owner taps and brushes every good photo the gate holds or cuts below
# IoU 0.95 (the shared photos, and the corpus's publish classes when corpus/ is built); a table per photo.
# OWNER_ARGS="--no-corpus" or "--ids 07_drum_kit_thin_stands_white_paper" for a subset.
OWNER_ARGS ?=
simulated-owner: setup
	$(PY) -m tools.simulated_owner --json simulated-owner.json $(OWNER_ARGS)

# The ceilings of that acceptance, with the truth: a tap that found the true object's box, and any number of
# perfect strokes that leave only the outline's rim (docs/simulated-owner.md, "What the model's edges allow").
# OWNER_ARGS as above; BOUNDS_ARGS="--other-weights FILE" measures another model's look the same way.
BOUNDS_ARGS ?=
owner-bounds: setup
	$(PY) -m tools.owner_bounds --json owner-bounds.json $(OWNER_ARGS) $(BOUNDS_ARGS)

# The cutout stage on every corpus photo (cached per photo, model and code), scored by the shared scorer;
# report on the evaluation part: corpus-eval/report.json and a table by class.
evaluate-corpus: setup
	test -f corpus/manifest.json || $(MAKE) corpus
	$(PY) -m tools.corpus.evaluate --corpus corpus --out

# The gate's limits for one model, fitted on the corpus's fit part and reported on its evaluation part
# (tools/calibrate.py): writes layers/pillow/picr/segmentation/profiles/$(MODEL).json (commit it) and
# corpus-eval/calibration-$(MODEL).json / .png. Needs models/$(MODEL).onnx. CALIBRATE_ARGS="--no-eval"
# fits without looking at the evaluation part.
CALIBRATE_ARGS ?=
calibrate: setup models/$(MODEL).onnx
	test -f corpus/manifest.json || $(MAKE) corpus
	$(PY) -m tools.calibrate --model $(MODEL) $(CALIBRATE_ARGS)

# A cutout model without a gate profile measured on its weights is refused, here as at cold start.
profile: $(STAMP) models/$(MODEL).onnx
	@PYTHONPATH=layers/pillow $(PY) -m picr.segmentation.gate_profile $(MODEL) models/$(MODEL).onnx
