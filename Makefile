# npucc: two commands set up a machine: `make demo`, then `make test`.
SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler libopenblas-dev zlib1g-dev pkg-config python3-venv \
    chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= 2
BIN := .build/release/npucc

.PHONY: all deps apt venv build build-debug demo report-png test test-swift test-python bench proto samples lint format loc clean man completions

all: build

## Dependencies ---------------------------------------------------------------
deps: apt venv

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: Tests/python/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r Tests/python/requirements.txt
	touch $@

## Build ----------------------------------------------------------------------
build: apt
	$(SWIFT) build -c release -j $(JOBS) --product npucc

build-debug: apt
	$(SWIFT) build -j $(JOBS)

## Demo: build and compile a bundled sample end to end -------------------------
demo: deps build
	@echo "== npucc inspect: what the model holds"
	$(BIN) inspect samples/digits_cnn.onnx
	@echo "== npucc dump-ir: the canonical IR, batch fixed to 2"
	$(BIN) dump-ir samples/shape_chain.onnx --input-shape input=2,3,16,16
	@echo "== npucc run: the reference interpreter on the 360 held-out digits"
	@mkdir -p .build/demo
	$(BIN) run samples/digits_cnn.onnx --inputs samples/digits_test.npz --outputs .build/demo/digits_logits.npz \
	    --labels samples/digits_test_labels.npy
	@echo "== npucc run --precision nvfp4: the same digits, fake-quantized as the NPU computes"
	$(BIN) run samples/digits_cnn.onnx --inputs samples/digits_test.npz --outputs .build/demo/digits_nvfp4.npz \
	    --labels samples/digits_test_labels.npy --precision nvfp4 --calib samples/digits_calib.npz
	@echo "== npucc compile: per-layer precision and sparsity, packed weights, one bundle"
	$(BIN) compile samples/digits_cnn.onnx -o .build/demo/digits.npub --input-shape input=1,1,8,8 \
	    --precision auto --sparsity auto --calib samples/digits_calib.npz --report .build/demo/report
	@echo "   the compile report: open .build/demo/report/report.html (data in report.json)"
	$(BIN) inspect .build/demo/digits.npub
	@echo "== npucc run on the bundle: the simulator, bit for bit as the fake-quant interpreter"
	$(BIN) run .build/demo/digits.npub --inputs samples/digits_test.npz --outputs .build/demo/digits_npu.npz \
	    --labels samples/digits_test_labels.npy
	@echo "== npucc profile: the bundle's cycles per layer on the target's cycle model"
	$(BIN) profile .build/demo/digits.npub
	@echo "== npucc export --qdq: the same decisions as an ONNX model onnxruntime runs"
	$(BIN) export samples/digits_cnn.onnx -o .build/demo/digits_qdq.onnx --qdq --input-shape input=1,1,8,8 \
	    --precision auto --sparsity auto --calib samples/digits_calib.npz

## The README's screenshot of the digits sample's compile report (headless chromium) ---
report-png: deps build
	@mkdir -p .build/demo
	$(BIN) compile samples/digits_cnn.onnx -o .build/demo/digits.npub --input-shape input=1,1,8,8 \
	    --precision auto --sparsity auto --calib samples/digits_calib.npz --report .build/demo/report
	$(PY) tools/report_screenshot.py .build/demo/report/report.html docs/report.png

## Tests ----------------------------------------------------------------------
test: deps build test-swift test-python

test-swift:
	NPUCC_PYTHON=$(abspath $(PY)) $(SWIFT) test -j $(JOBS) --disable-swift-testing

# The test files shared out over $(JOBS) workers, each file whole on one (its fixtures made once).
test-python: build
	NPUCC=$(abspath $(BIN)) $(PY) -m pytest -q -n $(JOBS) --dist loadfile Tests/python

## Benchmarks (not tests) -------------------------------------------------------
bench: deps
	$(SWIFT) build -c release -j $(JOBS) --product NPUBench
	NPUCC_PYTHON=$(abspath $(PY)) .build/release/NPUBench

## Regenerate the committed samples (deterministic) --------------------------
samples: venv
	$(PY) samples/make_samples.py

## Regenerate the committed protobuf-c code from schemas/onnx.proto -----------
proto: apt
	protoc-c --c_out=Sources/ONNXProto/generated --proto_path=schemas schemas/onnx.proto
	mv Sources/ONNXProto/generated/onnx.pb-c.h Sources/ONNXProto/include/onnx.pb-c.h

## The manual page and shell completions, from the argument parser's own definitions -----
DOCS_OUT := .build/docs

man: build
	$(SWIFT) package generate-manual --date 2026-01-01
	@mkdir -p $(DOCS_OUT)
	cp .build/plugins/GenerateManual/outputs/npucc/npucc.1 $(DOCS_OUT)/npucc.1
	@echo "read it with: man -l $(DOCS_OUT)/npucc.1"

completions: build
	@mkdir -p $(DOCS_OUT)
	for shell in bash zsh fish; do $(BIN) --generate-completion-script $$shell > $(DOCS_OUT)/npucc.$$shell; done
	@echo "bash: source $(DOCS_OUT)/npucc.bash (zsh: npucc.zsh in your fpath as _npucc; fish: npucc.fish in ~/.config/fish/completions)"

## Style: .swift-format's rules (warnings, not a gate), and lines per module -------
lint:
	$(SWIFT) format lint --recursive Sources Tests Package.swift

format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

loc:
	@for d in Sources/*/; do printf "%-16s %6s\n" $$(basename $$d) $$(cat $$(find $$d -name '*.swift' -o -name '*.c' -o -name '*.h' | grep -v -e generated -e '\.pb-c\.') /dev/null | wc -l); done

clean:
	rm -rf .build
