"""An ensemble evaluated on a split: each member's metrics, the best one, and the combination's."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

import registry
from tricks.ensembles._combine import Rule, WeightAverage, log_softmax
from tricks.ensembles._errors import EnsembleError
from tricks.ensembles._evaluate import Member, Outputs, member_logits
from tricks.ensembles._members import Members
from tricks.ensembles._metrics import summarize
from tricks.ensembles._swa import average_variables, recompute_batch_stats
from tricks._text import aligned


def evaluate_ensemble(
    members: Members,
    combine: str | Mapping | Rule | WeightAverage = "mean_prob",
    split: str = "test",
    *,
    strategy: str = "auto",
) -> dict[str, Any]:
    """Evaluates every member and their combination on `split`.

    Args:
        members: from `load_members`.
        combine: an ``ensemble`` spec (``mean_prob``, ``mean_logit``, ``vote``,
            ``fused``, ``swa``, with arguments) or a built rule. ``fused`` first fits
            its weights on the validation split; ``swa`` averages the weights and
            recomputes batch-norm statistics on the training split.
        split: the split reported.
        strategy: how members are evaluated (`member_logits`): auto, vmap, map or loop.

    Returns:
        ``{"split", "combine", "examples", "members": [{"name", "workdir", "step",
        "accuracy", "nll", "ece"}, ...], "best_member": {..., "chosen_on"},
        "ensemble": {"accuracy", "nll", "ece"}, "evaluation": {"strategy",
        "seconds_per_batch"}}``, plus ``"weights"`` for ``fused``. The best member, with
        its metrics on `split`, is the one most accurate on the validation split (ties:
        the lower NLL), as one would pick a single model without seeing the test set;
        only a dataset without a validation split makes it the most accurate on `split`
        itself, an optimistic pick. ``chosen_on`` names the split it was picked on.

    Raises:
        EnsembleError: a split the dataset lacks; ``fused`` without a non-empty
            validation split.
        MemberMismatchError: ``swa``, or vmap/map, over members of different architectures.
        registry.RegistryError: an unknown rule or a bad argument.

    Examples:
        >>> import jax, jax.numpy as jnp, tempfile, tricks
        >>> from tricks import train
        >>> from tricks.ensembles import Member, Members
        >>> model = registry.build("model", "mlp(widths=(16,), num_classes=10)")
        >>> inits = [model.init(jax.random.key(i), jnp.zeros((1, 8, 8, 1))) for i in range(3)]
        >>> dataset = registry.build("dataset", {"name": "digits", "data_dir": tempfile.mkdtemp()})
        >>> members = Members(tuple(Member(f"init{i}", model, v, "mlp") for i, v in enumerate(inits)),
        ...                   dataset, train.default_config())
        >>> result = evaluate_ensemble(members, "vote", "test", strategy="loop")
        >>> [row["name"] for row in result["members"]], result["examples"], sorted(result["ensemble"])
        (['init0', 'init1', 'init2'], 360, ['accuracy', 'ece', 'nll'])
    """
    rule = combine if isinstance(combine, (Rule, WeightAverage)) else registry.build("ensemble", combine)
    outputs = member_logits(members.members, members.batches(split), strategy)
    rows = [
        {
            "name": member.name,
            "workdir": None if member.workdir is None else str(member.workdir),
            "step": member.step,
            **summarize(log_softmax(logits), outputs.labels),
        }
        for member, logits in zip(members.members, outputs.logits, strict=True)
    ]
    validation = None
    if "validation" in members.dataset.splits:
        validation = (
            outputs
            if split == "validation"
            else member_logits(members.members, members.batches("validation"), outputs.strategy)
        )
    result: dict[str, Any] = {
        "split": split,
        "combine": _describe(combine),
        "examples": int(outputs.labels.size),
        "members": rows,
        "best_member": _best_member(rows, validation, split),
    }
    if isinstance(rule, WeightAverage):
        first = members.members[0]
        averaged = average_variables(
            [m.variables for m in members.members], [m.name for m in members.members]
        )
        averaged = recompute_batch_stats(
            first.model,
            averaged,
            members.train_batches(rule.bn_batches),
            augment=first.augment,
            num_classes=first.num_classes,
            seed=int(members.config.seed),
        )
        swa_member = Member(
            "swa", first.model, averaged, first.architecture, first.augment, first.num_classes
        )
        swa_logits = member_logits([swa_member], members.batches(split), "loop").logits[0]
        result["ensemble"] = summarize(log_softmax(swa_logits), outputs.labels)
    else:
        if rule.needs_validation:
            if validation is None:
                raise EnsembleError(
                    f"{result['combine']} fits its weights on the validation split, but dataset "
                    f"{members.dataset.name} has an empty one: give it a validation share "
                    "(e.g. validation_fraction=0.1) or use another rule"
                )
            rule = rule.fit(validation.logits, validation.labels)
            result["weights"] = list(rule.weights)
        combined = rule.combine(outputs.logits)
        result["ensemble"] = summarize(combined.log_probs, outputs.labels, combined.predicted)
    result["evaluation"] = {"strategy": outputs.strategy, "seconds_per_batch": outputs.timings}
    return result


def _best_member(rows: list[dict[str, Any]], validation: Outputs | None, split: str) -> dict[str, Any]:
    """The row of the member most accurate on the validation split (ties: lower NLL), else on `split`."""
    scores = rows
    if validation is not None:
        scores = [summarize(log_softmax(logits), validation.labels) for logits in validation.logits]
    best = max(range(len(rows)), key=lambda i: (scores[i]["accuracy"], -scores[i]["nll"]))
    return {**rows[best], "chosen_on": "validation" if validation is not None else split}


def _describe(combine: Any) -> str:
    if isinstance(combine, str):
        return combine
    if isinstance(combine, Mapping) or hasattr(combine, "to_dict"):
        spec = dict(combine.to_dict() if hasattr(combine, "to_dict") else combine)
        return str(registry.Spec(spec.pop("name"), (), spec))
    return type(combine).__name__


def table(result: Mapping[str, Any]) -> str:
    """`evaluate_ensemble`'s result as a text table (accuracy in %, NLL, ECE), columns as wide as their cells.

    The best single member's line says which split it was picked on.

    Examples:
        >>> row = {"name": "run@10", "accuracy": 0.9, "nll": 0.3, "ece": 0.02}
        >>> print(table({"split": "test", "combine": "vote", "examples": 10, "members": [row],
        ...              "best_member": {**row, "chosen_on": "validation"},
        ...              "ensemble": {"accuracy": 0.95, "nll": float("inf"), "ece": 0.01}}))
        split test, 10 examples
        member                                        accuracy (%)     NLL     ECE
        run@10                                               90.00  0.3000  0.0200
        best single (by validation accuracy): run@10         90.00  0.3000  0.0200
        ensemble (vote)                                      95.00     inf  0.0100
    """
    best = result["best_member"]
    picked = f"by {best['chosen_on']} accuracy"
    if best["chosen_on"] != "validation":
        picked += "; no validation split"
    labelled = [
        *((row["name"], row) for row in result["members"]),
        (f"best single ({picked}): {best['name']}", best),
        (f"ensemble ({result['combine']})", result["ensemble"]),
    ]
    rows = [["member", "accuracy (%)", "NLL", "ECE"]]
    rows += [
        [label, f"{100 * m['accuracy']:.2f}", _number(m["nll"]), _number(m["ece"])] for label, m in labelled
    ]
    lines = [f"split {result['split']}, {result['examples']} examples", *aligned(rows, "<>>>")]
    if "weights" in result:
        lines.append("weights: " + ", ".join(f"{w:.3f}" for w in result["weights"]))
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "inf"


def jsonable(value: Any) -> Any:
    """`value` with non-finite floats as None and NumPy scalars as Python ones (strict JSON).

    Examples:
        >>> jsonable({"nll": float("inf"), "runs": [np.float32(0.5)]})
        {'nll': None, 'runs': [0.5]}
    """
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
