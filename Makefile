PY := .venv/bin/python
BIN := .venv/bin
VENV := .venv/.installed

.DEFAULT_GOAL := test

.PHONY: .venv widget run test lint fmt clean

# Re-installs when pyproject.toml changes. Delete .venv to start over.
.venv: $(VENV)
$(VENV): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The widget build (npm + esbuild) arrives with the browser issue; until widget/package.json exists this is
# a no-op.
widget:
	@if [ -f widget/package.json ]; then cd widget && npm ci && npm run build; fi

run: $(VENV) widget
	$(BIN)/loket serve --demo --host 127.0.0.1 --port 8080

test: $(VENV) widget
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest --durations=25

lint: $(VENV)
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(VENV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build dist ./*.egg-info .pytest_cache .mypy_cache .ruff_cache widget/dist
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
