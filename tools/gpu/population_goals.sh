#!/usr/bin/env bash
# Issue 17's GPU goal, measured in one device run (see ../shared/gpu/README.md):
#   16 seeds of the Fashion-MNIST CNN trained side by side in at most 1.5x the time of one run,
#   with which form was chosen (vmap, map, unrolled or one by one) and why; and the CPU table's
#   other models (digits MLP, MNIST-1D MLP and cnn1d, 8 seeds each).
# Prepare once here: ../shared/gpu/prepare.sh; then, through the device tool with `.gpu` carried:
#   bash tools/gpu/population_goals.sh
# Results go to $OUT (the device tool's folder) or /tmp/population_goals.
set -euo pipefail
source .gpu/preamble.sh
out=${OUT:-/tmp/population_goals}
mkdir -p "$out"
export TRICKS_CACHE="$out/cache"  # the measured choices come back with the figures
bench() {  # name, then the arguments of `tricks bench population`
  local name=$1; shift
  python3 -m tools.cli bench population "$@" > "$out/$name.txt" 2>&1 || echo "$name failed" >> "$out/failed.txt"
  tail -n 8 "$out/$name.txt"
}
bench fashion_cnn_16 --members 16 --configs experiments/configs/fashion_mnist_cnn.py \
  --config.dataset="$FM" --steps 2000 --sequential 2
bench small_8 --members 8 --configs digits mnist1d_mlp mnist1d_cnn --sequential 2
