# Everything starts from nothing: each target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Where pyenv provides the interpreters, make 3.11 and 3.12 both visible to nox.
export PYENV_VERSION ?= 3.11.7:3.12.1

.PHONY: test pytest browser lint docs screenshots matrix django-suite benchmark demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: the suite (but its soak tests), then ruff, mypy and the docs (warnings
## are errors)
test: pytest lint docs

pytest: $(STAMP) browser
	$(BIN)/pytest -m "not soak"

## browser: Debian's chromium for tests/test_browser.py, installed when missing
## and root and apt-get are there (the test fails without it under CI=true)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "chromium is not installed: tests/test_browser.py skips (fails if CI=true)"

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## screenshots: the docs' screenshots, taken by the browser test in
## build/screenshots/ and copied to docs/_static/screenshots/
screenshots: $(STAMP) browser
	CI=true $(BIN)/pytest tests/test_browser.py -q
	cp build/screenshots/panel.png build/screenshots/viewer.png docs/_static/screenshots/

## matrix: the suite on every supported Django line (4.2, 5.2, 6.1), and the
## panel on django-debug-toolbar 4.4, 5, 6 and 7 (8 is in the main run)
matrix: $(STAMP)
	$(BIN)/nox -s tests toolbar

## django-suite: Django's own signal-related tests, each wrapped in capture()
django-suite: $(STAMP)
	$(BIN)/nox -s django_suite

## benchmark: overhead of tracing against bare Django
benchmark: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

## demo: the testproject on http://127.0.0.1:8000/, with its demo data, and
## the worker of its background tasks beside it (Ctrl-C stops both)
demo: $(STAMP)
	cd testproject && ../$(BIN)/python manage.py migrate --noinput
	cd testproject && ../$(BIN)/python manage.py load_demo
	cd testproject && ../$(BIN)/python demo.py 127.0.0.1:8000

clean:
	rm -rf $(VENV) .nox .django-suite docs/_build build
