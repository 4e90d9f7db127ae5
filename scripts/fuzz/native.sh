#!/usr/bin/env bash
# make fuzz-native: coverage-guided fuzzing of the byte parsers (fuzz/fuzz_targets/*.rs) with
# cargo-fuzz (pinned, installed into the cache like the other tools) on the nightly toolchain
# the machines carry. Each target runs for the given seconds; a finding stops that target and
# leaves its input in fuzz/artifacts/<target>/. Usage: scripts/fuzz/native.sh [seconds] [targets]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
SECS="${1:-600}"
TARGETS="${2:-image_decode tfjs_model gguf_metadata tokenizer_input catalog query}"
CARGO_FUZZ_VERSION=0.13.2
export PATH="$CACHE/tools/bin:$PATH"
if ! cargo-fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install --locked --root "$CACHE/tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
export CARGO_TARGET_DIR="$CACHE/fuzz-target"
export CANDLELIT_MODEL_DIR="${CANDLELIT_MODEL_DIR:-$ROOT/model-store}"
cd "$ROOT"
# Seeds: the hostile corpus for the decoder, the real files for the parsers.
mkdir -p fuzz/corpus/{image_decode,tfjs_model,gguf_metadata,tokenizer_input,catalog,query}
# image_decode's first byte picks the need; seed each file behind a few of them.
for f in server/tests/hostile/* "$CANDLELIT_MODEL_DIR"/samples/*.jpg; do
  [[ -f "$f" && "$f" != *.json && "$f" != *.txt && $(stat -c %s "$f") -lt 300000 ]] || continue
  for need in 0 3 5; do
    out="fuzz/corpus/image_decode/seed-$need-$(basename "$f")"
    [[ -e "$out" ]] || { printf "\\x0$need"; cat "$f"; } > "$out"
  done
done
for m in selfie nanodet; do
  # model.json, a NUL, then the first KB of its weights.
  { cat "$CANDLELIT_MODEL_DIR/$m/model.json"; printf '\0'; head -c 1024 "$CANDLELIT_MODEL_DIR/$m"/*.bin; } \
    > "fuzz/corpus/tfjs_model/$m" 2>/dev/null || true
done
head -c 65536 "$CANDLELIT_MODEL_DIR"/smollm2/*.gguf > fuzz/corpus/gguf_metadata/smollm2-head 2>/dev/null || true
cp -n models/catalog.toml fuzz/corpus/catalog/ 2>/dev/null || true
printf 'The quick brown fox jumps over the lazy dog. 1234 <|im_end|>' > fuzz/corpus/tokenizer_input/plain
printf 'output=mask&threshold=0.5&opacity=0.3&include=image,overlay' > fuzz/corpus/query/segment
printf '600/min,burst=20,key=api-key' > fuzz/corpus/query/rate
printf 'nanodet:workers=2,queue=32;selfie:max_batch=8' > fuzz/corpus/query/opts
for t in $TARGETS; do
  echo "== $t: ${SECS}s"
  # No sanitizer: libFuzzer still catches panics, aborts, timeouts and allocations past the
  # limits below (the bugs these parsers can have in safe Rust), and builds far faster.
  cargo +nightly fuzz run --sanitizer none "$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=3072 -malloc_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 2>&1 | grep -E "^(#[0-9]+ *DONE|stat::|==|INFO: Running|Done)|panicked|ERROR|SUMMARY|artifact" || true
done
