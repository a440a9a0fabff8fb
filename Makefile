# ttc: reproduce Snell et al. (2024) on a synthetic math world.
#   make reproduce                 the whole study, full profile (figures/ are these)
#   make reproduce PROFILE=quick   the same at small scale, in minutes (figures/quick/)
#   make reproduce PARAMS="-p executor ray"   with the chunked builds on Ray (docs/ray.md)
#   make reproduce PROFILE=quick PARAMS="-p demo_budget 16"   a variant: beside the profile's results, never over them
#   make variants PROFILE=quick    the variants on disk; make remove-variant PROFILE=quick VARIANT=name removes one
#   make seed-study                the ladder at other training seeds (not part of reproduce)
#   make test                      the test suite
#   make test-browser              JupyterLab driven by headless Chromium (installs Debian's chromium)
#   make bench                     the benchmarks (they print numbers; tests never time anything)
#   make lab                       JupyterLab on the project's kernel
# A fresh clone needs nothing else: the virtual environment is made from
# requirements.txt the first time a target needs it.

PROFILE ?= full
PARAMS ?=  # more papermill arguments for every notebook, e.g. PARAMS="-p executor ray"
PYTHON ?= python3
PORT ?= 8888
IP ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
KERNEL := ttc
STAMP := $(VENV)/.installed
# One instruction set for torch, MKL, oneDNN, numpy and OpenBLAS in every process make starts, so that the
# same settings give the same bits on any x86-64 machine (ttc.core.determinism; TTC_DETERMINISTIC=0 turns it off).
include ttc/core/pinned.env
PINNED := $(shell sed -n 's/^\([A-Z_]*\)=.*/\1/p' ttc/core/pinned.env)
ifneq ($(TTC_DETERMINISTIC),0)
export $(PINNED)
endif
# Where results go: data/, or TTC_DATA_ROOT (the executed copies go there too, beside their artifacts).
DATA := $(or $(TTC_DATA_ROOT),data)
PACKAGE := $(wildcard ttc/*.py ttc/*/*.py)

.PHONY: help setup reproduce locked-reproduce notebooks seed-study locked-seed-study claims-seeds timings variants remove-variant readme test test-browser browser-deps bench lab clean-profile verify golden
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18
	@echo "profiles (PROFILE=...): $(basename $(notdir $(wildcard params/*.yaml)))  [default: full]"

$(STAMP): requirements.txt pyproject.toml ttc/core/pinned.env
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (ttc)" \
		$(foreach k,$(PINNED),--env $(k) "$($(k))") >/dev/null
	touch $@

setup: $(STAMP)  ## create the virtual environment and the Jupyter kernel

params/%.yaml:
	@echo "unknown profile '$*': params/$*.yaml does not exist; use one of: $(basename $(notdir $(wildcard params/*.yaml)))" >&2
	@exit 2

# Each notebook's executed copy is its target, written only when the notebook ran to the end: an interrupted
# `make reproduce` resumes at the first notebook without one, and the notebooks skip artifacts already on disk.
# Where each copy goes, and which it waits for, `python -m ttc.pipelines.variants rules` says: in its stage's
# folder for these settings, the profile's own or, when PARAMS change what that notebook depends on, a variant's
# beside it (data/PROFILE/variants/NAME/notebooks/), after the notebooks whose artifacts it reads.
.SECONDEXPANSION:
$(DATA)/$(PROFILE)/%.ipynb: notebooks/$$(notdir $$*).ipynb params/$(PROFILE).yaml $(PACKAGE) | $(STAMP)
	@mkdir -p $(dir $@)
	$(BIN)/papermill $< $(@:.ipynb=.running.ipynb) -p profile $(PROFILE) $(NOTEBOOK_PARAMS) -k $(KERNEL) --cwd notebooks
	mv $(@:.ipynb=.running.ipynb) $@

# make's rules for TARGET's notebooks with these PARAMS (every parameter checked first), then those notebooks;
# each is given only the PARAMS its results depend on (and where builds run).
RUN_NOTEBOOKS = rules=$$(mktemp -d) && trap 'rm -rf $$rules' EXIT && \
	$(BIN)/python -m ttc.pipelines.variants rules $(PROFILE) $(1) $$rules -- $(PARAMS) && \
	$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) -f $$rules/rules.mk notebooks PROFILE=$(PROFILE)

# First, any executed notebook whose artifacts (listed beside it) were deleted, damaged or rebuilt since it ran
# is removed, so that it runs again and rebuilds them, and so do the notebooks after it.
# One run at a time in a profile's folder (ttc.core.run_lock): a second one stops at once, naming the first.
# Removing a profile's data or a variant takes the same lock, so that nothing is removed under a running study.
UNDER_LOCK = TTC_RUN_COMMAND="make $@ PROFILE=$(PROFILE)" $(BIN)/python -m ttc.core.run_lock $(DATA)/$(PROFILE) --
LOCKED = $(UNDER_LOCK) $(MAKE) --no-print-directory PROFILE=$(PROFILE)

reproduce: params/$(PROFILE).yaml | $(STAMP)  ## run every notebook in order (PROFILE=full|quick|tiny; PARAMS="-p name value" for a variant)
	@$(LOCKED) locked-reproduce

# The study's own full run (data/, no variant) leaves a reader's copy of each executed notebook in docs/notebooks/.
READER_COPIES = $(if $(and $(filter full,$(PROFILE)),$(if $(strip $(PARAMS) $(TTC_DATA_ROOT)),,yes)),\
	$(BIN)/python -m ttc.report.notebook_pages $(DATA)/full/notebooks docs/notebooks)

locked-reproduce:
	$(BIN)/python -m ttc.core.store check $(DATA)/$(PROFILE)
	@$(call RUN_NOTEBOOKS,reproduce)
	@$(BIN)/python -m ttc.pipelines.variants where $(PROFILE) -- $(PARAMS)
	$(READER_COPIES)

# Outside reproduce's chain (its name has no number): the policy and the next size at several training seeds.
seed-study: params/$(PROFILE).yaml | $(STAMP)  ## the seed study (PROFILE=...): over 1 h at the full profile
	@$(LOCKED) locked-seed-study

locked-seed-study:
	@$(call RUN_NOTEBOOKS,seed_study)

# Outside reproduce's chain: notebooks 02-07 again on the policy at other training seeds (ttc.report.claims.POLICY_SEEDS,
# each a variant beside the study, trained first where the seed study has not), so that the README's claims table says
# at how many seeds each finding holds.
claims-seeds: params/$(PROFILE).yaml | $(STAMP)  ## notebooks 02-07 on the policy at two more training seeds (about 25 min at the full profile), then make readme
	@for seed in $$($(BIN)/python -c "from ttc.report.claims import POLICY_SEEDS; print(*POLICY_SEEDS)"); do \
		$(MAKE) --no-print-directory reproduce PROFILE=$(PROFILE) PARAMS="$(PARAMS) -p policy_seed $$seed" || exit $$?; done
	$(if $(filter full,$(PROFILE)),@$(MAKE) --no-print-directory readme)

variants: | $(STAMP)  ## list the variants of PROFILE on disk (what differs in each, its size)
	$(BIN)/python -m ttc.pipelines.variants list $(PROFILE)

remove-variant: | $(STAMP)  ## remove one variant of PROFILE (VARIANT=name, as `make variants` lists it): its data and figures
	@$(UNDER_LOCK) $(BIN)/python -m ttc.pipelines.variants remove $(PROFILE) $(VARIANT)

readme: | $(STAMP)  ## render the README's claims table and docs/results.md from the committed figures/NN_summary.json
	$(BIN)/python -m ttc.report.findings readme

test: $(STAMP)  ## run the tests (every notebook runs at the tiny profile)
	$(BIN)/python -m pytest -q -m "not browser"

verify: | $(STAMP)  ## retrain the full profile's policy from nothing (~6 min) and compare with figures/01_summary.json, exactly
	$(BIN)/python -m ttc.checks.verify

# The golden record (tests/golden/tiny.json) is what `make test` compares the tiny study with. Rewrite it
# only for a change that moves results on purpose, in its own commit that says why.
GOLDEN_ROOT := build/golden
golden: | $(STAMP)  ## rerun the tiny study (and its seed study) from nothing and rewrite tests/golden/tiny.json
	rm -rf $(GOLDEN_ROOT)
	TTC_DATA_ROOT=$(CURDIR)/$(GOLDEN_ROOT)/data TTC_FIGURES_ROOT=$(CURDIR)/$(GOLDEN_ROOT)/figures \
		$(MAKE) --no-print-directory reproduce seed-study PROFILE=tiny
	$(BIN)/python -m ttc.checks.golden write tiny --root $(GOLDEN_ROOT)/data

# What the two commands cost on this machine, from nothing (the study in a scratch folder), for the README.
TIMINGS_ROOT := build/timings
WHAT ?= setup test reproduce
timings: | $(STAMP)  ## measure the setup, make test and the full study from nothing (WHAT=setup|test|reproduce; over an hour) into docs/timings.json
	rm -rf $(TIMINGS_ROOT)
	$(if $(filter setup,$(WHAT)),$(BIN)/python -m ttc.report.timings run setup --disk $(TIMINGS_ROOT)/venv -- \
		$(MAKE) --no-print-directory setup VENV=$(TIMINGS_ROOT)/venv)
	$(if $(filter test,$(WHAT)),$(BIN)/python -m ttc.report.timings run test -- $(MAKE) --no-print-directory test)
	$(if $(filter reproduce,$(WHAT)),TTC_DATA_ROOT=$(CURDIR)/$(TIMINGS_ROOT)/data TTC_FIGURES_ROOT=$(CURDIR)/$(TIMINGS_ROOT)/figures \
		$(BIN)/python -m ttc.report.timings run reproduce -- $(MAKE) --no-print-directory reproduce PROFILE=full)
	$(MAKE) --no-print-directory readme

# Debian's Chromium and its driver, for the browser test (root installs them; apt needs no network beyond
# the Debian archive).
CHROMIUM := $(shell command -v chromium 2>/dev/null)
browser-deps:
	@if [ -z "$(CHROMIUM)" ] || ! command -v chromedriver >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi

test-browser: $(STAMP) browser-deps  ## a reader's path through JupyterLab in headless Chromium (screenshots: build/browser/)
	$(BIN)/python -m pytest -q -m browser

bench: $(STAMP)  ## benchmarks: the sampler against generate; what determinism costs (pretraining, products, kernels); the pool here vs on Ray
	$(BIN)/python bench/bench_sampler.py
	$(BIN)/python bench/bench_pretrain.py
	$(BIN)/python bench/bench_kernels.py
	$(BIN)/python bench/bench_ray.py

# As root (most containers) JupyterLab refuses to start without --allow-root. The server's root is the
# project, so that the executed copies under data/<profile>/notebooks/ open too; it starts in notebooks/.
lab: $(STAMP)  ## JupyterLab on the project's kernel (PORT=8888, IP=127.0.0.1); prints the URL with its token
	$(BIN)/jupyter lab --no-browser --ServerApp.ip=$(IP) --ServerApp.port=$(PORT) --ServerApp.port_retries=0 \
		--ServerApp.root_dir=$(CURDIR) --ServerApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

clean-profile: | $(STAMP)  ## remove data/PROFILE (models, tables, executed notebooks) to recompute it
	@$(UNDER_LOCK) rm -rf $(DATA)/$(PROFILE)
