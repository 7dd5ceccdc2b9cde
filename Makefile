# The two commands a new user runs: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests drive for real: a CUPS queue with a PDF printer, poppler's
# pdftotext/pdftoppm, tmux for the end-to-end TUI test, and the reference `age` tool.
DEBS   := cups printer-driver-cups-pdf poppler-utils tmux age libharfbuzz-subset0 faketime

.PHONY: setup system-deps demo test bench lint docs clean

$(BIN)/downtime: pyproject.toml
	@# Debian's own python3 needs python3-venv for `-m venv` (ensurepip); most others have it
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,sandbox]'
	touch $@

setup: $(BIN)/downtime

system-deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: setup
	$(BIN)/downtime demo --dir demo

test: setup system-deps
	$(BIN)/ruff check downtime snapshots tests $(wildcard forms reconcile)
	$(BIN)/pytest -n 2

bench: setup system-deps
	$(BIN)/python tests/bench/run.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

# docs/cli.md from the commands' own --help (tests/test_cli_reference.py checks it is current)
docs: setup
	env -u XDG_CONFIG_DIRS -u XDG_STATE_HOME $(BIN)/cog -r docs/cli.md

clean:
	rm -rf $(VENV) demo bench-data
