"""The training loop's steady-state time per step against bare jitted steps, in one run.

The loop's figure includes everything a real run does per step: the batch gathered on
the device (epoch shuffles included), augmentation, per-step metrics fetched and
reduced on the host, and the writers (console off, JSON lines, TensorBoard). The bare
step is a jitted loss + gradient + optimizer update of the same model, loss and
optimizer, its batch (with one-hot targets) passed as an argument, state donated. Two
references:

* ``bare``: the bare step called once per step from a Python loop;
* ``batched``: the bare step run as many times per call as the loop's calls run, in a
  `fori_loop` as theirs (`AUTO_STEPS_PER_CALL`, see `tricks.train._calls`), a dropout
  key per step, on a window of as many distinct batches passed in stacked, step i
  taking row i: the plain k-steps-per-call loop. (Until session 9 every step of it took
  the same batch, which left out the per-step slice of a window that any k-step call
  makes.) On a CPU its convolutions are laid out as the loop's are
  (`tricks.train.canonical_convolutions`), without which XLA:CPU runs the weight
  gradients inside a loop body many times slower (about 1260 ms a step for the
  Fashion-MNIST CNN instead of 50).

The loop's goal: within 5% of the faster of the two (on CPU, for every shipped config).

The references run *inside* one training run, interleaved with it, through
`train_and_evaluate`'s ``on_call`` hook: every ``--segment`` calls, it waits for the
device, and the time since the first call after the last pause was dispatched is one
sample of the loop; then both bare steps run as many steps, each one sample (the hook's
time is left out of the loop's pace). This machine's pace moves by tens of percent from
one minute to the next, so samples a fraction of a second apart are paired, and the
figures are the median of the paired ratios and the ratio of the totals. Segments before
the warm-up (compilation) are left out.

A pause empties the loop's pipeline: while it runs, the host writes the last call's
logs and makes the next call's window with the device idle, which a run pays only where
it stops anyway (evaluations, checkpoints). Until session 22 the samples counted from
the end of the pause and so charged that restart to the loop: 2.5 ms per pause for the
MNIST-1D MLP (9% of its two 100-step calls), 3.8 ms for digits (2%), 8.6 ms for `cnn1d`
(whose unrolled calls of 4 steps each make their own window), medians of one run each.
Counted from the first dispatch, the MNIST-1D MLP's loop went from +22-26% to +7-12%
over the batched step, `cnn1d`'s from +13-18% to +1-2%. The uninterrupted loop agrees:
timed from the hook's stamps alone (no pause; 200 calls of 100 steps, of which the last
four fifths), the MNIST-1D MLP's loop ran at 0.1371-0.1375 ms a step (medians per call;
means 0.140-0.141) against 0.129-0.131 ms for the batched step timed before and after it:
+5-6% on the medians, +7.5-8.7% on the means (two runs; three more, on a noisier
machine, gave +3.4%, +6.2% and +12.8%).

Measured on the project's 2-core CPU VM, ``tricks bench loop --all`` (ms per step,
medians, of the first of three runs in session 22; loop vs the faster reference, median
of paired ratios, in each of the three):

| config | calls | bare | batched | loop | vs faster (three runs) |
|---|---|---|---|---|---|
| deep_relu_mlp | loop of 100 | 1.268 | 1.254 | 1.079 | -13.8%, -9.9%, -14.8% |
| deep_tanh_mlp | loop of 100 | 1.748 | 1.546 | 1.634 | +3.6%, +0.0%, +2.7% |
| digits | loop of 100 | 0.880 | 0.746 | 0.843 | +12.8%, +6.9%, +11.1% |
| fashion_mnist_cnn | unrolled, 4 | 58.774 | 42.036 | 42.967 | +2.5%, -2.7%, +2.4% |
| fashion_mnist_mlp | loop of 100 | 1.346 | 1.179 | 1.261 | +6.3%, +3.1%, +2.1% |
| mnist1d_cnn | unrolled, 4 | 0.733 | 0.623 | 0.633 | +1.9%, +2.3%, +4.8% |
| mnist1d_mlp | loop of 100 | 0.155 | 0.133 | 0.149 | +12.5%, +11.1%, +5.0% |
| snapshot_mnist1d | unrolled, 4 | 0.727 | 0.618 | 0.628 | +1.6%, +5.5%, +1.2% |

(Session 17's run, samples counted from the end of each pause: digits +14.4%,
`cnn1d` +13.0%, the MNIST-1D MLP +22.7%, the snapshot config +11.2%, the others as
above within the noise.) Digits and the MNIST-1D MLP still miss the 5%. Digits' gap does
not come from its gradient histograms (``histogram_every=0``: +7.9% and +11.4%, against
+10.2% and +11.0% with them, alternating runs).

What remains on the small steps is mostly the call's own program, and not its
arithmetic. Timed alone (no host work, the same arguments each call), the loop's program
for digits took 0.94 ms a step against the batched step's 0.85; XLA's profile of both
shows no op of the loop's taking longer than its twin, and the loop's extra ops (the
metrics, the non-finite check) are a handful of scalar ones. Yet each such op costs far
more than its arithmetic inside the loop body on XLA:CPU, whose runtime schedules the
body's ops over its threads: the real step in a bare `fori_loop` ran at the batched
step's pace (+1-3%), adding the summed metrics +1-2%, then noting the first non-finite
loss as one scalar `where` another +4-6% (25-50 us of a 0.85 ms step), whether it read
the loss or the running sum. Two rewrites measured and dropped (session 17, the real
program against the current one, interleaved): the per-step losses kept as one scalar
instead of a vector (no change on digits or the MNIST-1D MLP), and the last step of each
segment run after the loop so that no step's gradients are carried through it (no
change on digits; the MNIST-1D MLP 15% slower).

Session 21 split the MNIST-1D MLP's gap (+15-22% against the batched step) in two. The
loop's program alone, called 4 at a time on the same window, is +5-7% over the batched
step (seven paired runs, digits alike), and it stays so without the per-step loss record,
with only ``loss`` (or ``loss`` and ``accuracy``) as training metrics, and with the
window converted to float32 before the loop instead of each step's batch in it: none of
these is the 5%. The rest comes with the way a run drives the program. The host's own
work is not it: 1.2-1.8 ms of main-thread CPU per 100-step call (2.5 ms with a
histogram), and 1.5 ms more of it per call left the time per step unchanged (0.159
against 0.161 ms, three runs each). Driving the program by hand in the loop's pattern
(each call dispatched while the one before runs, the older results fetched after) came
out 0-12% slower than dispatching 8 calls at once, from one run to the next: on this
machine's noise (5-10% between runs) it is not pinned down, and waiting for each call
before dispatching the next made the loop slower (0.175-0.19 ms: its host work then
idles the device). Nor did XLA:CPU flags (``--xla_cpu_use_thunk_runtime=false``,
``use_xnnpack``, ``use_onednn``, ``enable_concurrency_optimized_scheduler``,
``multi_thread_eigen=false``) or JAX's CPU dispatch made synchronous
(``JAX_CPU_ENABLE_ASYNC_DISPATCH=false``: MNIST-1D MLP +9.6% and +19.5% against +12.7% and
+13.8% with it, in alternating runs) change the gap beyond the noise. On `cnn1d`'s
unrolled calls the program is 4-7% over the batched step and the loop 10% in steady
state (no pauses).

Session 22 found that most of that "rest" was this benchmark's pause (above), and took
the program apart on digits, whose gap (+7-13%) is now the largest. The real training
step (`train_step`, the one the loop calls) in a plain `fori_loop` of 100 on a window
passed in runs at the batched step's pace: -2.4%; with the loss and the accuracy summed
as plain scalars, -3.8% to +1.5%; with the window gathered in the program and each step's
batch converted to float32 in it, as the loop does, +0.9% to +2.4% (the MNIST-1D MLP
+3.7% to +4.4%). So the step, its dropout keys (`fold_in` and `split`) and its one-hot
targets are not it; the call's own machinery is, in pieces of 1-3% each, none of which
removed alone closes it, and whose effects do not add up from one program to another:
in that harness the per-step loss record as ``losses.at[i].set`` cost +3.9% to +8.7% and
a `where` over the vector +0.4% to +1.2%, but in the real program the `where` changed
nothing (+0.4%; MNIST-1D MLP -0.4%); carrying the step's gradients out of the plain loop
(as ``grad_norm`` and histograms need at log steps) cost +13%, while in the real program
running each segment's last step after its loop, so that no gradients are carried,
gained 1.2% on digits and 1.3% on the MNIST-1D MLP (and doubles the step's code, so its
compile time); with no log-step metric and no histograms, one loop instead of the
segments' two and no loss record gave +1.3% over the batched step against +4.2% as it
is, but with the default metrics they changed nothing (paired, +1.7% over the program as
it is; ``log_every=100``, one segment a call). The same comparison moves by about 3%
between processes, which is the size of each piece.

Session 23 ran on a machine of the same kind with AVX2 only (no AVX-512), about twice as
slow (digits' batched step 1.43 ms against 0.75), where the gaps are wider: digits
+13.2%, the MNIST-1D MLP +18.9% to +28.1% (three runs). With the MNIST-1D MLP there:

* the difference is per step, not per call: fitted over calls of 1, 25 and 100 steps of
  the loop's program alone, it costs 0.276 ms a step and 1.45 ms a call, the batched step
  0.239 ms and 0.71 ms (12 rounds, interleaved);
* the host is not it: its main thread spends 3.5 ms of CPU per 100-step call (digits
  7.7 ms), and 4 ms more per call, burnt in the hook, left the time per step as it was
  (0.303 against 0.306 ms, three runs each), since XLA:CPU runs these small programs on
  about one of the two cores (the other idled half the benchmark's time, by `/proc/stat`);
* JAX lowers threefry on CPU as a `while` loop of 5 rounds, so each key derivation is a
  loop nested in the step; one `fold_in` costs about 1.4 us there, and the loop's step has
  one more than the bare step (the `split` for the augmentation key): under 1% (since
  session 28 `import tricks` writes threefry out, which made dropout's masks 1.7x
  faster in both: `tricks._threefry_cpu`);
* the next call's window gathered by a separate program dispatched a call ahead (which
  could run on the idle core) gave +6.6% against +11.8% in one run and +7.3% against
  +6.8% in the next (digits +2.6% against +1.5%): no gain, not adopted;
* between processes the batched step itself moved from 0.19 to 0.26 ms a step.

Before calls ran unrolled, the Fashion-MNIST CNN's loop took 684-776 ms per step and
`cnn1d`'s 2.98 ms. What the loop does that the references do not: it gathers each call's
batches on the device and slices each step's from them, merges each step's summed
metrics, takes the norms at log steps, and on the host makes each epoch's order
(`tricks.data.epoch_order`, 51 us for MNIST-1D), fetches each call's results and writes
its logs and histograms. Costs cut by measurement (MNIST-1D MLP, 0.13 ms a step): the
norms computed at every step took 70 us of it; chosen per step by a `lax.cond` in the
loop body, 38 us; the first non-finite step tracked in the loop body, 9 us; the epoch
orders made on the device, 11 us (0.39 ms each); a batch gathered inside each step,
17 us against 1.6 us when the whole window is gathered at the start of the call; a call
ending at every log step (20 steps on digits), about 5% of digits' step; gradient
histograms counted on the host (3 ms each for digits' 85k gradients, taken from the
cores the step runs on), 10% of digits' step at ``histogram_every=100``, now counted on
the device.

Session 25 found why convolutions ran slowly in a loop: XLA:CPU lays out only the
convolutions of a program's entry computation for its fast kernels, and inside a loop
the weight gradients JAX derives ran as naive loop nests. The loop's calls now lay them
out themselves (`tricks.train.canonical_convolutions`) and run as a loop on every
backend; the unrolled form is gone, and so is the batched reference's. On the AVX2
machine, one run of ``--all`` (ms per step, medians, loop vs the faster reference):
deep_relu 1.808 (+1.1%), deep_tanh 2.161 (+10.1%), digits 1.111 (+12.7%), Fashion-MNIST
CNN 57.3 against 50.4 batched and 86.5 bare (+8.4%; the unrolled loop had been 61.7 in
this session), Fashion-MNIST MLP 1.910 (+7.6%), `cnn1d` 0.816 (+6.3%), MNIST-1D MLP
0.277 (+13.3%), snapshot 0.900 (+0.4%). The Fashion-MNIST CNN alone, 26 samples (``--steps
2400``): loop 54.1, batched 50.3, bare 91.3 (+8.6% on the median of paired ratios,
+6.1% on the totals); without its augmentation (``--config.augment=[]``, 4 samples only)
+12.7%, so the crops are not the gap.

Session 26, on the same machine, profiled the calls thunk by thunk (XLA's
``--xla_cpu_enable_xprof_traceme``, `jax.profiler.trace`, summed per HLO op). Most of the
MLPs' gap was the gradient histograms that the shipped configs ask for every 100 steps:
the binary search over TensorBoard's edges took 8.1 ms a histogram for digits (7% of its
100 steps), 2.0 ms for the MNIST-1D MLP (8%), 23.5 ms for the Fashion-MNIST MLP. Found in
closed form (`tricks.metrics.histogram_counts`) they take 1.1, 0.34 and 4.1 ms. One run of
``--all`` then: deep_relu -3.1%, deep_tanh +1.5%, digits +2.7%, Fashion-MNIST CNN +9.7%
(4 samples; +2.8% and +3.6% in two runs of ``--steps 1200``), Fashion-MNIST MLP -1.6%,
`cnn1d` +0.5%, MNIST-1D MLP +7.7% (+15.7% on the totals), snapshot +2.9%; the MNIST-1D
MLP alone, 51 samples (``--steps 10000``): +5.3%, +6.8% on the totals. A second run of
``--all``, every step about 30% slower (a busy host): deep_relu +3.4%, deep_tanh +3.4%,
digits +8.9%, Fashion-MNIST CNN +10.9% (4 samples), Fashion-MNIST MLP +5.2%, `cnn1d`
-2.1%, MNIST-1D MLP +6.4%, snapshot +3.3%. `tricks bench thunks` now makes that
profile. On the MNIST-1D MLP, what is left:

* the same matrix products take longer in the loop's program than in the batched step's,
  with identical HLO (shapes, dimension numbers): on one core (``taskset -c 0``, where
  XLA ran every thunk of both on one thread), the largest weight gradient (100x100,
  contracting the batch) took 78 us against 56 at the median and 48 against 35 at the
  10th percentile, the YNNPACK products 3-13% longer, 33 of the 47 us a step between the
  two while-loop bodies; why, the profile does not tell (the host's work per call, which
  shares that core, is too little to move the 10th percentile). On two cores a thunk's
  time includes waiting for concurrent ones and does not add up to the wall time: the
  Fashion-MNIST CNN's largest YNNPACK fusion took 18-20 ms a step in the loop against
  10-12 ms in the batched step, while the loop's steps took 0.96-1.09x as long;
* about a dozen more small operations a step (accuracy's argmaxes, the per-step loss
  record, the sums), about 1 us each;
* per call, the window gathered on the device (0.46 ms for 100 steps, measured alone),
  the histogram (0.34 ms) and the log-step metrics.

Without the gradient norms and histograms (``--config.train_metrics=['loss','accuracy']
--config.histogram_every=0``) it had come out at +6-7% on one core against +19% with
them, and +5.5-10% on two against +14-16% (two runs each, with the binary search);
running each segment's last step after its loop, so that no step's gradients are carried
through it, again gained nothing (+10.5% and +16.5%). Nor did sequencing each step's metrics after its update (an
``optimization_barrier`` over the new state and the outputs they read, so that they could
not run beside the backward pass): the MNIST-1D MLP +7.0% and +10.1%; the Fashion-MNIST
CNN -1.2%, +1.9% and +3.7% against +2.8% and +3.6% without it (alternating runs of
``--steps 1200``), within this machine's noise.

Session 30, on a machine of the same kind with AVX-512 (the batched step of the MNIST-1D
MLP 0.13 ms), timed the calls' programs alone, without a run's host work (`Calls` called
8 at a time, 20 rounds interleaved with the batched step), and variants of them:

* running each segment's last step after its loop, so that no step's gradients are carried
  through it (tried in sessions 22 and 26 without a clear gain), now gave digits -4.6% and
  -2.8% against +1.7% and +2.3% carried, the Fashion-MNIST MLP +4.1% against +6.2%, the
  MNIST-1D MLP and ``deep_tanh`` no change; adopted. The two loop bodies have the same
  operations, and profiled on one core their steps differ by 2%;
* for the MNIST-1D MLP, the real step in a plain `fori_loop` on a window passed in runs at
  the batched step's pace (-0.3% to +0.3%), and the window gathered in the program costs
  +2.0% on one core and +3.4% to +5.6% on two (60 and 20 rounds), though the gather alone,
  as its own program, takes 0.14-0.2 ms per 100-step window (0.2 ms after 16 MB written
  through the cache). Neither its parallel split over two threads (a gather that XLA did
  not split, as a conditional's result, +5.0% against +5.6%), nor the split's rows brought
  into the cache first (+4.1-4.4% against +4.7%), nor the next call's window gathered in
  the same program beside the steps (+3.3% against +2.0%), nor a separate program
  dispatched first (+3.3-3.6%) took it away; each step gathering its own rows in the loop
  body was far slower (+12.5% to +18.8%). The batched step's window is the same arrays
  every call, but 8 distinct windows in turn took as long (+0.1%; digits -0.5%);
* the training metrics hardly matter to the MNIST-1D MLP: with only ``loss`` and no
  histograms its programs were +5.3% against +5.9% with the defaults.
* what goes with the gather's cost is the operating system moving the program's threads
  between the two cores (`perf stat`, 4 s of 8-call rounds): 36-104 CPU migrations in every
  program that gathers a window from the split (whole, in chunks of 4 to 25 steps that XLA
  did not split over threads, or after the loop), against 0-1 for the plain loop on a window
  passed in, or copied in the program; its profile shows the work spread onto XLA's Eigen
  pool thread. A window gathered on the host instead (NumPy, the same rows, each call) and
  passed in came closer to the batched step's pace: +0.5% and +1.9%, against +3.6% and
  +3.8% gathered in the program (two runs, 20 rounds each); for the Fashion-MNIST MLP, whose
  windows hold 4 MB of rows, it gained nothing (+3.4% against +3.0%), nor for digits
  (-10.0% against -8.3%, within the noise). That is the one lead left for the MNIST-1D MLP
  on a CPU: it needs the rows of each step on the host (`tricks.data.DeviceLoader`'s order
  arithmetic in NumPy, as the Grain loader has it; class-balanced batches draw theirs on
  the device), and it would leave the device gather untested on CPU.

Session 31, on a machine of that kind, found that much of what is left on two cores is
not the loop's work but how XLA:CPU's two threads share it, which the program's layout
decides (the calls' programs alone, 8 calls at a time, 12-16 rounds interleaved with the
batched step):

* ``deep_relu``'s calls were +5.2% to +7.6% over the batched step (eight runs) with the
  gradient histograms' code in the program, in a `lax.cond` branch that these calls never
  took, and -1.6% to +0.4% without it (``Calls(histograms=False)``); computing the
  histograms at every segment's end instead cost no more (+7.8%), and one histogram of
  the whole model's gradients in that branch instead of one per layer gave -8.0% and
  -8.2%. On one core (``taskset -c 0``) all three came out alike: +2.2% to +3.0%.
  `perf stat` over 5 s of each program alone counted 22-23k context switches with the
  per-layer histograms (about 6.4 a step) against 14k with the whole-model one (3.5):
  code that never runs changes the buffers and dependencies XLA:CPU assigns to the whole
  program, and with them how often its threads hand work to each other, a swing of +-7%
  on two cores, more than the goal's 5%;
* the MNIST-1D MLP's batched step switches threads 1.2 times per 100 steps and never
  moves between cores; the loop's calls switch 10 times (0.8 moves): 7.2 without the
  histograms, 7.6 with the window passed in instead of gathered (+4.4% against +6.2% to
  +8.7%), 3.9 with the window passed in, only ``loss`` as a metric, no histograms and no
  finiteness check of the parameters (+3.9%). XLA:CPU's scheduler
  (``--xla_cpu_scheduler_type``, memory- or concurrency-optimized) moved the switches (7.9
  and 11.8 a call) but not the pace (+8.7% and +8.8%);
* those switches come once per call, not per step: the MNIST-1D MLP's calls switched 10-11
  times whether they ran 25, 100 or 200 steps (the batched step about once), and what the
  loop's calls cost over the batched step's is about 0.7 ms a call plus about 5 us for
  each step of the window its gather fills (+8.8% at 100 steps a call, +6.4% at 200, the
  references run as many per call). In calls of 25 steps (a window of 100 still gathered),
  the gather cost 0.66 ms a call over a window passed in (it takes 0.14-0.2 ms as a program
  of its own), and the log-step metrics, the histograms' branch and the finiteness check
  together 0.38 ms; with neither, the calls ran within 1-4% of the batched step (3.4-3.9
  switches a call). Wrapping a whole call in a `lax.cond` changed nothing (10.5 switches);
* tried and dropped, each in turns with the current program in one process: the
  histograms counted at each segment's end, so that no gradients leave the segments'
  loop (``deep_relu`` +7.0% against +6.6%, digits -2.7% against -1.7%, the Fashion-MNIST
  MLP -0.8% against +2.5%, the MNIST-1D MLP +10.8% against +10.3%), for which XLA:CPU's
  memory analysis gave 0.8 MB (``deep_relu``) to 4 MB (a 2048-wide MLP) more temporary
  memory, not less; the step as one nested jitted function, so that it is lowered once
  (the default run's call lowered in 0.23 s against 0.24, traced no faster);
* two runs of ``--all``: ``deep_relu`` +4.9% and +6.3%, ``deep_tanh`` +2.4% and +2.4%,
  digits -2.4% and -4.2%, the Fashion-MNIST CNN -3.1% and -0.2%, the Fashion-MNIST MLP
  +3.0% and +3.2%, `cnn1d` -1.8% and -2.6%, the MNIST-1D MLP +6.6% and +8.1%, snapshot
  -2.4% and -2.4%.

Examples:
  tricks bench loop
  tricks bench loop --all
  tricks bench loop --config experiments/configs/fashion_mnist_cnn.py --steps 400
  tricks bench loop --config.histogram_every=0     (overrides as for `tricks train`)
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import jax
import numpy as np
import optax

from tricks.train import canonical_convolutions

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="experiments/configs/digits.py", help="the run measured")
    parser.add_argument("--all", action="store_true", help="every shipped config (experiments/configs/*.py)")
    parser.add_argument("--steps", type=int, default=0,
                        help="steps timed after the warm-up (0: as many as about --seconds of bare steps)")
    parser.add_argument("--seconds", type=float, default=15.0, help="bare-step seconds timed when --steps is 0")
    parser.add_argument("--warm", type=int, default=200, help="steps of warm-up (compilation) left out")
    parser.add_argument("--segment", type=int, default=2, help="loop calls per sample (between pauses)")


class BareStep:
    """A minimal jitted step of `run`'s model, loss and optimizer, its batch passed in.

    With `per_call` > 1, each call runs that many steps in a `fori_loop` (its convolutions
    laid out on a CPU), with a dropout key per step, as the training loop's calls do, on a
    window of that many distinct batches passed in stacked (the first steps' batches),
    step i taking row i.
    """

    def __init__(self, run, per_call: int = 1):
        model, loss_fn = run.components.model, run.components.loss
        optimizer = optax.with_extra_args_support(run.components.optimizer)
        batches = [run.loader.batch(i) for i in range(per_call)]
        images = np.stack([np.asarray(b["image"]) for b in batches])
        targets = np.stack([np.asarray(jax.nn.one_hot(b["label"], run.components.num_classes)) for b in batches])
        has_stats = bool(run.state.batch_stats)

        def step(params, stats, opt_state, key, image, targets):
            def objective(p):
                variables = {"params": p, "batch_stats": stats} if has_stats else {"params": p}
                logits, updates = model.apply(variables, image, train=True, rngs={"dropout": key},
                                              mutable=["batch_stats"])
                return loss_fn(logits, targets), updates

            (loss, updates), grads = jax.value_and_grad(objective, has_aux=True)(params)
            changes, opt_state = optimizer.update(  # the objective too, as the train step (sam, lbfgs)
                grads, opt_state, params, value=loss, grad=grads, value_fn=lambda p: objective(p)[0])
            return optax.apply_updates(params, changes), updates.get("batch_stats", stats), opt_state

        laid_out = canonical_convolutions(step)  # (as the loop's)

        def calls(params, stats, opt_state, key, images, targets):  # a key per step: dropout is not loop-invariant
            one = lambda i, c: laid_out(*c, jax.random.fold_in(key, i), images[i], targets[i])  # noqa: E731
            return jax.lax.fori_loop(0, per_call, one, (params, stats, opt_state))

        self.per_call = per_call
        self._jitted = jax.jit(step if per_call == 1 else calls, donate_argnums=(0, 1, 2))
        data = (images[0], targets[0]) if per_call == 1 else (images, targets)
        self._data = (jax.random.PRNGKey(0), *jax.device_put(data))  # arguments, as a real step's batches are
        self._carry = jax.tree.map(lambda x: x.copy(), (run.state.params, run.state.batch_stats, run.state.opt_state))
        self.seconds_per_step(per_call)  # compiled

    def seconds_per_step(self, steps: int) -> float:
        """Runs about `steps` steps (whole calls) and returns the wall seconds per step."""
        count = max(1, round(steps / self.per_call))
        start = time.perf_counter()
        for _ in range(count):
            self._carry = self._jitted(*self._carry, *self._data)
        jax.block_until_ready(self._carry)
        return (time.perf_counter() - start) / (count * self.per_call)

    def flops(self) -> float:
        """Floating-point operations of one step, by XLA's cost analysis of the compiled call (NaN: none given)."""
        cost = self._jitted.lower(*self._carry, *self._data).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        return float((cost or {}).get("flops", float("nan"))) / self.per_call


def references(run, calls) -> dict[str, BareStep]:
    """The bare step once per call and, where the loop's calls run several, as many per call."""
    found = {"bare": BareStep(run, 1)}
    if calls.window > 1:
        found["batched"] = BareStep(run, calls.window)
    return found


def measure(cfg, steps: int, segment: int, warm: int = 200,
            seconds: float = 15.0) -> tuple[dict[str, list[float]], object]:
    """Seconds per step of `train_and_evaluate` and of the bare steps, sampled in turn.

    `steps` after the `warm` ones are timed; 0 times as many as the bare step runs in
    about `seconds` (40 to 4000).

    Returns:
        ``({"loop": [...], "bare": [...], "batched": [...]}, calls)``: one value per
        segment, the three of a segment measured back to back ("batched" is absent where
        the loop runs one step per call), and the loop's `Calls` (form and window).
    """
    from tricks import train
    from tricks.train._calls import Calls

    run = train.setup(cfg)
    calls = Calls(run.train_step.step, run.strategy, run.loader.iterate(0), cfg.steps_per_call,
                  (run.state, run.loader.batch(0)), run.train_metrics, cfg.log_every)  # the loop's form and window
    bare = references(run, calls)
    if not steps:
        steps = int(min(4000, max(40, seconds / bare["bare"].seconds_per_step(5))))
    samples: dict[str, list[float]] = {"loop": []} | {name: [] for name in bare}
    seen = {"calls": 0, "began": 0.0, "first": 0}

    def on_call(step, state):
        seen["calls"] += 1
        if (seen["calls"] - 1) % segment == 0:  # the first call after a pause has been dispatched
            seen["began"] = time.perf_counter()
        if seen["calls"] % segment:
            return
        jax.block_until_ready(state)  # the segment's last call has finished
        first = seen["first"]
        if first >= warm:
            samples["loop"].append((time.perf_counter() - seen["began"]) / (step - first))
            order = list(bare) if len(samples["loop"]) % 2 else list(bare)[::-1]
            for name in order:
                samples[name].append(bare[name].seconds_per_step(step - first))
        seen["first"] = step

    run_cfg = cfg.copy_and_resolve_references()
    run_cfg.num_steps, run_cfg.eval_every, run_cfg.progress = warm + steps, 10**9, False
    run_cfg.eval_splits = ["validation", "test"]  # (whichever the dataset has: evaluated once, at the end)
    with tempfile.TemporaryDirectory() as workdir:
        train.train_and_evaluate(run_cfg, workdir, on_call=on_call)
    return samples, calls


def report(samples: dict[str, list[float]]) -> dict[str, float]:
    """Medians per step (seconds) and the loop's overheads (%): median of paired ratios and ratio of totals."""
    loops = samples["loop"]
    out = {f"{name}_s": statistics.median(times) for name, times in samples.items()}
    for name in samples:
        if name != "loop":
            paired = [100 * (loop / ref - 1) for loop, ref in zip(loops, samples[name], strict=True)]
            q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else (paired[0],) * 3
            out[f"vs_{name}"], out[f"vs_{name}_q1"], out[f"vs_{name}_q3"] = statistics.median(paired), q1, q3
            out[f"vs_{name}_totals"] = 100 * (sum(loops) / sum(samples[name]) - 1)
    faster = min((n for n in samples if n != "loop"), key=lambda n: out[f"{n}_s"])
    out["faster"], out["vs_faster"] = faster, out[f"vs_{faster}"]
    return out


def run(args: argparse.Namespace) -> int:
    from tricks import config as config_lib
    from tricks import train

    paths = sorted(str(p) for p in CONFIGS.glob("*.py")) if args.all else [args.config]
    rows = []
    for path in paths:
        cfg = train.complete(config_lib.load(path, getattr(args, "overrides", [])))
        samples, calls = measure(cfg, args.steps, args.segment, args.warm, args.seconds)
        if not samples["loop"]:
            print(f"{path}: no segment after the warm-up: use more --steps (segments of {args.segment} calls)")
            return 2
        form = f"up to {calls.window} per call"
        print(f"config: {path}  (batch {cfg.batch_size}, model {cfg.model}, log_every {cfg.log_every}, {form}; "
              f"{len(samples['loop'])} samples of {args.segment} calls, interleaved, after {args.warm} steps)")
        _print_one(samples, calls)
        rows.append((pathlib.Path(path).stem, report(samples), calls))
    if args.all:
        print(f"\n{'config':<20} {'form':<14} {'bare ms':>9} {'batched ms':>11} {'loop ms':>9} {'vs faster %':>12}")
        for name, r, calls in rows:
            form = f"loop {calls.window}"
            batched = f"{r['batched_s'] * 1e3:11.3f}" if "batched_s" in r else f"{'-':>11}"
            print(f"{name:<20} {form:<14} {r['bare_s'] * 1e3:9.3f} {batched} {r['loop_s'] * 1e3:9.3f} "
                  f"{r['vs_faster']:+12.1f}")
    print("(goal: within 5% of the faster reference; a sample's loop and bare steps run back to back)")
    return 0


def _print_one(samples: dict[str, list[float]], calls) -> None:
    names = {"bare": "bare jitted step", "loop": "training loop",
             "batched": f"bare, {calls.window} steps per call"}
    print(f"{'wall per step':<38} {'median':>8} {'mean':>8}")
    for key in ("bare", "batched", "loop"):
        if key in samples:
            times = samples[key]
            print(f"{names[key]:<38} {statistics.median(times) * 1e3:8.3f} {np.mean(times) * 1e3:8.3f}  ms")
    r = report(samples)
    print(f"{'overhead':<38} {'median':>8} {'totals':>8}      paired quartiles")
    for key in ("bare", "batched"):
        if key in samples:
            print(f"{'vs ' + names[key]:<38} {r[f'vs_{key}']:+8.1f} {r[f'vs_{key}_totals']:+8.1f}  %   "
                  f"{r[f'vs_{key}_q1']:+.1f} .. {r[f'vs_{key}_q3']:+.1f}")
