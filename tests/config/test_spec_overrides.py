"""Dotted overrides inside specs: positional and keyword arguments, nested specs, both forms."""

import shlex

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components the specs name)
from tricks import config, train
from tricks.config import ConfigError

CLIP = "--config.optimizer=clip_by_global_norm(sgd(learning_rate=0.1), max_norm=1.0)"


def apply(*overrides, **fields):
    return config.apply_overrides(ml_collections.ConfigDict(fields or {"optimizer": "adam"}), overrides)


def test_a_keyword_argument_of_a_spec_string_set_after_the_spec_itself():
    cfg = apply(CLIP, "--config.optimizer.max_norm=0.5")
    assert cfg.optimizer == "clip_by_global_norm(sgd(learning_rate=0.1), max_norm=0.5)"


def test_a_positional_argument_is_addressed_by_its_parameter_name_and_stays_positional():
    assert registry.describe("optimizer", "clip_by_global_norm").parameters[0].name == "optimizer"
    cfg = apply(CLIP, "--config.optimizer.optimizer.learning_rate=0.05")
    assert cfg.optimizer == "clip_by_global_norm(sgd(learning_rate=0.05), max_norm=1.0)"
    cfg = apply("--config.optimizer=clip_by_global_norm(sgd(learning_rate=0.1), 1.0)",
                "--config.optimizer.max_norm=0.5")
    assert cfg.optimizer == "clip_by_global_norm(sgd(learning_rate=0.1), 0.5)"
    cfg = apply(CLIP, "--config.optimizer.optimizer=adam(learning_rate=0.01)")
    assert cfg.optimizer == "clip_by_global_norm(adam(learning_rate=0.01), max_norm=1.0)"


def test_an_argument_the_spec_leaves_to_its_default_is_added_typed_by_the_default():
    cfg = apply(CLIP, "--config.optimizer.optimizer.nesterov=true",  # a bool: the default False says so
                "--config.optimizer.optimizer.momentum=0.9")
    assert cfg.optimizer == (
        "clip_by_global_norm(sgd(learning_rate=0.1, nesterov=True, momentum=0.9), max_norm=1.0)")


def test_two_levels_of_nesting_in_a_string_and_in_a_mapping():
    cfg = apply(CLIP,
                "--config.optimizer.optimizer.learning_rate=warmup(cosine(init_value=0.1), warmup_steps=5)",
                "--config.optimizer.optimizer.learning_rate.schedule.init_value=0.2",  # warmup's 1st
                "--config.optimizer.optimizer.learning_rate.warmup_steps=10")
    assert cfg.optimizer == ("clip_by_global_norm(sgd(learning_rate=warmup(cosine(init_value=0.2), "
                             "warmup_steps=10)), max_norm=1.0)")
    cfg = config.apply_overrides(train.default_config(),
                                 ["--config.optimizer.learning_rate.schedule.init_value=0.01"])
    assert cfg.optimizer.to_dict() == {  # the mapping stays a mapping, its spec string a string
        "name": "adamw", "weight_decay": 1e-4,
        "learning_rate": "warmup(cosine(init_value=0.01), warmup_steps=40)"}


def test_each_spec_keeps_the_form_the_config_held():
    sgd = {"name": "sgd", "learning_rate": 0.1}
    mapping = {"name": "clip_by_global_norm", "optimizer": sgd, "max_norm": 1.0}
    cfg = apply("--config.optimizer.optimizer.learning_rate=0.3", "--config.optimizer.max_norm=2",
                optimizer=mapping)
    assert cfg.optimizer.to_dict() == {**mapping, "optimizer": {**sgd, "learning_rate": 0.3}, "max_norm": 2.0}
    quoted = "clip_by_global_norm(optimizer='sgd(learning_rate=0.1)', max_norm=1.0)"
    cfg = apply("--config.optimizer.optimizer.learning_rate=0.3", optimizer=quoted)
    assert cfg.optimizer == "clip_by_global_norm(optimizer='sgd(learning_rate=0.3)', max_norm=1.0)"
    cfg = apply("--config.dataset.data_dir=/tmp/d", dataset="digits")
    assert cfg.dataset == "digits(data_dir='/tmp/d')"


def test_where_a_component_may_go_a_number_or_a_spec_string_is_taken():
    cfg = config.apply_overrides(train.default_config(), [
        "--config.optimizer.learning_rate=0.05", "--config.optimizer.weight_decay=cosine(init_value=1e-4)"])
    assert cfg.optimizer.learning_rate == 0.05  # the file: a schedule (a number is a constant rate)
    assert cfg.optimizer.weight_decay == "cosine(init_value=1e-4)"  # the file: a number


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([CLIP, "--config.optimizer.max_nrom=0.5"],
         "--config.optimizer.max_nrom=0.5: optimizer 'clip_by_global_norm': argument 'max_nrom': "
         "unknown argument (did you mean 'max_norm'?); valid arguments: max_norm, optimizer; "
         "for example --config.optimizer.max_norm=0.5"),
        ([CLIP, "--config.optimizer.optimizer.learnin_rate=0.05"],
         "--config.optimizer.optimizer.learnin_rate=0.05: optimizer 'sgd': argument 'learnin_rate': "
         "unknown argument (did you mean 'learning_rate'?); "
         "valid arguments: learning_rate, momentum, nesterov, weight_decay; "
         "for example --config.optimizer.optimizer.learning_rate=0.05"),
        ([CLIP, "--config.optimizer.optimzer.learning_rate=0.05"],
         "(did you mean 'optimizer'?); valid arguments: max_norm, optimizer; "
         "for example --config.optimizer.optimizer.learning_rate=0.05"),
        (["--config.optimizer.wieght_decay=0"],
         "optimizer 'adam': argument 'wieght_decay': unknown argument (did you mean 'weight_decay'?)"),
        ([CLIP, "--config.optimizer.zzz=1"],
         "argument 'zzz': unknown argument; valid arguments: max_norm, optimizer; "
         "for example --config.optimizer.optimizer='sgd(learning_rate=0.1)'"),
        ([CLIP, "--config.optimizer.optimizer.learning_rate=cosne(init_value=0.1)"],
         "schedule 'cosne': unknown name (did you mean 'cosine'?)"),
        ([CLIP, "--config.optimizer.max_norm=big"],
         "--config.optimizer.max_norm=big: expected a float, got 'big'; "
         "for example --config.optimizer.max_norm=1.0"),
        ([CLIP, "--config.optimizer.max_norm.x=1"],
         "optimizer.max_norm is a float, which has no field 'x'; "
         "for example --config.optimizer.max_norm=1"),
        ([CLIP, "--config.optimizer.optimizer.momentum.init_value=0.9"],
         "optimizer.optimizer.momentum is not set, so it has no field 'init_value'; set it whole; "
         "for example --config.optimizer.optimizer.momentum='cosine(init_value=0.9)'"),
        ([CLIP, "--config.optimizer.optimizer=__import__('os').system('ls')"],
         "invalid spec \"__import__('os').system('ls')\": attribute access is not allowed"),
        (["--config.optimizer=sgdd(learning_rate=0.1)", "--config.optimizer.learning_rate=0.2"],
         "optimizer is the string 'sgdd(learning_rate=0.1)', which has no field 'learning_rate' "
         "(no component is registered as 'sgdd' (did you mean 'sgd'"),
    ],
)
def test_an_override_that_cannot_apply_names_itself_and_one_that_would_work(overrides, message):
    with pytest.raises(ConfigError) as info:
        apply(*overrides)
    assert message in str(info.value)
    if "for example " in str(info.value):  # the override it shows applies, as a shell would pass it
        (shown,) = shlex.split(str(info.value).rpartition("for example ")[2])
        apply(*overrides[:-1], shown)


def test_the_overridden_spec_builds_with_its_new_arguments():
    cfg = config.apply_overrides(train.default_config(), [
        CLIP, "--config.optimizer.max_norm=0.5", "--config.optimizer.optimizer.learning_rate=0.05",
        "--config.num_steps=2", "--config.model.widths=(8,)", "--config.progress=false"])
    run = train.setup(cfg)
    optimizer = run.components.optimizer
    updates, _ = optimizer.update(jnp.array([3.0, 4.0]), optimizer.init(jnp.zeros(2)))
    np.testing.assert_allclose(updates, [-0.05 * 0.3, -0.05 * 0.4], rtol=1e-6)  # norm clipped to 0.5
    nested = apply(CLIP, "--config.optimizer.optimizer.learning_rate="
                         "warmup(cosine(init_value=0.1, decay_steps=10), warmup_steps=5)",
                   "--config.optimizer.optimizer.learning_rate.schedule.init_value=0.2")
    registry.build("optimizer", nested.optimizer)
