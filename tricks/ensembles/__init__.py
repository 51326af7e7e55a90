"""Ensembles from Orbax checkpoints (SPEC §6): snapshot, seed, hyper-parameter and fused ensembles.

Members come from checkpoints (`load_members`): the snapshots of one run (``cycle_ends``:
train with ``snapshots: "cycle_ends"`` and an ``sgdr`` or ``cyclic`` rate, Huang et al.
2017), the last checkpoints of runs that differ by seed (``last``), or the best K runs
of a `sweep` by validation accuracy (``best:K``). Combination rules are registered as
kind ``ensemble``: ``mean_prob``, ``mean_logit``, ``vote``, ``fused`` (weights fit on
the validation split) and ``swa`` (weights averaged, batch-norm statistics recomputed).
`evaluate_ensemble` runs all members in one jitted call per batch over their stacked
parameters (`member_logits`: vmap or lax.map, chosen by measurement; a loop for members
of different architectures) and reports each member, the best one (picked on the
validation split), and the ensemble: accuracy, NLL and expected calibration error (15
bins).

Command line: ``tricks ensemble --workdir DIR [--members cycle_ends|last|best:K]
[--combine mean_prob|mean_logit|vote|fused|swa]`` and ``tricks sweep --config FILE
--workdir ROOT --grid 'seed=[0,1,2]'``.

Examples:
    >>> import tempfile, tricks
    >>> from tricks import ensembles, train
    >>> cfg = train.default_config()
    >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
    >>> cfg.model = "mlp(widths=(32,))"
    >>> cfg.optimizer = "adam(learning_rate=sgdr(init_value=0.01, t0=8))"
    >>> cfg.num_steps, cfg.snapshots, cfg.eval_every, cfg.progress = 24, "cycle_ends", 24, False
    >>> workdir = tempfile.mkdtemp()
    >>> _ = train.train_and_evaluate(cfg, workdir)  # doctest: +ELLIPSIS
    step 24: ...
    >>> members = ensembles.load_members([workdir], "cycle_ends")
    >>> [m.step for m in members]
    [8, 16, 24]
    >>> result = ensembles.evaluate_ensemble(members, "mean_prob", "test")
    >>> sorted(result["ensemble"]), result["examples"]
    (['accuracy', 'ece', 'nll'], 360)
"""

from tricks.ensembles._combine import (
    Combined,
    Fused,
    MeanLogit,
    MeanProb,
    Rule,
    Vote,
    WeightAverage,
    fused,
    log_softmax,
    mean_logit,
    mean_prob,
    swa,
    vote,
)
from tricks.ensembles._ensemble import evaluate_ensemble, jsonable, table
from tricks.ensembles._errors import EnsembleError, MemberMismatchError
from tricks.ensembles._evaluate import (
    STRATEGIES,
    Member,
    Outputs,
    first_difference,
    measure_strategies,
    member_logits,
    stack,
    stacking_problem,
)
from tricks.ensembles._members import (
    SELECTIONS,
    Members,
    load_members,
    parse_selection,
    run_dirs,
    validation_accuracy,
)
from tricks.ensembles._metrics import METRICS, summarize
from tricks.ensembles._swa import average_variables, recompute_batch_stats
from tricks.ensembles._sweep import (
    finished_summary,
    grid,
    ranked,
    read_overrides,
    run_name,
    split_values,
    sweep,
    sweep_table,
)

__all__ = [
    "METRICS",
    "SELECTIONS",
    "STRATEGIES",
    "Combined",
    "EnsembleError",
    "Fused",
    "MeanLogit",
    "MeanProb",
    "Member",
    "MemberMismatchError",
    "Members",
    "Outputs",
    "Rule",
    "Vote",
    "WeightAverage",
    "average_variables",
    "evaluate_ensemble",
    "finished_summary",
    "first_difference",
    "fused",
    "grid",
    "jsonable",
    "load_members",
    "log_softmax",
    "mean_logit",
    "mean_prob",
    "measure_strategies",
    "member_logits",
    "parse_selection",
    "ranked",
    "read_overrides",
    "recompute_batch_stats",
    "run_dirs",
    "run_name",
    "split_values",
    "stack",
    "stacking_problem",
    "summarize",
    "swa",
    "sweep",
    "sweep_table",
    "table",
    "validation_accuracy",
    "vote",
]
