# The first two targets are the whole setup: `make run` and `make test` build the virtual
# environment themselves on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench dist base-image clean

run: $(VENV)/.runtime
	$(BIN)/cloudbrain demo

test: $(VENV)/.dev lint
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy cannot follow the package-dir mapping, so it reads a tree of links shaped like
	@# the installed package (folders linked, so new files need no refresh).
	@rm -rf $(VENV)/typecheck && mkdir -p $(VENV)/typecheck/cloudbrain
	@ln -s $(CURDIR)/cloudbrain/* $(VENV)/typecheck/cloudbrain/
	@for sub in server agent directory maildir familio; do ln -s $(CURDIR)/$$sub $(VENV)/typecheck/cloudbrain/$$sub; done
	MYPYPATH=$(VENV)/typecheck $(BIN)/mypy -p cloudbrain -p tests -p bench

bench: $(VENV)/.runtime
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.recall
	$(BIN)/python -m bench.ask
	$(BIN)/python -m bench.maildir
	$(BIN)/python -m bench.familio
	$(BIN)/python -m bench.cluster

# The wheel and the sdist, in dist/: what another machine installs without a clone.
dist: $(VENV)/.dev
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

# The base of the container images, from Debian's packages (as root: debootstrap chroots).
base-image:
	docker/base-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info build dist
