#!/bin/sh
# Retrains every zoo model with its default (seeded) recipe into models/.
# Usage: sh tools/zoo.sh build/nnbench [MODEL...]
# The CIFAR-10 models take hours on 2 cores; name models to train a subset.
set -eu
NNBENCH=$1
shift
[ $# -gt 0 ] || set -- mlp lenet5 lenet5-fashion-mnist fcnn vgg-small resnet20 inception-lite alexnet-lite
mkdir -p models
for m in "$@"; do
    case $m in
        lenet5-fashion-mnist) args="--model lenet5 --dataset fashion-mnist" ;;
        *) args="--model $m" ;;
    esac
    echo "== $m"
    # shellcheck disable=SC2086
    "$NNBENCH" train $args --json -o "models/$m.h5" >"models/.$m.json"
    cat "models/.$m.json"
    # models/zoo.jsonl keeps one line per model: its latest training.
    { grep -v "\"file\":\"models/$m.h5\"" models/zoo.jsonl 2>/dev/null; cat "models/.$m.json"; } >models/zoo.jsonl.new
    mv models/zoo.jsonl.new models/zoo.jsonl
    rm -f "models/.$m.json"
done
