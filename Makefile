# Two commands do all set-up (see README.md):
#   make lab    install into .venv if needed, then open the course in JupyterLab
#   make test   install into .venv if needed, then run every test (unit tests and notebooks)
#
# TORCH picks the torch build; the default takes the standard wheel from the package index
# (CUDA-capable on Linux with an NVIDIA GPU, CPU-only where a local CPU wheel is configured).
# Another build:  make lab TORCH="torch --index-url https://download.pytorch.org/whl/cpu"

PYTHON  ?= python3
VENV    ?= .venv
TORCH   ?= torch==2.13.0
PROFILE ?=
LAB_ARGS ?=
WORK    ?= lab

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lab test unit notebooks gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

# the lessons open as your own copies in lab/ (git ignores it; vitlib.tools.workspace), never the stored ones
lab: install
	$(BIN)/python -m vitlib.tools.workspace --folder $(WORK)
	VITLIB_PROFILE=$(PROFILE) $(BIN)/jupyter lab --ServerApp.root_dir=$(WORK) $(LAB_ARGS)

test: install
	VITLIB_PROFILE=smoke $(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider

# the unit tests alone, without the notebooks and the browser tests: a quick check while working
unit: install
	VITLIB_PROFILE=smoke $(BIN)/python -m pytest tests -m "not browser" -p no:cacheprovider

# Re-run every lesson top to bottom in the cpu profile and store its outputs in the notebook: small (widgets
# frozen to what they showed, photo-like figures as JPEG) and stamped with the run (vitlib.tools.store_notebooks).
notebooks: install
	VITLIB_PROFILE=cpu $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=1800 notebooks/[0-9]*.ipynb
	VITLIB_PROFILE=cpu $(BIN)/python -m vitlib.tools.store_notebooks notebooks/[0-9]*.ipynb

# The GPU check of lesson 05's gpu recipe, in one command on a machine with CUDA: throughput (eager and
# compiled) and the time to 90% validation accuracy (tested once at the end) on CIFAR-10 from an image folder, all written to results/.
#   make gpu-check CIFAR=/path/to/cifar10          (a folder with train/ and test/, one subfolder per class)
# RUN is the Python to use (default: the project's .venv; on a machine with torch already, RUN=python3).
RUN ?= $(BIN)/python
CIFAR ?=
TARGET_ARGS ?=

gpu-check:
	@test -n "$(CIFAR)" || { echo "CIFAR=<folder with train/ and test/ image folders> is required"; exit 2; }
	$(RUN) -c "import torch; assert torch.cuda.is_available(), 'CUDA is not available'; print('torch', torch.__version__, 'on', torch.cuda.get_device_name())"
	$(RUN) -m vitlib.tools.bench --variant cifar-vit --profile gpu --batch-size 512 --steps 50 --warmup 10
	$(RUN) -m vitlib.tools.bench --variant cifar-vit --profile gpu --batch-size 512 --steps 50 --warmup 10 --compile --out results/bench-cuda-compiled.json
	$(RUN) -m vitlib.tools.time_to_target --folder $(CIFAR) --target 0.90 $(TARGET_ARGS)

clean:
	rm -rf $(VENV) *.egg-info
