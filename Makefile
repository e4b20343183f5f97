# Two commands for everyone: `make lab` (set up and open the course) and `make test` (set up and run
# the whole suite). Everything is installed into .venv in this folder, pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install lab test lint unit notebooks bench release clean

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
test: install lint
	$(BIN)/python -m pytest
	COURSE_OFFLINE=1 timeout 1800 $(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=300 \
		-p no:cacheprovider build/notebooks

bench: install
	$(BIN)/course bench --grading

release: install
	$(BIN)/course release

clean:
	rm -rf build .pytest_cache
