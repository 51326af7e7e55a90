"""The loss Hessian at a checkpoint: top eigenvalues, sharpness, minimum ratio, spectrum.

Loads a checkpoint of a training workdir (the run's config.json rebuilds its model and
data), takes the training loss on --batches training batches with the model in
evaluation mode (no dropout, batch-norm running averages), and computes with
Hessian-vector products (forward-over-reverse): the top --k eigenvalues by Lanczos with
full reorthogonalization (with residual bounds), the spectral density by stochastic
Lanczos quadrature, and, for models up to 5000 parameters, the exact full spectrum.
The parameters are those evaluation uses (a schedule-free optimizer's x), or with --ema
the run's moving average of its weights (trained with ema_decay > 0).
Prints the table and writes a PNG of the spectrum/density.

The minimum ratio is the share of positive eigenvalues: about 1 at a minimum, lower at a
saddle. Sharpness is the top eigenvalue.

Examples:
  tricks hessian --workdir runs/digits
  tricks hessian --workdir runs/digits --step 200 --k 10 --batches 4 -o hessian.png
  tricks hessian --workdir runs/digits --ema
"""

from __future__ import annotations

import argparse
import pathlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", required=True, help="a training workdir (holds config.json and checkpoints/)"
    )
    parser.add_argument("--step", type=int, help="the checkpoint's step (default: the newest)")
    parser.add_argument("--k", type=int, default=20, help="how many top eigenvalues (default: 20)")
    parser.add_argument(
        "--batches", type=int, default=1, help="training batches the loss averages over (default: 1)"
    )
    parser.add_argument("--batch-size", type=int, help="examples per batch (default: the run's batch_size)")
    parser.add_argument(
        "--iters", type=int, help="Lanczos steps for the top eigenvalues (default: max(3k, k+40))"
    )
    parser.add_argument(
        "--probes", type=int, default=4, help="stochastic Lanczos quadrature probes (default: 4)"
    )
    parser.add_argument(
        "--density-iters", type=int, help="Lanczos steps per quadrature probe (default: as many as --iters)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the Lanczos start vectors (default: 0)")
    parser.add_argument("--ema", action="store_true", help="at the moving average of the weights (and its "
                        "batch-norm statistics; a run trained with ema_decay > 0)")
    parser.add_argument(
        "-o", "--output", default="hessian.png", help="the spectrum PNG (default: hessian.png)"
    )


def run(args: argparse.Namespace) -> int:
    import jax

    from tricks import diagnostics, train

    try:
        loaded = train.load(args.workdir, args.step, ema=True) if args.ema else \
            diagnostics.load_run(args.workdir, args.step)
        batch_size = args.batch_size or loaded.config.batch_size
        batches = diagnostics.stacked_batches(
            loaded.components.dataset, batch_size, args.batches, loaded.config.seed
        )
        loss = diagnostics.evaluation_loss(loaded.components, loaded.state)
        report = diagnostics.analyze_hessian(
            loss,
            loaded.state.params,
            batches,
            k=args.k,
            key=jax.random.key(args.seed),
            num_iters=args.iters,
            num_probes=args.probes,
            density_iters=args.density_iters,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"tricks hessian: {exc}")
        return 2
    print(f"{args.workdir}, step {loaded.step}: training loss on {args.batches} batch(es) of {batch_size}")
    print(report.table())
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    diagnostics.draw_hessian(
        report,
        f"{args.workdir} step {loaded.step}: sharpness {report.sharpness:.4g}, "
        f"minimum ratio {report.minimum_ratio:.3f}",
    ).savefig(output, format="png")
    print(f"wrote {output}")
    return 0
