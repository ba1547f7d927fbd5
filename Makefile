# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The main job, from scratch each time (a previous runs/vae is replaced).
run: $(STAMP)
	rm -rf runs/vae
	$(VENV)/bin/deepgen vae --out runs/vae

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# Peer libraries for benchmarks (pythae, nflows, zuko) come from the optional `bench` extra.
bench: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(PY) benchmarks/vae_throughput.py --out benchmarks/results
	$(PY) benchmarks/logdet_scaling.py --out benchmarks/results
	$(PY) benchmarks/flows_vs_peers.py --out benchmarks/results
	$(PY) benchmarks/pixelcnn_sampling.py --out benchmarks/results
	$(PY) benchmarks/pixelcnn_throughput.py --out benchmarks/results
	$(PY) benchmarks/ddp_scaling.py --out benchmarks/results
	$(PY) benchmarks/precision_compile.py --out benchmarks/results

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
