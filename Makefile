# The two commands of the README. Each sets itself up first (scripts/setup.sh is idempotent).
#   make paper [PROFILE=cpu]   build paper and poster -> build/$(PROFILE)/{paper,poster}.pdf
#   make test                  the test suite, including the smoke build of paper and poster
PROFILE ?= cpu

.PHONY: paper test setup
paper: setup
	.venv/bin/doit profile=$(PROFILE)

test: setup
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -ra

setup:
	@scripts/setup.sh
