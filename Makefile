# Two entry points (see README): `make demo` and `make test`.
# Both create a local virtualenv in .venv.  torch==2.13.0 is installed *before*
# the package: on the project's machines that pin resolves to a local CPU wheel,
# whereas an unpinned torch would pull several GB of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/classicnets demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
