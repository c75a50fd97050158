# espnet-tagspeech: everything the project needs is installed from here.
#   make demo   - install, then run the mini_meeting recipe end to end (prints RESULTS)
#   make test   - install, then run the test suite (CI runs this)
#   make test-fast - the unit tests only (no recipe / trainer runs: tests marked slow)
#   make peers  - ESPnet SA-EEND and SOT ASR on the mini data, one table with ours (after make demo)
# Idempotent: a second run skips what is already installed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP_VERSION := 26.2.1
SYSTEM_PACKAGES := espeak-ng sox sctk
PYTEST_ARGS ?=

.PHONY: all install install-system demo peers test test-fast bench clean-venv

all: install

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-run pip only when the requirements or setup.py change.
$(STAMP): requirements.txt requirements-test.txt requirements-nodeps.txt setup.py | $(PY)
	$(PY) -m pip install -q "pip==$(PIP_VERSION)"
	$(PY) -m pip install --no-cache-dir -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install --no-cache-dir --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP) install-system

install-system:
	@bash tools/install_system.sh $(SYSTEM_PACKAGES)

demo: install
	cd egs2/mini_meeting/tagspeech1 && ./run.sh

# not part of CI: trains two ESPnet models for 19 min each on the mini recipe's data
peers: install
	cd egs2/mini_meeting/peers1 && ./run.sh

test: install
	$(PY) -m pytest test -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest test -q -m "not slow" $(PYTEST_ARGS)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
