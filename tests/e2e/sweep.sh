#!/bin/sh
# End-to-end tests of `nnbench sweep`: the job list, one process against two
# MPI ranks (same metrics), a sweep killed with SIGKILL and resumed (every
# job exactly once), a failing job recorded without stopping the sweep, and
# bad sweep files. Usage: NNBENCH=build/nnbench sh tests/e2e/sweep.sh
. "$(dirname "$0")/lib.sh"


# sweep_file NAME EXTRA: both strategies over four weight widths, EXTRA models.
sweep_file() { tiny_sweep "$1" "cache-$1" "naive, reform" "3, 4, 6, 8" "$2"; }

# metrics CSV: the deterministic columns of runs.csv (ok rows: no commas in
# their quoted fields), sorted by job.
metrics() {
    grep -v '"failed"' "$1" | tr -d '"' | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { print $col["job"], $col["status"], $col["orig_accuracy"], $col["compiled_accuracy"],
                $col["core_ops"], $col["cores"], $col["cores_lower_bound"], $col["traffic"],
                $col["neurons"], $col["weights_bits"] }' | sort
}

# --- dry run ------------------------------------------------------------------
sweep_file tiny ""
"$NNBENCH" sweep "$TMP/tiny.ini" --dry-run >"$TMP/dry" 2>"$TMP/err"
if [ $? -eq 0 ] && grep -q "^8 jobs, 1 trainings" "$TMP/dry" && [ "$(grep -c '^job ' "$TMP/dry")" -eq 8 ]; then
    ok "--dry-run lists 8 jobs and 1 training"
else
    bad "--dry-run: $(tail -1 "$TMP/dry")"
fi
[ -e "$TMP/tiny.h5" ] && bad "--dry-run wrote results" || ok "--dry-run writes nothing"
# Every shipped sweep file loads and expands (paper.ini once outgrew the job limit unnoticed).
before=$failed
for f in "$ROOT"/configs/*.ini; do
    (cd "$ROOT" && "$NNBENCH" sweep "configs/$(basename "$f")" --dry-run) >"$TMP/dry" 2>"$TMP/err" ||
        bad "configs/$(basename "$f") --dry-run: $(tail -1 "$TMP/err")"
done
[ "$failed" -eq "$before" ] && ok "every configs/*.ini sweep expands"

# --- one process, then two ranks: the same metrics ------------------------------
if "$NNBENCH" "$TMP/tiny.ini" >"$TMP/out" 2>"$TMP/err" && [ -s "$TMP/tiny/runs.csv" ]; then
    ok "sweep in one process (nnbench FILE.ini)"
else
    bad "sweep in one process"
fi
rows=$(($(wc -l <"$TMP/tiny/runs.csv") - 1))
[ "$rows" -eq 8 ] && ok "runs.csv has the 8 jobs" || bad "runs.csv has $rows rows, not 8"
grep -q "jobs done" "$TMP/err" && ok "progress on stderr" || bad "no progress lines on stderr"
if command -v mpirun >/dev/null; then
    sweep_file tiny2 ""
    if mpirun --oversubscribe -n 2 "$NNBENCH" "$TMP/tiny2.ini" >"$TMP/out" 2>"$TMP/err"; then
        ok "sweep on two MPI ranks"
    else
        bad "sweep on two MPI ranks"
    fi
    if [ -s "$TMP/tiny2/runs.csv" ] && [ "$(metrics "$TMP/tiny/runs.csv" | sed 's/^/x/')" = \
        "$(metrics "$TMP/tiny2/runs.csv" | sed 's/^/x/')" ]; then
        ok "one rank and two ranks give the same /runs metrics"
    else
        bad "one rank and two ranks differ"
        metrics "$TMP/tiny/runs.csv" >"$TMP/m1"; metrics "$TMP/tiny2/runs.csv" >"$TMP/m2"
        diff "$TMP/m1" "$TMP/m2" | head -5
    fi
    tr -d '"' <"$TMP/tiny2/runs.csv" |
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "rank") c = i; next } { print $c }' | sort -u | tr '\n' ' ' >"$TMP/ranks"
    [ "$(cat "$TMP/ranks")" = "0 1 " ] && ok "both ranks ran jobs" || bad "ranks that ran jobs: $(cat "$TMP/ranks")"
else
    echo "skip: mpirun not installed"
fi

# --- SIGKILL mid-sweep, then resume ---------------------------------------------
sweep_file kill ""
cat >>"$TMP/kill.ini" <<EOF

[axis.crossbar]
key    = crossbar.rows, crossbar.cols
values = 64, 128, 256
EOF
"$NNBENCH" "$TMP/kill.ini" >/dev/null 2>"$TMP/kill.log" &
pid=$!
tries=0
until grep -q " [3-9]/24 jobs done\| 1[0-9]/24 jobs done" "$TMP/kill.log" 2>/dev/null || [ $tries -gt 600 ]; do
    sleep 0.05
    tries=$((tries + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if grep -q "finished" "$TMP/kill.log"; then
    bad "the sweep finished before it could be killed (make its jobs longer)"
else
    ok "sweep killed with SIGKILL after $(grep -c 'jobs done' "$TMP/kill.log") jobs"
fi
# The HDF5 file is rewritten every few seconds (the journal holds every job at once):
# after the kill it is absent or whole.
if [ ! -e "$TMP/kill.h5" ] || h5dump -H "$TMP/kill.h5" >/dev/null 2>&1; then
    ok "results file absent or readable after SIGKILL"
else
    bad "results file broken after SIGKILL"
fi
[ -s "$TMP/kill.h5.journal" ] && ok "the journal holds the finished jobs" || bad "no journal after SIGKILL"
"$NNBENCH" "$TMP/kill.ini" >/dev/null 2>"$TMP/err"
rc=$?
grep -q "resuming" "$TMP/err" && ok "restart resumes" || bad "restart did not say it resumed"
total=$(($(wc -l <"$TMP/kill/runs.csv") - 1))
unique=$(awk -F'"' 'NR > 1 { print $2 }' "$TMP/kill/runs.csv" | sort -u | wc -l)
if [ $rc -eq 0 ] && [ "$total" -eq 24 ] && [ "$unique" -eq 24 ] && [ ! -e "$TMP/kill.h5.journal" ]; then
    ok "after the restart every job is there exactly once (24), the journal folded in"
else
    bad "after the restart: exit $rc, $total rows, $unique distinct jobs (want 24)"
fi

# --- a failing job is recorded, the others run ----------------------------------
head -c 300 /dev/urandom >"$TMP/garbage.onnx"
sweep_file failing ", broken"
printf '\n[model.broken]\nfile = %s\ndataset = mnist\n' "$TMP/garbage.onnx" >>"$TMP/failing.ini"
"$NNBENCH" "$TMP/failing.ini" >/dev/null 2>"$TMP/err"
rc=$?
failed_rows=$(grep -c ',"failed",' "$TMP/failing/runs.csv" 2>/dev/null)
ok_rows=$(grep -c ',"ok",' "$TMP/failing/runs.csv" 2>/dev/null)
if [ $rc -eq 1 ] && [ "$failed_rows" -eq 8 ] && [ "$ok_rows" -eq 8 ] && grep -q "garbage.onnx" "$TMP/failing/runs.csv"; then
    ok "failing jobs are recorded with their error; the sweep finishes (exit 1)"
else
    bad "failing jobs: exit $rc, $failed_rows failed rows, $ok_rows ok rows"
fi

# --- bad sweep files ------------------------------------------------------------
printf '[sweep]\nname = x\nmodels = mlp\nhw = tianji-ann\nstrategies = naive\nspeed = 3\n' >"$TMP/badkey.ini"
expect 2 "badkey.ini: \[sweep\] speed: unknown key" "sweep: unknown key" -- "$NNBENCH" sweep "$TMP/badkey.ini"
printf '[sweep]\nname = x\nmodels = mlp\nhw = tianji-ann\nstrategies = naive\n[axis.a]\nkey = weights.bits\nvalues = 4, 99\n' \
    >"$TMP/badaxis.ini"
expect 2 "badaxis.ini: \[axis.a\] values:.*weights.bits" "sweep: axis value out of range" -- \
    "$NNBENCH" sweep "$TMP/badaxis.ini"
printf '[sweep]\nname = x\nhw = tianji-ann\nstrategies = naive\n' >"$TMP/nomodels.ini"
expect 2 "nomodels.ini: \[sweep\] models: missing" "sweep: no models" -- "$NNBENCH" sweep "$TMP/nomodels.ini"
printf '[sweep]\nname = x\nmodels = nosuchnet\nhw = tianji-ann\nstrategies = naive\n' >"$TMP/nozoo.ini"
expect 2 "nozoo.ini: \[model.nosuchnet\] zoo" "sweep: unknown zoo model" -- "$NNBENCH" sweep "$TMP/nozoo.ini"
expect 2 "sweep file is required" "sweep without a file" -- "$NNBENCH" sweep

finish
