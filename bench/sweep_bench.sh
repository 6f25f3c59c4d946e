#!/bin/sh
# make bench, sweep part: throughput of the quick sweep (configs/quick.ini)
# in one process on one thread, in one process on every core, and on 2 MPI
# ranks; the parallel efficiency at 2 ranks; and the job-time histogram
# that says how the scheduler would fare on many more ranks.
#
# Usage: sh bench/sweep_bench.sh [./build/nnbench]   (from the source tree)
# The zoo models come from the shared cache (results/cache): trained once,
# not timed. Prints the report and appends it to results/bench.txt.
set -u
NNBENCH=${1:-./build/nnbench}
case $NNBENCH in /*) ;; *) NNBENCH=$(pwd)/$NNBENCH ;; esac
OUT=results
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# variant NAME: configs/quick.ini writing into the scratch folder.
variant() {
    awk -v out="$SCRATCH/$1" '{ print } /^\[sweep\]/ { print "output = " out ".h5"; print "report = " out }' \
        configs/quick.ini >"$SCRATCH/$1.ini"
}

# timed NAME COMMAND...: runs a sweep, prints its wall seconds.
timed() {
    name=$1
    shift
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$SCRATCH/$name.log" || { echo "sweep_bench: $name failed:" >&2; tail -3 "$SCRATCH/$name.log" >&2; exit 1; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

variant warm
if "$NNBENCH" sweep "$SCRATCH/warm.ini" --dry-run | awk '/^train/ { print $NF }' | while read -r f; do
    [ -f "$f" ] || echo missing; done | grep -q missing; then
    echo "sweep_bench: training the quick sweep's models into the cache first (not timed)..." >&2
    "$NNBENCH" "$SCRATCH/warm.ini" >/dev/null 2>&1 || { echo "sweep_bench: warm-up sweep failed" >&2; exit 1; }
fi
jobs=$("$NNBENCH" sweep "$SCRATCH/warm.ini" --dry-run | grep -c '^job ')
cores=$(nproc 2>/dev/null || echo 1)

variant one
t1=$(OMP_NUM_THREADS=1 timed one "$NNBENCH" "$SCRATCH/one.ini")
variant all
tall=$(timed all "$NNBENCH" "$SCRATCH/all.ini")
variant two
t2=$(timed two mpirun --oversubscribe -n 2 "$NNBENCH" "$SCRATCH/two.ini")

# job_s and rank of every job, from the reports' CSV.
column() { tr -d '"' <"$1" | awk -F, -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) c = i; next } { print $c }'; }

# calc EXPR: floating-point arithmetic (awk, as bc is not always installed).
calc() { awk "BEGIN { print $1 }"; }

{
    echo
    echo "sweep throughput: configs/quick.ini, $jobs jobs, models cached, $cores cores"
    printf "  %-34s %8s %10s\n" "" "wall s" "jobs/min"
    printf "  %-34s %8.1f %10.1f\n" "1 process, 1 thread" "$t1" "$(calc "$jobs * 60 / $t1")"
    printf "  %-34s %8.1f %10.1f\n" "1 process, $cores threads" "$tall" "$(calc "$jobs * 60 / $tall")"
    printf "  %-34s %8.1f %10.1f\n" "mpirun -n 2 (1 thread per rank)" "$t2" "$(calc "$jobs * 60 / $t2")"
    printf "  parallel efficiency at 2 ranks: %.2f (jobs/min at 2 ranks / (2 x jobs/min at 1 rank, 1 thread))\n" \
        "$(calc "$t1 / (2 * $t2)")"
    echo "  jobs per rank at 2 ranks: $(column "$SCRATCH/two/runs.csv" rank | sort | uniq -c | awk '{ printf "rank %s: %s  ", $2, $1 }')"
    echo "  job times (1 thread, s): histogram"
    column "$SCRATCH/one/runs.csv" job_s | sort -g | awk '
        { t[NR] = $1; sum += $1
          b = $1 < 0.25 ? 0 : $1 < 0.5 ? 1 : $1 < 1 ? 2 : $1 < 2 ? 3 : $1 < 4 ? 4 : $1 < 8 ? 5 : 6; n[b]++ }
        END {
            split("<0.25 0.25-0.5 0.5-1 1-2 2-4 4-8 >=8", label, " ")
            for (i = 0; i < 7; i++) printf "    %-9s %4d %s\n", label[i + 1], n[i], substr("##################################################", 1, n[i])
            printf "    mean %.2f s, median %.2f s, longest %.2f s (%.1fx the mean), total %.1f s\n",
                sum / NR, t[int((NR + 1) / 2)], t[NR], t[NR] / (sum / NR), sum
        }'
} | tee -a "$OUT/bench.txt"
