#!/bin/sh
# The bad-input table (tests/bad_inputs/cases.txt): every malformed input must
# give its exit status and a one-line message naming the file and the
# problem, and must leave no output behind. Run from the source tree:
#   NNBENCH=build/nnbench sh tests/bad_inputs/run.sh
. tests/e2e/lib.sh
B=$ROOT/tests/bad_inputs/files
D=$TMP/derived
T=$TMP/scratch
N=$NNBENCH
mkdir -p "$D" "$T"
export N B D T

# Derived inputs: cut or mislabelled copies of files the project makes itself.
size() { wc -c <"$1" | tr -d ' '; }
head -c 3000 models/mlp.h5 >"$D/mlp-truncated.h5"
"$N" compile models/mlp.h5 --hw tianji-ann --strategy naive -o "$D/prog.h5" >/dev/null 2>&1 ||
    echo "run.sh: could not compile models/mlp.h5 for the program cases"
[ -f "$D/prog.h5" ] && head -c $(($(size "$D/prog.h5") / 2)) "$D/prog.h5" >"$D/prog-truncated.h5"
ONNX=$ROOT/../shared/models/onnx/mnist-8.onnx
[ -f "$ONNX" ] && head -c $(($(size "$ONNX") / 3)) "$ONNX" >"$D/mnist-8-truncated.onnx"

# regex_quote TEXT: TEXT as a literal grep -E pattern.
regex_quote() { printf '%s' "$1" | sed 's/[][\.*^$()+?{}|]/\\&/g'; }

# bad_input_of COMMAND: the path @F stands for.
bad_input_of() {
    for word in $1; do
        case $word in
        NNBENCH_DATA=*) echo "${word#NNBENCH_DATA=}"; return ;;
        esac
    done
    for word in $1; do
        case $word in
        "$B"* | "$D"* | "$T"*) echo "$word"; return ;;
        esac
    done
}

cases=0
while IFS= read -r line; do
    case $line in '#'* | '') continue ;; esac
    status=$(printf '%s' "$line" | awk -F' [|] ' '{ print $1 }')
    pattern=$(printf '%s' "$line" | awk -F' [|] ' '{ print $2 }')
    name=$(printf '%s' "$line" | awk -F' [|] ' '{ print $3 }')
    command=$(printf '%s' "$line" | awk -F' [|] ' '{ print $4 }')
    cases=$((cases + 1))
    expanded=$(eval "printf '%s' \"$command\"")
    file=$(bad_input_of "$expanded")
    case $pattern in
    *@F*)
        case $file in
        "$D"*) [ -e "$file" ] || { bad "$name (its input $file was not made; see above)"; continue; } ;;
        esac
        quoted=$(regex_quote "$file")
        pattern=$(printf '%s' "$pattern" | awk -v f="$quoted" '{ gsub(/@F/, f); print }')
        ;;
    esac
    before=$(ls -A "$T" "$B" | wc -l)
    sh -c "$expanded" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    after=$(ls -A "$T" "$B" | wc -l)
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne "$status" ]; then
        bad "$name (exit $rc, expected $status)"
    elif [ "$lines" -ne 1 ]; then
        bad "$name (expected a one-line message, got $lines lines)"
    elif ! grep -Eq -- "$pattern" "$TMP/err"; then
        bad "$name (message does not match '$pattern')"
    elif [ "$before" -ne "$after" ]; then
        bad "$name (left files behind in $T or $B)"
    else
        ok "$name"
    fi
done <tests/bad_inputs/cases.txt
[ "$cases" -ge 40 ] || bad "the table has $cases cases, fewer than 40"
finish
