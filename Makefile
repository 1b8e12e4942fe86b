# The course module's commands. A newcomer needs two: `make book` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# torch is installed first, from PyPI plus the PyTorch CPU wheel index as an
# *extra* index: on Linux pip then takes the CPU build (X.Y.Z+cpu ranks above
# PyPI's CUDA build of X.Y.Z), and other platforms or versions still resolve
# from PyPI. GPU users name a CUDA index instead (see README), e.g.
# `make install TORCH_INDEX=https://download.pytorch.org/whl/cu128`.
# The pin and the index are written once, in course_tools/settings.py.
setting = $(shell sed -n 's/^$(1) = "\(.*\)"$$/\1/p' course_tools/settings.py)
TORCH_SPEC  ?= $(call setting,TORCH_PIN)
TORCH_INDEX ?= $(call setting,TORCH_INDEX)
ifeq ($(strip $(TORCH_SPEC)),)
$(error no TORCH_PIN = "..." line in course_tools/settings.py)
endif
STAMP   := $(VENV)/.installed
MATHJAX := book/_vendor/mathjax/es5/tex-chtml.js
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

JB_FLAGS := -n -W --keep-going
HW ?=
SUBMISSIONS ?=
OUT ?=
JOBS ?=
TIMEOUT ?=
DEST ?= _release
ENV_CACHE ?=
WRITTEN ?=
ANONYMISE ?=
V ?=
# The one entry point of the instructor tools (V=1: -v, their debug log).
TOOLS := $(BIN)/python -m course_tools $(if $(V),-v)

.PHONY: help install book book-fast assign assign-check release test test-fast test-gpu grade written bench clean

help:
	@echo "make book        set up, regenerate assignments, build the book from scratch"
	@echo "make test        set up, then run the whole test suite"
	@echo "make book-fast   rebuild the book reusing the execution cache"
	@echo "make assign      regenerate assignments/ and autograder/ from solutions/"
	@echo "make release     write the student edition to _release/ (or DEST=dir)"
	@echo "make grade HW=hw1 SUBMISSIONS=folder [OUT=gradebook.csv JOBS=n TIMEOUT=s WRITTEN=written-scores.csv]"
	@echo "make written HW=hw2 SUBMISSIONS=folder [OUT=dir ANONYMISE=1]  written answers: PDFs, question pages, score sheet"
	@echo "make bench       measure grading, training, book build and activation speed"
	@echo "(every tool: .venv/bin/python -m course_tools --help; V=1 for its debug log)"

install: $(STAMP) $(MATHJAX)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install -q -r requirements.txt -e . 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	@touch $@

# MathJax comes from the npm registry at install time and is served from the
# book's own _static folder: no CDN when the book is read.
$(MATHJAX): package.json
	npm install --no-audit --no-fund --silent
	rm -rf book/_vendor/mathjax && mkdir -p book/_vendor/mathjax
	cp -r node_modules/mathjax/es5 book/_vendor/mathjax/es5
	@touch $@

assign: install
	$(TOOLS) assign $(HW)

assign-check: install
	$(TOOLS) assign --check

# The student edition (the course's public repository): no solutions, no tools.
release: install
	$(TOOLS) release $(DEST)

# From a clean _build: an incremental build silently skips an unchanged failing notebook.
book: install assign
	rm -rf _build
	$(BIN)/jupyter-book build . --path-output . $(JB_FLAGS)
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

book-fast: install
	$(BIN)/jupyter-book build . --path-output . $(JB_FLAGS)
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: install book-fast
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# Grades in the environment the zip's environment.yml declares, built once into
# ~/.cache/activation-course/grading-envs/ (ENV_CACHE=dir to keep it elsewhere).
grade: install
	$(TOOLS) grade $(HW) $(SUBMISSIONS) $(if $(OUT),--out $(OUT)) $(if $(JOBS),--jobs $(JOBS)) $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(ENV_CACHE),--env-cache $(ENV_CACHE)) $(if $(WRITTEN),--written $(WRITTEN))

# Written answers: OUT/pdf/<submission>.pdf (Chromium), OUT/questions/<question>.html, OUT/written-scores.csv.
written: install
	$(TOOLS) written $(HW) $(SUBMISSIONS) $(if $(OUT),--out $(OUT)) $(if $(JOBS),--jobs $(JOBS)) $(if $(ANONYMISE),--anonymise)

# Benchmarks write bench/results.md; run on a quiet machine (see the report's notes).
bench: install
	$(TOOLS) bench

# Assignment 3's checks on CUDA (skipped without a GPU).
test-gpu: install
	$(BIN)/python -m pytest tests/hw3/test_hw3_gpu.py -v

clean:
	rm -rf _build _release
