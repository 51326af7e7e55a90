#!/usr/bin/env bash
# Issue 19's `--full` runs, for a GPU (see ../shared/gpu/README.md): the experiments whose
# default is shortened to fit 15 minutes on 2 CPU cores, at the scale their claims need:
# dropout and ensembles on the full training set (54,000) with the shipped channels (32, 64)
# and longer budgets; augmentation with a 160-epoch budget for every arm (its own subset);
# speedrun's Fashion-MNIST task (93%), with the times on this GPU.
# Prepare once here: ../shared/gpu/prepare.sh; then, through the device tool with `.gpu` carried:
#   bash tools/gpu/experiments_full.sh [NAME ...]        (default: all four, in this order)
# Each experiment's table, result.json and pictures go to $OUT/results/NAME (or
# /tmp/experiments_full); bring them back into experiments/results/NAME/ by hand, after
# reading them (speedrun's times are the GPU's: its CPU table stays, the GPU's goes to
# experiments/results/speedrun/gpu/). Runs finished in $OUT/runs are reused by a second call.
set -euo pipefail
source .gpu/preamble.sh
out=${OUT:-/tmp/experiments_full}
mkdir -p "$out/results" "$out/runs"
# The experiments name the dataset `fashion_mnist`, read from Debian's folder: the preamble's
# copy of the IDX files stands in for it.
if [ ! -e /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu/fm" /usr/share/datasets/fashion-mnist \
    || { echo "cannot link .gpu/fm to /usr/share/datasets/fashion-mnist" | tee "$out/failed.txt"; exit 1; }
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(dropout augmentation ensembles speedrun)
for name in "${names[@]}"; do
  start=$(date +%s)
  python3 -m tools.cli experiments run "$name" --full --workdir "$out/runs/$name" --out "$out/results" \
    > "$out/$name.txt" 2>&1 || echo "$name failed" >> "$out/failed.txt"
  echo "$name: $(( $(date +%s) - start )) s" | tee -a "$out/times.txt"
  tail -n 4 "$out/$name.txt"
done
