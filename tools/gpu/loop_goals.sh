#!/usr/bin/env bash
# Issue 16's GPU goals, measured in one device run (see ../shared/gpu/README.md):
#   Fashion-MNIST CNN, batch 128: the loop within 10% of the faster bare reference;
#   ResNet-20 (on Fashion-MNIST), batch 128: within 5%; and the same table as on CPU.
# Prepare once here: ../shared/gpu/prepare.sh; then, through the device tool with `.gpu` carried:
#   bash tools/gpu/loop_goals.sh
# Results go to $OUT (the device tool's folder) or /tmp/loop_goals.
set -euo pipefail
source .gpu/preamble.sh
out=${OUT:-/tmp/loop_goals}
mkdir -p "$out"
bench() {  # name, then the arguments of `tricks bench loop`
  local name=$1; shift
  python3 -m tools.cli bench loop "$@" > "$out/$name.txt" 2>&1 || echo "$name failed" >> "$out/failed.txt"
  tail -n 9 "$out/$name.txt"
}
cnn=experiments/configs/fashion_mnist_cnn.py
bench fashion_cnn --config "$cnn" --config.dataset="$FM" --steps 3000
bench resnet20_b128 --config "$cnn" --config.dataset="$FM" --config.model="resnet(depth=20)" --config.augment="[]" \
  --steps 2000
bench resnet20_b1024 --config "$cnn" --config.dataset="$FM" --config.model="resnet(depth=20)" --config.augment="[]" \
  --config.batch_size=1024 --steps 500
bench default --steps 4000
# where the CNN's calls spend their time against the bare step's, kernel by kernel (no score; for the next session)
python3 -m tools.cli bench thunks --config "$cnn" --config.dataset="$FM" --steps 500 --top 40 \
  > "$out/thunks_fashion_cnn.txt" 2>&1 || echo "thunks failed" >> "$out/failed.txt"
tail -n 6 "$out/thunks_fashion_cnn.txt"
