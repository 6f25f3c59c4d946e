#!/bin/sh
# run.sh BUILD SECONDS TARGET...: make fuzz's driver. Seeds BUILD/corpus/TARGET
# (kept between runs, so coverage accumulates), then runs each target for
# SECONDS on one process (or until FUZZ_RUNS executions, if set: issue 8
# asks for 10 minutes or a million); crashes, leaks and timeouts go to
# BUILD/crashes/TARGET/. Prints executions, seconds and coverage per target
# and fails if any target found something.
set -u
BUILD=$1 SECONDS_EACH=$2
shift 2
# HDF5-internal leaks on damaged files are not ours (lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
SEEDS=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)  # each input is written to a file here
trap 'rm -rf "$SEEDS"' EXIT
sh tests/fuzz/seeds.sh "$BUILD/nnbench" "$SEEDS" || exit 1
found=0
for t in "$@"; do
    corpus=$BUILD/corpus/$t crashes=$BUILD/crashes/$t
    mkdir -p "$corpus" "$crashes"
    cp -n "$SEEDS/$t"/* tests/fuzz/regressions/"$t"/* "$corpus/" 2>/dev/null
    log=$BUILD/fuzz-$t.log
    start=$(date +%s)
    TMPDIR=$SEEDS "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -runs="${FUZZ_RUNS:--1}" -timeout=20 \
        -rss_limit_mb=4096 -max_len=1048576 -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        found=1
        echo "FAIL fuzz $t: exit $rc after ${execs:-?} executions in ${took}s; see $log and $crashes/"
    else
        echo "ok   fuzz $t: ${execs:-?} executions in ${took}s, $cov, $ft, corpus $(ls "$corpus" | wc -l)"
    fi
done
exit $found
