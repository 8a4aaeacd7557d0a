# edgecam — see README.md. Every target works on a fresh Debian / Raspberry Pi OS machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared
APT_PACKAGES := mosquitto libsystemd-dev pkg-config rsync openssl

DEPLOY_STAMP := $(VENV)/.installed-deploy
# the development checkout finds the seed models in ../shared (the installed package never looks there)
export EDGECAM_MODEL_DIR ?= $(abspath $(SHARED)/models)

.PHONY: install install-deploy system-deps test test-fast run bench soak pi-check clean screenshots

## install: .venv with edgecam (editable) and the test extras — no torch; idempotent
install: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@$(BIN)/pip install --quiet -e '.[systemd]' \
	  || echo "note: systemd-python did not build (needs libsystemd-dev, pkg-config); edgecam falls back to writing \$$NOTIFY_SOCKET itself"
	@touch $@

## install-deploy: the workstation conversion tools (torch, onnx, pnnx, matplotlib) on top of install
install-deploy: $(DEPLOY_STAMP)

$(DEPLOY_STAMP): $(STAMP) deploy/requirements.txt
	$(BIN)/pip install --quiet -r deploy/requirements.txt
	@touch $@

## system-deps: Debian packages (mosquitto for tests and `make run`), installed only where apt is allowed
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "note: please install:$$missing"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "note: not root and no passwordless sudo; please run: sudo apt-get install$$missing"; exit 0; fi; \
	echo "installing Debian packages:$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing

## test: the full test suite (real ncnn, real models, real mosquitto, real torch/pnnx)
# OMP_WAIT_POLICY=PASSIVE: ncnn's OpenMP workers sleep instead of spinning, so the daemons the tests
# start never starve each other on a small machine (speed is measured by `make bench`, not here).
# EDGECAM_REQUIRE_DEPLOY=1: a missing torch/pnnx fails the run instead of skipping the deploy tests.
test: $(STAMP) $(DEPLOY_STAMP)
	EDGECAM_REQUIRE_DEPLOY=1 OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q

## test-fast: the edit-test loop — every test not marked slow (no daemons, subprocesses, browser, conversions)
test-fast: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q -m "not slow"

## run: local broker + the daemon on the sample images (looping like a camera) until Ctrl-C, printing what
## arrives over MQTT; FRAMES=N stops after N frames
FRAMES ?=
run: $(STAMP)
	$(BIN)/python -m deploy.dev.demo --images $(SHARED)/images$(if $(FRAMES), --frames $(FRAMES))

## screenshots: the README's pictures of the live view, from the headless-browser test (commit them)
screenshots: $(STAMP)
	EDGECAM_WRITE_SCREENSHOTS=1 OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q tests/web/test_web_screenshots.py

## bench: benchmark numbers (raw inference per model/size/threads, decode, pipeline ratio, service exposure)
bench: $(STAMP)
	$(BIN)/python -m deploy.dev.report --out build/bench
	@echo "live view cost (pipeline fps without / with a viewer of the MJPEG stream):"
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python tests/web/bench_live_view.py --size 320 --threads 1

## soak: 20,000 frames at size 320 through the full daemon with a real broker (not part of `make test`)
soak: $(STAMP)
	$(BIN)/python -m deploy.dev.soak --frames 20000 --size 320 --json build/bench/soak.json

## pi-check: install + detector/YUV/tracking/config tests on Debian bookworm arm64 under qemu (slow; see README)
# PI_CHECK_ARGS="--suite trixie --cpu cortex-a76": Pi OS trixie (Python 3.13) on a Pi 5's core
PI_CHECK_ARGS ?=
pi-check:
	deploy/dev/pi-check.sh --shared $(SHARED) $(PI_CHECK_ARGS)

clean:
	rm -rf build .pytest_cache

-include deploy/deploy.mk
-include systemd/service.mk
