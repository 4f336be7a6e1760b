# `make run` and `make test` work from a fresh clone: each creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint docs bench install examples clean

install: $(STAMP)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nncmp compare --opts sgd,minibatch,rmsprop,adam --inits xavier,he --seeds 3 --epochs 10

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The quick inner loop: everything but the tests marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

# The documentation site, strict: a broken link or a stale page fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict -q -d site

# The speed suite README's Performance section shows (about 2.5 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/nncmp bench

# The example tables and plots README.md shows (about 7 minutes on 2 cores).
examples: $(STAMP)
	rm -rf results/examples
	$(BIN)/nncmp compare --opts sgd,minibatch,rmsprop,adam --inits xavier,he --seeds 3 --epochs 10 \
		--lrs auto --baseline minibatch/he-normal/lr=0.01 --out results/examples
	$(BIN)/nncmp report results/examples --format markdown --no-plot > results/examples/summary.md
	$(BIN)/nncmp inspect --inits xavier,he --act relu --depth 30 --width 256 --quiet --out results/examples/inspect
	$(BIN)/nncmp compare --opts adam,adamw,lion,adan,prodigy,schedulefreeadamw,muon --lrs auto \
		--schedule warmup-cosine --warmup 0.05 --seeds 3 --out results/examples/modern
	$(BIN)/nncmp report results/examples/modern --format markdown --no-plot > results/examples/modern/summary.md
	$(BIN)/nncmp paths --fn rosenbrock --steps 1000 --quiet --out results/examples/paths-rosenbrock
	$(BIN)/nncmp paths --fn toy-regression --steps 200 --quiet --out results/examples/paths-toy-regression
	$(BIN)/nncmp compare --track-weights --no-plot --quiet --out results/examples/landscape
	$(BIN)/nncmp landscape results/examples/landscape --quiet
	$(BIN)/nncmp report results/examples --html results/examples/report.html --no-plot
	# The screenshot README shows, where headless Chromium is installed (Debian: apt-get install chromium).
	if command -v chromium >/dev/null; then chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--window-size=1400,1800 --screenshot=results/examples/report.png \
		file://$(CURDIR)/results/examples/report.html; fi
	$(BIN)/python -c "import pathlib, re; readme = pathlib.Path('README.md'); \
		table = pathlib.Path('results/examples/summary.md').read_text(); \
		readme.write_text(re.sub(r'(<!-- example-table[^>]*-->\n).*?(<!-- /example-table -->)', \
		lambda m: m.group(1) + table + m.group(2), readme.read_text(), flags=re.S)); \
		modern = pathlib.Path('results/examples/modern/summary.md').read_text(); \
		readme.write_text(re.sub(r'(<!-- modern-table[^>]*-->\n).*?(<!-- /modern-table -->)', \
		lambda m: m.group(1) + modern + m.group(2), readme.read_text(), flags=re.S))"

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
