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

# The standard benchmark README's Performance section shows (about 2.5 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/nncmp bench

# The example results the docs show, into docs/examples/ (about two hours on 2 cores). The docs include
# their markdown tables (docs/examples/**/summary.md) and figures as they are.
EX := docs/examples
examples: $(STAMP)
	rm -rf $(EX)
	$(BIN)/nncmp compare --opts sgd,minibatch,rmsprop,adam --inits xavier,he --seeds 3 --epochs 10 \
		--lrs auto --baseline minibatch/he-normal/lr=0.01 --out $(EX)
	$(BIN)/nncmp report $(EX) --format markdown --no-plot > $(EX)/summary.md
	$(BIN)/nncmp inspect --inits xavier,he --act relu --depth 30 --width 256 --quiet --out $(EX)/inspect
	$(BIN)/nncmp inspect --coord-check --widths 64,128,256,512,1024 --params sp,mup --opt adam --lr 0.01 \
		--seeds 3 --quiet --out $(EX)/coord && rm $(EX)/coord/config.json  # the docs show coord.png and coord.csv
	$(BIN)/nncmp compare --opts adam,adamw,lion,adan,prodigy,schedulefreeadamw,pytorch-optimizer:muon --lrs auto \
		--schedule warmup-cosine --warmup 0.05 --seeds 3 --out $(EX)/modern
	$(BIN)/nncmp report $(EX)/modern --format markdown --no-plot > $(EX)/modern/summary.md
	$(BIN)/nncmp compare --opts adam --inits default --widths 64,128,256,512,1024 --params sp,mup \
		--lrs "2^-14..2^-4" --seeds 2 --epochs 5 --quiet --out $(EX)/width
	rm $(EX)/width/curves_epochs.png $(EX)/width/final_val_acc.png  # 110 configurations: no page shows them
	$(BIN)/nncmp compare --dataset mqar --data-arg vocab=32 --data-arg seq_len=16 --data-arg pairs=4 \
		--model transformer --model-arg n_layer=2 --opts adam --inits default --widths 32,64,128,256 \
		--params sp,mup --lrs "2^-12..2^-4" --seeds 2 --batch-sizes 64 --steps 450 --eval-every 50 --quiet \
		--out $(EX)/width-transformer
	rm $(EX)/width-transformer/curves_steps.png $(EX)/width-transformer/final_val_acc.png
	for r in plain depth-mup; do $(BIN)/nncmp compare --opts adam --inits default --depths 2,4,8,16 --width 128 \
		--model-arg residual=$$r --lrs "2^-12..2^-5" --seeds 2 --epochs 3 --quiet --out $(EX)/depth/$$r && \
		rm $(EX)/depth/$$r/curves_epochs.png $(EX)/depth/$$r/final_val_acc.png || exit 1; done
	$(BIN)/nncmp compare --opts adam --inits he --dropouts 0,0.2,0.5 --norms none,batchnorm --depths 2,6 \
		--seeds 3 --quiet --out $(EX)/regularisation
	$(BIN)/nncmp report $(EX)/regularisation --format markdown --no-plot > $(EX)/regularisation/summary.md
	$(BIN)/nncmp compare --model examples/net1d.py:Net1d --dataset mnist1d --opts minibatch,momentum,adam,adamw \
		--inits default,he --lrs auto --seeds 3 --quiet --out $(EX)/mnist1d
	$(BIN)/nncmp report $(EX)/mnist1d --format markdown --no-plot > $(EX)/mnist1d/summary.md
	$(BIN)/nncmp compare --opts sgd,momentum,adam,adamw,lion --tune halton --trials 16 --studies 3 --seeds 3 \
		--quiet --out $(EX)/tuning
	rm $(EX)/tuning/tuning_metrics.csv  # the 490 trials' curves (1.7 MB): no page shows them
	$(BIN)/nncmp report $(EX)/tuning --format markdown --no-plot > $(EX)/tuning/summary.md
	$(BIN)/nncmp compare --dataset modadd --data-arg p=31 --data-arg train_fraction=0.7 --model transformer \
		--model-arg n_layer=1 --model-arg d_model=64 --opts adamw,muon,lion --lrs 0.003 --inits default \
		--weight-decays 0,1 --batch-sizes 1024 --steps 2000 --eval-every 100 --seeds 3 --quiet --out $(EX)/grokking
	$(BIN)/nncmp report $(EX)/grokking --format markdown --no-plot > $(EX)/grokking/summary.md
	$(BIN)/nncmp suite --opts sgd,momentum,adam,adamw,lion,prodigy,schedulefreeadamw --lrs auto --seeds 3 \
		--quiet --out $(EX)/suite
	# The docs show the verdict; the nine problems' compare folders (their runs' curves) stay out.
	cd $(EX)/suite && rm -rf mnist5k-mlp digits-cnn digits-mlp mnist1d-mlp mnist1d-cnn deep-tanh synthetic-mlp \
		modadd-transformer mqar-transformer
	$(BIN)/nncmp paths --fn rosenbrock --steps 1000 --quiet --out $(EX)/paths-rosenbrock
	$(BIN)/nncmp paths --fn toy-regression --steps 200 --quiet --out $(EX)/paths-toy-regression
	$(BIN)/nncmp compare --track-weights --no-plot --quiet --out $(EX)/landscape
	$(BIN)/nncmp landscape $(EX)/landscape --quiet
	$(BIN)/nncmp report $(EX) --html $(EX)/report.html --no-plot
	# The screenshot the docs show, where headless Chromium is installed (Debian: apt-get install chromium).
	if command -v chromium >/dev/null; then chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--window-size=1400,1800 --screenshot=$(EX)/report.png file://$(CURDIR)/$(EX)/report.html; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info site
