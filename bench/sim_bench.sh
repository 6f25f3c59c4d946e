#!/bin/sh
# make bench, simulator part: images/s of each reference simulator (ANN
# cores on tianji-ann, PIM crossbars on prime, spiking cores on tianji-snn
# at T = 16) running lenet5 and vgg-small compiled with `naive`, as a ratio
# to PyTorch float inference of the same network measured in this run
# (results/bench-torch.tsv, written by bench/run.sh just before).
#
# Usage: sh bench/sim_bench.sh [./build/nnbench]   (from the source tree)
# Prints the table and appends it to results/bench.txt.
set -u
NNBENCH=${1:-./build/nnbench}
OUT=results
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
TORCH=$OUT/bench-torch.tsv

torch_rate() { [ -f "$TORCH" ] && awk -v m="$1" '$1 == "result" && $2 == m && $3 == "infer" { print $5 }' "$TORCH"; }
field() { sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p" "$1"; }

{
    echo
    echo "simulators: naive programs, images/s on $(nproc 2>/dev/null || echo ?) threads, against PyTorch float inference"
    printf "  %-10s %-10s %-6s %10s %14s %10s %8s\n" model hw sim "images" "images/s" "PyTorch" "ratio"
    for spec in "lenet5 mnist 2000" "vgg-small cifar10 300"; do
        set -- $spec
        model=$1 dataset=$2 n=$3
        ref=$(torch_rate "$model")
        for hw in tianji-ann prime tianji-snn; do
            prog="$SCRATCH/$model-$hw.h5"
            if ! "$NNBENCH" compile "models/$model.h5" --hw "$hw" --strategy naive -o "$prog" >/dev/null 2>"$SCRATCH/err"; then
                echo "  $model on $hw: compile failed: $(cat "$SCRATCH/err")"
                continue
            fi
            # ANN and PIM twice: as this CPU runs them, then on the float
            # path that CPUs without AVX-512 VNNI take (simulators/gemm_u8.h)
            paths=default
            [ "$hw" != tianji-snn ] && paths="default float"
            for path in $paths; do
                novnni=0 mark=""
                [ "$path" = float ] && novnni=1 mark="*"
                NNBENCH_NO_VNNI=$novnni "$NNBENCH" simulate "$prog" --dataset "$dataset" --limit "$n" --json \
                    >"$SCRATCH/sim.json" 2>"$SCRATCH/err"
                rate=$(field "$SCRATCH/sim.json" images_per_s)
                sim=$(sed -n 's/.*"simulator":"\([a-z]*\)".*/\1/p' "$SCRATCH/sim.json")
                if [ -n "$ref" ] && [ -n "$rate" ]; then
                    ratio=$(awk -v a="$rate" -v b="$ref" 'BEGIN { printf "%.2fx", a / b }')
                else
                    ratio="-"
                fi
                printf "  %-10s %-10s %-6s %10s %14.1f %10s %8s\n" "$model" "$hw" "$sim$mark" "$n" "${rate:-0}" \
                    "${ref:--}" "$ratio"
            done
        done
    done
    echo "  * the float path (NNBENCH_NO_VNNI=1: sgemm instead of the AVX-512 VNNI kernels), for comparison."
    echo "  Targets: ANN >= 1.5x (issue 8), PIM and SNN (T = 16) >= 0.25x (issue 6) PyTorch float inference."
} | tee -a "$OUT/bench.txt"
