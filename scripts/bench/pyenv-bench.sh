#!/usr/bin/env bash
# Creates (idempotently) the venv of the runtimes candlelit is raced against (`make bench-race`,
# `make bench-http`): ~/.cache/candlelit/py-bench from tools/requirements-bench.txt, through
# scripts/golden/pyenv.sh (which skips the install when the requirements are unchanged), at the
# lowest CPU priority.
#
# llama-cpp-python compiles llama.cpp from source during the install. Its CPU features are
# stated, not detected by GGML_NATIVE: one VM kind here advertises AMX (amx_tile, amx_int8) but
# executing AMX instructions dies with "Illegal instruction", and GGML_NATIVE would pick them.
# So native is off, AMX is off, and each other x86 feature is on exactly when /proc/cpuinfo
# lists it (an AVX2-only EPYC gets no AVX-512; an AVX-512 Xeon gets it through VNNI/VBMI/BF16).
# After the install the library's own feature report is checked for AMX.
# Usage: scripts/bench/pyenv-bench.sh      then: ~/.cache/candlelit/py-bench/bin/python ...
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}/py-bench"
REQ=tools/requirements-bench.txt

FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$FLAGS" == *" $1 "* ]] && echo ON || echo OFF; }
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=$(has avx) -DGGML_AVX2=$(has avx2) \
-DGGML_FMA=$(has fma) -DGGML_F16C=$(has f16c) -DGGML_BMI2=$(has bmi2) -DGGML_AVX_VNNI=$(has avx_vnni) \
-DGGML_AVX512=$(has avx512f) -DGGML_AVX512_VNNI=$(has avx512_vnni) \
-DGGML_AVX512_VBMI=$(has avx512vbmi) -DGGML_AVX512_BF16=$(has avx512_bf16) \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
echo "[pyenv-bench] llama.cpp CMAKE_ARGS: $CMAKE_ARGS"
export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
# pip reuses a wheel it built earlier whatever CMAKE_ARGS say now: drop any cached build.
if [[ "$(cat "$VENV/.ready" 2>/dev/null || true)" != "$(sha256sum "$ROOT/$REQ" | cut -c1-16)" ]]; then
  python3 -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
fi
nice -n 19 "$ROOT/scripts/golden/pyenv.sh" "$REQ" py-bench

"$VENV/bin/python" - <<'PY'
import sys, llama_cpp
info = llama_cpp.llama_print_system_info().decode()
print("[pyenv-bench] llama.cpp", llama_cpp.__version__, "CPU:", info.strip())
if "AMX" in info:
    sys.exit("[pyenv-bench] llama.cpp was built with AMX, which crashes here: "
             "rm -rf the venv, `pip cache purge`, and rerun")
PY
