"""Per-layer gradient norms (on a real model's gradients), and 'tricks plot grads' on a logged run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import registry
from tools.cli import main
from tools.plots.grads import read_grad_norms
from tricks import diagnostics


def model_grads(spec, shape):
    model = registry.build("model", spec)
    x = jax.random.normal(jax.random.key(0), (4, *shape))

    @jax.jit
    def grads(key):
        variables = model.init(key, x, train=False)

        def loss(params):
            logits = model.apply({**variables, "params": params}, x, train=False)
            return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.arange(4) % 3).mean()

        return jax.grad(loss)(variables["params"])

    return grads(jax.random.key(1))


def test_norms_per_layer():
    grads = model_grads("mlp(num_classes=3, widths=(5, 6), batch_norm=True)", (7,))
    norms = jax.jit(diagnostics.per_layer_grad_norms)(grads)
    assert list(norms) == ["BatchNorm_0", "BatchNorm_1", "Dense_0", "Dense_1", "head"]
    by_layer = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(grads)[0]:
        layer = "/".join(str(k.key) for k in path[:-1])
        by_layer[layer] = by_layer.get(layer, 0.0) + float(np.sum(np.square(np.asarray(leaf, np.float64))))
    assert set(norms) == set(by_layer) == set(diagnostics.layer_names(grads))
    for layer, total in by_layer.items():
        assert float(norms[layer]) == pytest.approx(np.sqrt(total), rel=1e-5)
    assert np.sqrt(sum(float(v) ** 2 for v in norms.values())) == pytest.approx(
        float(optax.tree.norm(grads)), rel=1e-5
    )
    histograms = diagnostics.layer_histograms(grads)
    assert set(histograms) == set(norms)
    assert sum(int(h["num"]) for h in histograms.values()) == sum(x.size for x in jax.tree.leaves(grads))

    nested = {
        "stage1_block0": {"Conv_0": {"kernel": jnp.ones((2, 2))}, "BatchNorm_0": {"scale": jnp.ones(2)}}
    }
    assert diagnostics.layer_names(nested) == ["stage1_block0/BatchNorm_0", "stage1_block0/Conv_0"]
    assert float(diagnostics.per_layer_grad_norms(nested)["stage1_block0/Conv_0"]) == pytest.approx(2.0)


def log_a_run(workdir, steps=12, log_every=3):
    """A few SGD steps of a digits-sized MLP, logging per-layer norms as the training loop does."""
    from tricks.train._writers import JsonlWriter

    model = registry.build("model", "mlp(num_classes=3, widths=(8, 8))")
    x = jax.random.normal(jax.random.key(0), (16, 5))
    labels = jnp.arange(16) % 3
    params = model.init(jax.random.key(1), x, train=False)["params"]

    @jax.jit
    def step(params, sums):
        grads = jax.grad(
            lambda p: optax.softmax_cross_entropy_with_integer_labels(
                model.apply({"params": p}, x), labels
            ).mean()
        )(params)
        sums = jax.tree.map(jnp.add, sums, diagnostics.per_layer_grad_norms(grads))
        return jax.tree.map(lambda p, g: p - 0.5 * g, params, grads), sums

    writer, sums = JsonlWriter(workdir), {layer: jnp.zeros(()) for layer in diagnostics.layer_names(params)}
    for i in range(1, steps + 1):
        params, sums = step(params, sums)
        if i % log_every == 0:
            writer.write(
                i, {f"{diagnostics.GRAD_NORM_PREFIX}{k}": float(v) / log_every for k, v in sums.items()}
            )
            writer.write(i, {"eval/test/accuracy": 0.5})
            sums = {layer: jnp.zeros(()) for layer in diagnostics.layer_names(params)}
    writer.close()


def test_plot_grads(tmp_path, capsys):
    log_a_run(tmp_path)
    layers, total = read_grad_norms(tmp_path / "metrics.jsonl")
    assert list(layers) == ["Dense_0", "Dense_1", "head"] and total is None
    assert layers["head"][0].tolist() == [3, 6, 9, 12] and np.all(layers["head"][1] > 0)
    output = tmp_path / "grads.png"
    assert main(["plot", "grads", str(tmp_path), "--layers", "Dense_*", "head", "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert "3 layers, steps 3 to 12" in out and "stalled" not in out  # a healthy run names no layer
    assert output.stat().st_size > 10_000


def test_plot_grads_bad_input(tmp_path, capsys):
    assert main(["plot", "grads", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().out
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": 1.0}) + "\n")
    assert main(["plot", "grads", str(tmp_path)]) == 2
    assert "holds no per-layer gradient norms" in capsys.readouterr().out
    log_a_run(tmp_path)
    assert main(["plot", "grads", str(tmp_path), "--layers", "conv*"]) == 2
    assert "no layer matches" in capsys.readouterr().out
