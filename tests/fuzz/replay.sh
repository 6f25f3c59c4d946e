#!/bin/sh
# replay.sh BUILD TARGET...: every kept regression input
# (tests/fuzz/regressions/TARGET/) and every seed of the corpus, once, through
# BUILD/fuzz/replay_TARGET (the ASan/UBSan build in make test). Any crash or
# sanitizer report fails.
set -u
BUILD=$1
shift
# HDF5-internal leaks on damaged files are not ours (lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
SEEDS=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)  # each input is written to a file here
trap 'rm -rf "$SEEDS"' EXIT
sh tests/fuzz/seeds.sh "$BUILD/nnbench" "$SEEDS" || { echo "fuzz replay: could not make the seeds"; exit 1; }
passed=0 failed=0
for t in "$@"; do
    files=$(ls "$SEEDS/$t"/* tests/fuzz/regressions/"$t"/* 2>/dev/null)
    n=$(echo "$files" | grep -c .)
    if TMPDIR=$SEEDS "$BUILD/fuzz/replay_$t" $files >"$SEEDS/log" 2>&1; then
        passed=$((passed + 1)); echo "ok   fuzz replay $t: $n inputs"
    else
        failed=$((failed + 1)); echo "FAIL fuzz replay $t"; tail -20 "$SEEDS/log"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
