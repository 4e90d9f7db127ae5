# candlelit: `make run` serves the site on the default models; `make test` runs every test.
# Both do all set-up on a fresh machine (tools, weights, builds) and reuse the cache in
# ~/.cache/candlelit on the next run, so a second run downloads and rebuilds nothing.

SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/candlelit
# Scripts (setup-tools.sh, e2e.mjs) read the same cache location.
export CANDLELIT_CACHE := $(CACHE)
# Build outputs live in the cache so a fresh clone (CI) reuses compiled dependencies.
export CARGO_TARGET_DIR ?= $(CACHE)/target
export PATH := $(CACHE)/tools/bin:$(CACHE)/npm/node_modules/.bin:$(PATH)
export CANDLELIT_MODEL_DIR ?= $(CURDIR)/model-store
export CANDLELIT_CACHE_DIR ?= $(CACHE)/downloads
# The CPU the Rust code is compiled for. `make run`/`make test` build for this machine (candle's
# quantized kernels are picked at compile time by target_feature); the image builds for a stated
# baseline (Dockerfile ARG TARGET_CPU, x86-64-v3). The server refuses to start on a CPU that lacks
# what it was built for (server/src/cpu.rs). Host-only variable: the wasm build is unaffected.
TARGET_CPU ?= native
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS ?= -C target-cpu=$(TARGET_CPU)
SITE := $(CARGO_TARGET_DIR)/site
BIN := $(CARGO_TARGET_DIR)/release/candlelit
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: run replicas replicas-test test tools fetch build site server golden twins twins-full bench bench-smoke bench-race bench-http bench-load bench-overhead fuzz fuzz-native corpus soak burst lint fmt clean

run: tools fetch build
	LEPTOS_SITE_ROOT=$(SITE) $(BIN) serve --host $(HOST) --port $(PORT)

# N replicas on loopback ports 3101.. behind Debian's haproxy on PORT (installed when missing),
# with /readyz health checks, retries and draining; Ctrl-C drains and stops them. deploy/README.md.
N ?= 3
replicas: build fetch
	LB_PORT=$(PORT) LEPTOS_SITE_ROOT=$(SITE) scripts/deploy/replicas.sh $(N)

# Failover under load through haproxy: SIGKILL one replica, SIGTERM another, restart both; fails
# unless every request was answered by a replica (200, or its own 429/503). Not a test: ~1 min.
replicas-test: build fetch
	cargo build --release -p server --example load
	LEPTOS_SITE_ROOT=$(SITE) scripts/deploy/failover.sh

test:
	scripts/setup-tools.sh --browser
	$(MAKE) lint fetch site
	$(MAKE) check-deploy
	cargo test --release -p models -p server -p api_types
	$(MAKE) test-oip
	$(MAKE) bench-smoke
	cargo test --release -p app --features ssr
	node end2end/e2e.mjs

# The Open Inference Protocol through its reference client, tritonclient[http] (a venv under the
# cache), against the release server on a loopback port: all four tasks. scripts/test/oip.sh.
.PHONY: test-oip
test-oip: fetch
	scripts/test/oip.sh

tools:
	scripts/setup-tools.sh

server:
	cargo build --release -p server

fetch: server
	$(BIN) models fetch
	$(BIN) models list

site: tools
	scripts/build-site.sh $(SITE)

build: site server

lint:
	cargo fmt --all -- --check
	cargo clippy --release -p models -p server --all-targets -- -D warnings
	cargo clippy --release -p frontend --target wasm32-unknown-unknown -- -D warnings
	@# candle must never reach the browser bundle.
	@if cargo tree -p frontend --target wasm32-unknown-unknown -e normal | grep -q candle; then \
	  echo "candle is in the wasm dependency graph"; exit 1; fi
	@# Licences, banned crates and sources of the dependency graph (deny.toml). Not advisories:
	@# their database is a git repository beyond the package registries; run
	@# `cargo deny check advisories` where a network allows.
	cargo deny check --hide-inclusion-graph licenses bans sources

# Deployment checks (part of `make test`): kubectl renders deploy/base and each overlay, every
# candlelit variable they set is one the binary reads, checkov passes on the rendered manifests
# and the Dockerfile (venv: scripts/deploy/pyenv-checkov.sh), and THIRD_PARTY.md matches what
# ships (scripts/licenses/third-party.py).
.PHONY: check-deploy
check-deploy: server
	scripts/deploy/check-manifests.sh $(BIN)
	scripts/licenses/third-party.py --check

# Regenerates models/tests/golden from the reference runtimes: TF.js (npm) for the graph models,
# PyTorch (PyPI, in a venv under the cache) for EfficientNet-Lite0 and transformers for SmolLM2.
# Not part of `make test`: the goldens are committed; this is how they were made.
golden: tools fetch
	cargo run --release -p models --example parity_inputs -- $(CANDLELIT_MODEL_DIR) $(CARGO_TARGET_DIR)/parity
	CANDLELIT_NPM_DIR=$(CACHE)/npm node scripts/golden/segmentation.mjs $(CARGO_TARGET_DIR)/parity models/tests/golden/segmentation
	CANDLELIT_NPM_DIR=$(CACHE)/npm node scripts/golden/detection.mjs $(CARGO_TARGET_DIR)/parity models/tests/golden/detection
	scripts/golden/pyenv.sh
	$(CACHE)/py/bin/python scripts/golden/classification.py $(CARGO_TARGET_DIR)/parity models/tests/golden/classification
	$(CACHE)/py/bin/python scripts/golden/summarization.py $(CANDLELIT_MODEL_DIR)/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf models/tests/golden/summarization

# Regenerates the random-initialised twins in models/tests/twins with the reference frameworks
# (torchvision, transformers, ultralytics; a venv under the cache). Not part of `make test`: the
# fixtures are committed, and the parity tests in models/tests/twin_*.rs read them.
twins:
	scripts/golden/pyenv.sh tools/requirements-twins.txt py-twins
	for s in deeplab segformer yolov8 seq2seq; do $(CACHE)/py-twins/bin/python scripts/twins/$$s.py; done

# Full-size twins of the torchvision checkpoints (21 classes, aux head, 520x520), too large to
# commit: made into the cache and checked by the opt-in (ignored) parity test.
twins-full:
	scripts/golden/pyenv.sh tools/requirements-twins.txt py-twins
	$(CACHE)/py-twins/bin/python scripts/twins/full_size.py $(CACHE)/twins-full
	CANDLELIT_FULL_TWINS=$(CACHE)/twins-full cargo test --release -p models --test twin_deeplab -- --ignored --nocapture

# Benchmark (not a test): candle vs TF.js on the same files and inputs, alternating.
bench: tools fetch
	cargo build --release -p models --example bench_segment --example bench_vision --example parity_inputs
	$(CARGO_TARGET_DIR)/release/examples/parity_inputs $(CANDLELIT_MODEL_DIR) $(CARGO_TARGET_DIR)/parity
	CANDLELIT_NPM_DIR=$(CACHE)/npm node scripts/bench/run.mjs \
	  --segment $(CARGO_TARGET_DIR)/release/examples/bench_segment \
	  --vision $(CARGO_TARGET_DIR)/release/examples/bench_vision \
	  --python $${CANDLELIT_PY:-$(CACHE)/py/bin/python} \
	  $(CANDLELIT_MODEL_DIR) $(CARGO_TARGET_DIR)/parity 30 2

# The benchmark examples, one iteration each (part of `make test`, so they cannot rot; `cargo
# test` has just built them).
EX := $(CARGO_TARGET_DIR)/release/examples
bench-smoke:
	$(EX)/bench_vision $(CANDLELIT_MODEL_DIR) 1 --json
	$(EX)/bench_segment $(CANDLELIT_MODEL_DIR) 1 --json
	$(EX)/bench_summarize $(CANDLELIT_MODEL_DIR)/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf 1 both
	$(EX)/bench_qkernel 1 1
	$(EX)/bench_depthwise 1
	$(EX)/bench_gemm 1

# Races (not a test): `make bench` with ONNX Runtime as a third classifier reference, then candle
# against llama.cpp on the SmolLM2 GGUF; each alternates with candle in one run (venv:
# scripts/bench/pyenv-bench.sh, which builds llama.cpp without AMX).
bench-race: tools fetch
	scripts/bench/pyenv-bench.sh
	CANDLELIT_PY=$${CANDLELIT_PY:-$(CACHE)/py-bench/bin/python} CANDLELIT_PY_BENCH=$(CACHE)/py-bench/bin/python $(MAKE) bench
	cargo build --release -p models --example bench_summarize
	python3 scripts/bench/summarize_race.py --candle $(CARGO_TARGET_DIR)/release/examples/bench_summarize \
	  --python $(CACHE)/py-bench/bin/python $(CANDLELIT_MODEL_DIR)/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf 3 3

# HTTP race (not a test): candlelit against the FastAPI + uvicorn + PyTorch peer the seeds build,
# same classifier and upload, at 1/4/16/64 clients for LOAD_SECONDS each; cold start, peak RSS.
bench-http: fetch
	scripts/bench/pyenv-bench.sh
	cargo build --release -p server --example load
	$(CACHE)/py-bench/bin/python scripts/bench/http_race.py --candlelit $(BIN) \
	  --load $(CARGO_TARGET_DIR)/release/examples/load --model-dir $(CANDLELIT_MODEL_DIR) --seconds $${LOAD_SECONDS:-10}

# Load benchmark (not a test): the real server on loopback at 1/4/16/64 clients, batching off
# and on. ROUTE and LOAD_SECONDS pick what and how long.
bench-load: fetch
	cargo build --release -p server --example load
	scripts/bench/load.sh $${ROUTE:-/api/v1/segment/selfie} $${LOAD_SECONDS:-10}

# HTTP overhead (not a test): one image through the route and through the model call directly.
bench-overhead: fetch
	cargo run --release -p server --example overhead -- $(CANDLELIT_MODEL_DIR) 50

# API fuzzing (not a test: random and minutes long): schemathesis over the OpenAPI spec; no 500,
# every error in the one shape, answers as documented, and the server still healthy after.
fuzz: fetch site
	scripts/fuzz/run.sh $${FUZZ_EXAMPLES:-25}

# Native fuzzing (not a test): cargo-fuzz on nightly over the byte parsers, FUZZ_SECONDS each.
fuzz-native: fetch
	scripts/fuzz/native.sh $${FUZZ_SECONDS:-600}

# Regenerates the hostile-input corpus in server/tests/hostile (committed; read by
# server/tests/hostile.rs) with Pillow in a venv under the cache.
corpus:
	scripts/lib/pyenv.sh tools/requirements-corpus.txt py-corpus
	$(CACHE)/py-corpus/bin/python scripts/hostile/make_corpus.py

# Soak (not a test): all four tasks at a steady rate for SOAK_MINUTES, RSS sampled each second.
soak: fetch site
	LEPTOS_SITE_ROOT=$(SITE) python3 scripts/soak/soak.py --bin $(BIN) --minutes $${SOAK_MINUTES:-30} --out $(CACHE)/soak.csv

# Peak RSS under CLIENTS concurrent uploads of MEGAPIXELS each (not a test).
burst: fetch site
	LEPTOS_SITE_ROOT=$(SITE) python3 scripts/soak/burst.py --bin $(BIN) --clients $${CLIENTS:-48} --megapixels $${MEGAPIXELS:-12}

fmt:
	cargo fmt --all

clean:
	rm -rf $(SITE) model-store

# The Dockerfile built with Debian's buildah (base images bootstrapped from Debian packages when
# no registry is reachable): candlelit:latest (weights baked) and candlelit:no-weights, with
# their sizes. IMAGE_TARGET_CPU picks the CPU baseline (x86-64-v3). deploy/IMAGE.md.
.PHONY: image image-test
image:
	scripts/image/build.sh

# The built images run: entrypoint as uid 10001 under `buildah run`, cold start to /readyz, one
# request per task, writes outside the store and /tmp refused, deploy/hosted examples parse.
# Not in `make test` (needs `make image`; minutes).
image-test:
	scripts/image/test.sh
