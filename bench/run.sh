#!/bin/sh
# make bench: nnbench's training and inference throughput against the OpenBLAS
# sgemm peak and PyTorch CPU, measured in this run on this machine with the same
# models (read from the same INI files), batches and thread count.
#
# Usage: sh bench/run.sh [./build/nnbench]     (run from the source tree)
# Environment:
#   BENCH_THREADS   threads for both sides (default: nproc)
#   BENCH_PROFILE=1 also per-layer timings of both sides (where nnbench is slow)
#   BENCH_MODELS    space-separated zoo names (default: lenet5 vgg-small)
#   BENCH_PYTHON    interpreter with torch (default: /usr/bin/python3, Debian's python3-torch)
# Prints the table and writes it to results/bench.txt (PyTorch's raw figures:
# results/bench-torch.tsv).
set -u
NNBENCH=${1:-./build/nnbench}
BENCH_BIN=$(dirname "$NNBENCH")/nnbench-bench
THREADS=${BENCH_THREADS:-$(nproc 2>/dev/null || echo 1)}
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
MODELS=${BENCH_MODELS:-lenet5 vgg-small}
OUT=results

if [ ! -x "$BENCH_BIN" ]; then
    echo "bench/run.sh: $BENCH_BIN not found: build it with 'make bench'" >&2
    exit 2
fi
# One thread count for every pool: nn's OpenMP loops, OpenBLAS, and PyTorch
# (which both programs also set explicitly).
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
mkdir -p "$OUT" || exit 1

model_args=""
for m in $MODELS; do model_args="$model_args --model $m"; done
profile=""
[ "${BENCH_PROFILE:-0}" = 1 ] && profile=--profile

# PyTorch first, so that nnbench-bench can print the combined table.
torch_args=""
torch_note=""
if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "bench: PyTorch CPU reference ($PYTHON, $THREADS threads)..." >&2
    # shellcheck disable=SC2086 # word splitting of the option lists is intended
    if "$PYTHON" bench/torch_bench.py --threads "$THREADS" $model_args $profile \
        >"$OUT/bench-torch.tsv.tmp"; then
        mv "$OUT/bench-torch.tsv.tmp" "$OUT/bench-torch.tsv"
        torch_args="--torch $OUT/bench-torch.tsv"
    else
        rm -f "$OUT/bench-torch.tsv.tmp" "$OUT/bench-torch.tsv"
        torch_note="bench/torch_bench.py failed, see its message above"
    fi
else
    torch_note="$PYTHON cannot import torch; 'make bench-deps' installs Debian's python3-torch"
    rm -f "$OUT/bench-torch.tsv"
    echo "bench: skipping PyTorch: $torch_note" >&2
fi

echo "bench: nnbench ($BENCH_BIN, $THREADS threads)..." >&2
# shellcheck disable=SC2086
if [ -n "$torch_args" ]; then
    "$BENCH_BIN" --threads "$THREADS" $model_args $profile $torch_args >"$OUT/bench.txt.tmp"
else
    "$BENCH_BIN" --threads "$THREADS" $model_args $profile --torch-note "$torch_note" \
        >"$OUT/bench.txt.tmp"
fi
rc=$?
if [ $rc -ne 0 ]; then
    cat "$OUT/bench.txt.tmp"
    rm -f "$OUT/bench.txt.tmp"
    echo "bench: nnbench-bench failed (exit $rc)" >&2
    exit 1
fi
mv "$OUT/bench.txt.tmp" "$OUT/bench.txt"
echo
cat "$OUT/bench.txt"
echo "(written to $OUT/bench.txt)"
