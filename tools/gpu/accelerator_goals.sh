#!/usr/bin/env bash
# Issue 20's GPU goals, measured in one device run (see ../shared/gpu/README.md):
#   1. bf16: `tricks bench step` (ResNet-20 batch 1024 at least 1.5x faster than float32 and ahead of
#      PyTorch's bf16 channels-last step; every model ahead of PyTorch's best at batch 128), and the
#      Fashion-MNIST CNN's test accuracy in bf16 against float32, 3 seeds each;
#   2. deterministic: two runs of the default config give bit-identical summary.json and metrics.jsonl
#      (clock readings aside); a run killed with SIGKILL and resumed ends as an uninterrupted one; and
#      what deterministic kernels cost (`tricks bench step` with deterministic=false);
#   3. fast starts: `tricks bench start` (cold against warm compilation cache);
#   4. the test suite on the machine's newer JAX.
# Prepare once here: ../shared/gpu/prepare.sh; then, through the device tool with `.gpu` carried:
#   bash tools/gpu/accelerator_goals.sh [PART ...]    (parts: start determinism step precision tests; default all;
#                                                    a device call runs 10 minutes at most: name 1-2 parts a call)
# Results go to $OUT (the device tool's folder) or /tmp/accelerator_goals.
set -uo pipefail
source .gpu/preamble.sh
out=${OUT:-/tmp/accelerator_goals}
mkdir -p "$out"
export TRICKS_CACHE=/tmp/tricks_cache
tricks() { python3 -m tools.cli "$@"; }
summary_without_clocks() {  # a workdir -> its records without wall times
  python3 - "$1" <<'EOF'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1])
timeless = lambda r: {k: v for k, v in r.items() if "time" not in k and k != "steps_per_s"}
print(json.dumps([timeless(json.loads((w / "summary.json").read_text()))]
                 + [timeless(json.loads(l)) for l in (w / "metrics.jsonl").read_text().splitlines()], sort_keys=True))
EOF
}

parts=${*:-start determinism step precision tests}
wants() { [[ " $parts " == *" $1 "* ]]; }

if wants start; then
echo "== 3. fast starts" | tee "$out/start.txt"
timeout 300 python3 -m tools.cli bench start --runs 3 >> "$out/start.txt" 2>&1; tail -n 6 "$out/start.txt"
fi

cnn=experiments/configs/fashion_mnist_cnn.py
if wants determinism; then
echo "== 2. two runs, bit for bit" | tee "$out/determinism.txt"
for r in a b; do tricks train --workdir /tmp/det_$r --config.progress=false > /dev/null 2>&1; done
if [ "$(summary_without_clocks /tmp/det_a)" == "$(summary_without_clocks /tmp/det_b)" ]; then
  echo "identical" >> "$out/determinism.txt"; else echo "DIFFERENT" >> "$out/determinism.txt"; fi
echo "== 2. SIGKILL and resume against uninterrupted" >> "$out/determinism.txt"
args=(--config "$cnn" --config.dataset="$FM" --config.num_steps=6000 --config.checkpoint_every=500 --config.progress=false)
tricks train --workdir /tmp/whole "${args[@]}" > /dev/null 2>&1
tricks train --workdir /tmp/killed "${args[@]}" > /dev/null 2>&1 &
pid=$!  # killed once its first checkpoint is written
until [ -n "$(ls /tmp/killed/checkpoints 2>/dev/null)" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.2; done
sleep 1; kill -9 $pid; wait $pid 2>/dev/null
echo "killed at: $(ls /tmp/killed/checkpoints 2>/dev/null | tr '\n' ' ')" >> "$out/determinism.txt"
tricks train --workdir /tmp/killed "${args[@]}" > /dev/null 2>&1
if [ "$(summary_without_clocks /tmp/whole)" == "$(summary_without_clocks /tmp/killed)" ]; then
  echo "identical" >> "$out/determinism.txt"; else echo "DIFFERENT" >> "$out/determinism.txt"; fi
cat "$out/determinism.txt"
fi

if wants step; then

echo "== 1. the step benchmark (deterministic kernels, the default), a model per command"
for model in mlp cnn cnn1d resnet; do
  timeout 280 python3 -m tools.cli bench step --models $model --seconds 2 --out "$out/step_$model" \
    > "$out/step_$model.txt" 2>&1; tail -n 12 "$out/step_$model.txt"
done
echo "== 2. its cost: deterministic=false"
XLA_FLAGS=--xla_gpu_deterministic_ops=false timeout 280 python3 -m tools.cli bench step --models resnet --seconds 2 \
  --out "$out/step_nondeterministic" > "$out/step_nondeterministic.txt" 2>&1; tail -n 12 "$out/step_nondeterministic.txt"
fi

if wants precision; then

echo "== 1. Fashion-MNIST CNN, float32 against bfloat16, 3 seeds" | tee "$out/precision.txt"
for precision in float32 bfloat16; do
  for seed in 0 1 2; do
    tricks train --config "$cnn" --config.dataset="$FM" --config.precision=$precision --config.seed=$seed \
      --config.progress=false --workdir /tmp/prec_${precision}_$seed > /dev/null 2>&1
    python3 -c "import json; s = json.load(open('/tmp/prec_${precision}_$seed/summary.json')); \
print('$precision', $seed, s['eval']['accuracy'], s['wall_time_s'])" >> "$out/precision.txt"
  done
done
cat "$out/precision.txt"
fi

if wants tests; then

echo "== 4. the test suite on this JAX ($(python3 -c 'import jax; print(jax.__version__)'))"
timeout 580 python3 -m pytest -q -p no:cacheprovider tests/train tests/models tests/optimizers \
  > "$out/tests.txt" 2>&1
tail -n 30 "$out/tests.txt"
fi
