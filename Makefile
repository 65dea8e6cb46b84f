# Everything a fresh clone needs: Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CHROMIUM := /usr/bin/chromium

.PHONY: run test soak lint bench format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lifeline run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHROMIUM)
	$(BIN)/pytest --durations=30

# The console tests drive Debian's Chromium, installed here when missing (nothing downloads a
# browser); where it cannot be, those tests say how to install it.
$(CHROMIUM):
	@if [ "$$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	else echo "The console tests need Debian's Chromium at $(CHROMIUM): apt-get install chromium" >&2; fi

# The floor's model and race tests, run far longer than `make test` runs them (about an hour),
# and the simulator against queueing theory at more loads, over longer runs.
soak: $(STAMP)
	FLOOR_EXAMPLES=800 FLOOR_STEPS=100 FLOOR_RACE_ROUNDS=60 FLOOR_RACE_SECONDS=5 \
		$(BIN)/pytest tests/test_floor_model.py tests/test_floor_races.py
	SIM_ORACLE_LOADS=0.5,0.6,0.7,0.8,0.9 SIM_ORACLE_HOURS=20 SIM_SHOCK_HOURS=24 \
		$(BIN)/pytest tests/simulation/test_queueing_theory.py tests/simulation/test_shock.py

bench: $(STAMP)
	$(BIN)/python -m tests.bench

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/*
