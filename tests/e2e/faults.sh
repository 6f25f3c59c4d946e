#!/bin/sh
# Fault tests of `nnbench sweep` (issue 8): a worker rank killed mid-sweep
# (the sweep stops, and resumes with every job exactly once), a disk that
# fills up and an output that cannot be written (a clear error, the results
# already there intact), and a corrupted cached model (caught by its seal,
# trained again, never used). Usage: NNBENCH=build/nnbench sh tests/e2e/faults.sh
. "$(dirname "$0")/lib.sh"

# sweep_file NAME CACHE [BITS]: naive, one job per weight width.
sweep_file() { tiny_sweep "$1" "$2" naive "${3:-4, 8}"; }
rows_of() { [ -s "$1" ] && echo $(($(wc -l <"$1") - 1)) || echo 0; }
accuracies() {
    tr -d '"' <"$1" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { print $c["job"], $c["orig_accuracy"], $c["compiled_accuracy"] }' | sort
}

# --- a corrupted cached model ----------------------------------------------------
sweep_file first cache
if "$NNBENCH" "$TMP/first.ini" >/dev/null 2>"$TMP/err" && ls "$TMP"/cache/*.h5.crc32 >/dev/null 2>&1; then
    ok "a trained model is cached with its seal"
else
    bad "first sweep: $(tail -1 "$TMP/err")"
fi
model=$(ls "$TMP"/cache/*.h5 | head -1)
size=$(wc -c <"$model")
# One byte in the middle of the file (the weights): the file still opens.
printf '\377' | dd of="$model" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
sweep_file again cache
"$NNBENCH" "$TMP/again.ini" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "cached model .* not used (.*CRC-32.*); training it again" "$TMP/err"; then
    ok "a corrupted cached model is detected by its checksum and trained again"
else
    bad "corrupted cache: exit $rc, $(grep -v 'jobs done' "$TMP/err" | tail -1)"
fi
first=$(accuracies "$TMP/first/runs.csv" 2>/dev/null)
if [ -n "$first" ] && [ "$first" = "$(accuracies "$TMP/again/runs.csv" 2>/dev/null)" ]; then
    ok "results after retraining equal the first ones (the corrupted model was not used)"
else
    bad "results differ after retraining"
fi
"$NNBENCH" "$TMP/again.ini" >/dev/null 2>"$TMP/err2"
if [ $? -ne 0 ] || grep -q "not used" "$TMP/err2"; then bad "the retrained model was not trusted"; else ok "the retrained model is sealed and trusted"; fi

# --- an output that cannot be written, and a full disk ---------------------------
: >"$TMP/afile"
sed "s|^output .*|output     = $TMP/afile/results.h5|" "$TMP/first.ini" >"$TMP/nodir.ini"
expect 2 "afile/results.h5" "sweep: output in a folder that cannot exist" -- "$NNBENCH" "$TMP/nodir.ini"
cp "$TMP/first.h5" "$TMP/full.h5"
sweep_file full cache "3, 4, 5, 6, 8"
runs_shape() { h5dump -d /runs -H "$1" 2>/dev/null | grep -o 'DATASPACE.*' | head -1; }
before=$(runs_shape "$TMP/full.h5")
# Files may grow to 2 KiB only (ulimit -f counts 512-byte blocks in sh): the
# results rewrite fails as on a full disk.
(trap '' XFSZ; ulimit -f 4; exec "$NNBENCH" "$TMP/full.ini") >/dev/null 2>"$TMP/err"
rc=$?
after=$(runs_shape "$TMP/full.h5")
if [ $rc -ne 0 ] && grep -q "full.h5.*File too large" "$TMP/err"; then
    ok "a full disk stops the sweep with a clear error (exit $rc)"
else
    bad "full disk: exit $rc, $(tail -1 "$TMP/err")"
fi
if [ -n "$before" ] && [ "$before" = "$after" ]; then
    ok "the results already there are intact after the full disk"
else
    bad "results after the full disk: before '$before', after '$after'"
fi
"$NNBENCH" "$TMP/full.ini" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(rows_of "$TMP/full/runs.csv")" -eq 5 ]; then
    ok "with room again the sweep finishes: 5 jobs"
else
    bad "after the full disk: exit $rc, $(tail -1 "$TMP/err")"
fi

# --- a worker rank killed mid-sweep ----------------------------------------------
if command -v mpirun >/dev/null; then
    sweep_file ranks cache "2, 3, 4, 5, 6, 7, 8"
    printf '\n[axis.crossbar]\nkey    = crossbar.rows, crossbar.cols\nvalues = 64, 128, 256\n' >>"$TMP/ranks.ini"
    mpirun --oversubscribe -n 2 "$NNBENCH" "$TMP/ranks.ini" >/dev/null 2>"$TMP/ranks.log" &
    mpi=$!
    tries=0 worker=""
    until { [ -n "$worker" ] && grep -q " [2-9]/21 jobs done" "$TMP/ranks.log" 2>/dev/null; } || [ $tries -gt 1200 ]; do
        sleep 0.05
        tries=$((tries + 1))
        for pid in $(pgrep -f "nnbench $TMP/ranks.ini"); do
            tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && worker=$pid
        done
    done
    if [ -n "$worker" ] && ! grep -q finished "$TMP/ranks.log"; then
        kill -9 "$worker"
        waited=0
        while kill -0 $mpi 2>/dev/null && [ $waited -lt 300 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 $mpi 2>/dev/null; then
            bad "the sweep hangs after a worker rank was killed"
            kill -9 $mpi
        else
            ok "killing worker rank 1 stops the sweep ($(grep -c 'jobs done' "$TMP/ranks.log") progress lines before)"
        fi
        wait $mpi 2>/dev/null
        if [ ! -e "$TMP/ranks.h5" ] || h5dump -H "$TMP/ranks.h5" >/dev/null 2>&1; then
            ok "results file absent or readable after the worker died"
        else
            bad "results file broken after the worker died"
        fi
        "$NNBENCH" "$TMP/ranks.ini" >/dev/null 2>"$TMP/err"
        rc=$?
        total=$(rows_of "$TMP/ranks/runs.csv")
        unique=$(awk -F'"' 'NR > 1 { print $2 }' "$TMP/ranks/runs.csv" | sort -u | wc -l)
        if [ $rc -eq 0 ] && [ "$total" -eq 21 ] && [ "$unique" -eq 21 ] && grep -q resuming "$TMP/err"; then
            ok "the resumed sweep has every job exactly once (21)"
        else
            bad "after the resume: exit $rc, $total rows, $unique distinct (want 21)"
        fi
    else
        bad "could not find worker rank 1 before the sweep ended"
        wait $mpi
    fi
else
    echo "skip: mpirun not installed"
fi
finish
