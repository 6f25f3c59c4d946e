#!/bin/sh
# seeds.sh NNBENCH DIR: a seed corpus per fuzz target in DIR/TARGET, made from
# the project's own valid files (and, for ONNX, a few of libonnx-testdata's
# node models and ../shared's mnist-8 where present). Run from the source tree.
set -eu
NNBENCH=$1 DIR=$2
for t in hw sweep model_ini onnx model_h5 program_h5 idx cifar; do mkdir -p "$DIR/$t"; done
cp configs/hw/*.ini "$DIR/hw/"
cp configs/*.ini "$DIR/sweep/"
cp configs/models/*.ini "$DIR/model_ini/"
NODE=/usr/share/libonnx-testdata/data/node
for n in test_conv_with_strides_padding test_maxpool_2d_pads test_gemm_default_single_elem_vector_bias \
         test_relu test_averagepool_2d_pads test_batchnorm_example test_concat_2d_axis_0 test_flatten_axis0 \
         test_reshape_reordered_all_dims test_transpose_default test_add_bcast test_softmax_axis_1; do
    [ -f "$NODE/$n/model.onnx" ] && cp "$NODE/$n/model.onnx" "$DIR/onnx/$n.onnx"
done
[ -f ../shared/models/onnx/mnist-8.onnx ] && cp ../shared/models/onnx/mnist-8.onnx "$DIR/onnx/"
cp models/lenet5.h5 "$DIR/model_h5/"
"$NNBENCH" compile models/mlp.h5 --hw tianji-ann --strategy naive -o "$DIR/program_h5/mlp-naive.h5" >/dev/null
# Small files fuzz better (a mutation lands in metadata, not in weights): a
# 242-parameter net after one short epoch, and its programs.
"$NNBENCH" train --model tests/fuzz/tiny.ini --epochs 1 --limit 64 --seed 1 -o "$DIR/model_h5/tiny.h5" \
    >"$DIR/train.log" 2>&1 || { cat "$DIR/train.log"; exit 1; }
for hw in tianji-ann prime tianji-snn; do
    "$NNBENCH" compile "$DIR/model_h5/tiny.h5" --hw $hw --strategy naive --dataset mnist --limit 16 \
        -o "$DIR/program_h5/tiny-$hw.h5" >/dev/null
done
# idx and CIFAR: two images each, plain and gzip.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
{ be32 2051; be32 2; be32 28; be32 28; head -c 1568 /dev/urandom; } >"$DIR/idx/images"
{ be32 2049; be32 2; printf '\003\007'; } >"$DIR/idx/labels"
{ printf '\003'; head -c 3072 /dev/urandom; printf '\011'; head -c 3072 /dev/urandom; } >"$DIR/cifar/batch"
for f in "$DIR/idx/images" "$DIR/idx/labels" "$DIR/cifar/batch"; do gzip -c "$f" >"$f.gz"; done
