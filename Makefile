# The two commands the README promises: `make run` and `make test`.
# Each bootstraps .venv with the standard library's venv and pip, and is a no-op when nothing changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test lint format bench sync check translations

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(DEV): pyproject.toml constraints.txt $(RUNTIME)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

run: $(RUNTIME)
	$(PY) -m bot

sync: $(RUNTIME)
	$(PY) -m bot sync

check: $(RUNTIME)
	$(PY) -m bot check

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Most tests wait on I/O (the bot and the fakes talk over 127.0.0.1): 8 workers beat 2 on 2 cores,
# and work stealing keeps one worker from ending up with the slow tests.
# PYTHONDONTWRITEBYTECODE (set on some machines) would make each of those workers rewrite and
# compile every test module again, run after run: about 2 CPU-seconds a worker. Empty is unset.
test: lint
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n 8 --dist worksteal

bench: $(DEV)
	$(PY) -m bench.compare $(ARGS)

# The catalogs (bot/locales): every message of the code, extracted with its TRANSLATORS: comments
# into bot.pot, then merged into each language's bot.po (a new language: add it to
# bot/sheets/locales.py's TRANSLATED, run this, translate its bot.po), and compiled into the
# bot.mo the bot reads (run it again after translating). A changed message comes out
# untranslated, and the tests fail until someone translates it again.
LOCALES := de fr es_ES pt_BR it pl ru ja ko zh_CN
KEYWORDS := -k _ -k n_:1,2 -k N_ -k locale_str
translations: $(DEV)
	$(VENV)/bin/pybabel -q extract --add-location=file --omit-header $(KEYWORDS) -c TRANSLATORS: \
		-o bot/locales/bot.pot bot cogs
	for locale in $(LOCALES); do \
		po=bot/locales/$$locale/LC_MESSAGES/bot.po; \
		if [ -f $$po ]; then \
			$(VENV)/bin/pybabel -q update --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date \
				-i bot/locales/bot.pot -d bot/locales -D bot -l $$locale; \
		else \
			$(VENV)/bin/pybabel -q init -i bot/locales/bot.pot -d bot/locales -D bot -l $$locale; \
		fi; \
	done
	$(VENV)/bin/pybabel -q compile -d bot/locales -D bot
