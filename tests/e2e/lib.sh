# Shared by the end-to-end scripts: NNBENCH, ROOT, TMP (removed at exit),
# and the checks. Source it, run checks, end with `finish`.
set -u
NNBENCH=${NNBENCH:-build/nnbench}
case $NNBENCH in /*) ;; *) NNBENCH=$(pwd)/$NNBENCH ;; esac
ROOT=$(pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
# Open MPI refuses root unless told (CI runs as root), and is quiet about
# network fabrics a container lacks.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$TMP/err" ] && sed 's/^/     /' "$TMP/err" | head -5; }

# expect STATUS PATTERN NAME -- command...: exit status and a one-line stderr matching PATTERN.
expect() {
    status=$1 pattern=$2 name=$3
    shift 4
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne "$status" ]; then
        bad "$name (exit $rc, expected $status)"
    elif [ "$status" -ne 0 ] && [ "$lines" -ne 1 ]; then
        bad "$name (expected a one-line message, got $lines lines)"
    elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$TMP/err"; then
        bad "$name (message does not match '$pattern')"
    else
        ok "$name"
    fi
}

# tiny_sweep NAME CACHE STRATEGIES BITS [MORE_MODELS]: $TMP/NAME.ini, a small
# sweep of mlp trained 1 epoch (model "tiny") on tianji-ann, one job per
# strategy and weights.bits value, writing into $TMP.
tiny_sweep() {
    cat >"$TMP/$1.ini" <<EOF
[sweep]
name       = $1
output     = $TMP/$1.h5
report     = $TMP/$1
cache      = $TMP/$2
models     = tiny${5:-}
hw         = tianji-ann
strategies = $3
limit      = 300

[model.tiny]
zoo    = mlp
epochs = 1

[axis.weight-bits]
key    = weights.bits
values = $4
EOF
}

# json_field FILE KEY: the value of KEY in a one-line JSON object.
json_field() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1"; }

# finish: the closing "N passed, N failed" line and the exit status.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
