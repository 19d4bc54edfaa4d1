# Two entry points, each of which sets up the local virtual environment first:
#   make demo   run the whole workflow on the embedded Helsinki default, then write results/report.html
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CORES ?= 8

.PHONY: demo test report lint clean

# Installing the lock file first, then the project without dependencies, keeps
# every version pinned: nothing can pull in another torch build.
$(INSTALLED): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --require-virtualenv -r requirements/lock.txt
	$(BIN)/python -m pip install --require-virtualenv --no-deps -e .
	touch $@

demo: $(INSTALLED)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

report: $(INSTALLED)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake
