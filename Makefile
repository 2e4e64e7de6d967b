# Development entry points: dependencies, the local stack, tests. See docs/design.md and devstack/.
PYTHON_VERSION ?= python3.11
VENV := .venv
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_STATUS := $(or $(DEVSTACK_DIR),.devstack)/pytest.status
REQUIRE_PYTHON = command -v $(PYTHON_VERSION) >/dev/null \
	|| { echo "error: $(PYTHON_VERSION) not found; install Python 3.11" >&2; exit 1; }

.PHONY: venv node_modules stack-up stack-down stack-status test demo soak bench

venv: $(VENV_STAMP)

# Re-installs only when a requirements file or the project metadata changes.
$(VENV_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(REQUIRE_PYTHON)
	test -x $(VENV_PY) || $(PYTHON_VERSION) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -e . --no-deps
	touch $@

node_modules: $(NODE_STAMP)

# npm's output goes to .devstack/npm.log (or $DEVSTACK_DIR's); a failure prints one line naming it.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20 or later with npm" >&2; exit 1; }
	@$(REQUIRE_PYTHON)
	@$(PYTHON_VERSION) -m devstack.deps node_modules
	@touch $@

stack-up: venv node_modules
	$(VENV_PY) -m devstack.stack up

stack-down:
	@if [ -x $(VENV_PY) ]; then $(VENV_PY) -m devstack.stack down; else echo "no .venv: nothing is running"; fi

stack-status: venv
	$(VENV_PY) -m devstack.stack status

# The session fixture in tests/conftest.py starts the stack (and stops it if it started it).
# make turns any failure into 2, so pytest's own status is kept in $(PYTEST_STATUS) for .ci/run;
# pytest exits 5 when it collected no test: that stays a failure.
test: venv node_modules
	@mkdir -p $(dir $(PYTEST_STATUS)) && rm -f $(PYTEST_STATUS)
	$(VENV_PY) -m pytest; status=$$?; echo $$status > $(PYTEST_STATUS); exit $$status

demo: venv node_modules
	$(VENV_PY) -m devstack.demo

# The long versions of the reliability rows (the default run has bounded versions of each).
soak: venv node_modules
	$(VENV_PY) -m pytest -m soak

# Our client against restic and Borg on 1 GiB datasets of three seeds (one random); writes bench/results/latest.md.
# restic and Borg come from Debian's packages, installed here when missing.
bench: venv node_modules
	@$(VENV_PY) -m devstack.deps debian restic borgbackup
	$(VENV_PY) -m bench.compare --size 1G
