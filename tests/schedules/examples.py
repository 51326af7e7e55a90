"""One example spec per registered schedule, with its exact value at a step past 2**31.

`STEP_FUNCTIONS` must name every registered schedule except the stateful ones in
`STATEFUL`; the contract tests fail when a newly registered schedule is missing.
"""

import math

HUGE = 3 * 2**30 + 6  # past 2**31, and not a multiple of the periods below


def _cyclic(t, base, high, up, down):
    x = (t % (up + down)) / (up + down)
    ratio = up / (up + down)
    rise = x / ratio if x <= ratio else (1 - x) / (1 - ratio)
    return base + (high - base) * rise


def _half_cosine(fraction):
    return (1 + math.cos(math.pi * fraction)) / 2


def _sgdr(t, init, t0, mult, eta_min, m_mul):
    i, start = 0, 0
    while start + t0 * mult**i <= t:
        start += t0 * mult**i
        i += 1
    length = t0 * mult**i
    return eta_min + (init - eta_min) * m_mul**i * (1 + math.cos(math.pi * (t - start) / length)) / 2


# name -> (spec, value at step HUGE computed in Python floats)
STEP_FUNCTIONS = {
    "constant": ("constant(value=0.3)", lambda t: 0.3),
    "linear": ("linear(init_value=1.0, end_value=0.1, transition_steps=100)", lambda t: 0.1),
    "step": ("step(init_value=0.1, step_size=1073741824, gamma=0.5)", lambda t: 0.1 * 0.5 ** (t // 2**30)),
    "multistep": (
        "multistep(init_value=0.1, milestones=[10, 20, 3000000000, 4000000000], gamma=0.5)",
        lambda t: 0.1 * 0.5**3,
    ),
    "piecewise": ("piecewise(boundaries=[10, 3000000000], values=[1.0, 0.5, 0.25])", lambda t: 0.25),
    "exponential": (
        "exponential(init_value=0.1, decay_steps=1073741824, decay_rate=0.5)",
        lambda t: 0.1 * 0.5 ** (t / 2**30),
    ),
    "natural_exp": (
        "natural_exp(init_value=0.1, decay_steps=1073741824, decay_rate=1.0, staircase=True)",
        lambda t: 0.1 * math.exp(-(t // 2**30)),
    ),
    "inverse_time": (
        "inverse_time(init_value=0.1, decay_steps=1000, decay_rate=0.5)",
        lambda t: 0.1 / (1 + 0.5 * t / 1000),
    ),
    "inverse_sqrt": (
        "inverse_sqrt(init_value=0.1, warmup_steps=100)",
        lambda t: 0.1 * math.sqrt(100 / (t + 1)),
    ),
    "noam": ("noam(d_model=512, warmup_steps=4000)", lambda t: 512**-0.5 * (t + 1) ** -0.5),
    "polynomial": (
        "polynomial(init_value=0.1, decay_steps=7, end_value=0.001, power=0.5, cycle=True)",
        lambda t: 0.099 * ((math.ceil(t / 7) * 7 - t) / (math.ceil(t / 7) * 7)) ** 0.5 + 0.001,
    ),
    "cosine": ("cosine(init_value=0.1, decay_steps=1000, alpha=0.1)", lambda t: 0.01),
    "warmup": (
        "warmup(cosine(init_value=0.1, decay_steps=4000000000), warmup_steps=100, init_value=0.001)",
        lambda t: 0.1 * (1 + math.cos(math.pi * (t - 100) / 4e9)) / 2,
    ),
    "scaled": (
        "scaled(inverse_time(init_value=0.1, decay_steps=1000, decay_rate=0.5), batch_size=1024)",
        lambda t: 4 * 0.1 / (1 + 0.5 * t / 1000),
    ),
    "cyclic": (
        "cyclic(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=12)",
        lambda t: _cyclic(t, 0.01, 0.1, 4, 12),
    ),
    "cyclic_momentum": (
        "cyclic_momentum(step_size_up=4, step_size_down=12, mode='triangular2')",
        lambda t: 0.9,  # the amplitude halves every cycle: long gone
    ),
    "one_cycle": ("one_cycle(max_lr=0.4, total_steps=1000)", lambda t: 0.4 / 25 / 1e4),
    "one_cycle_momentum": (
        "one_cycle_momentum(total_steps=1000, pct_start=0.25, three_phase=True)",
        lambda t: 0.95,
    ),
    "sgdr": (
        "sgdr(init_value=0.1, t0=10, t_mult=2, eta_min=0.001, m_mul=0.9)",
        lambda t: _sgdr(t, 0.1, 10, 2, 0.001, 0.9),
    ),
    "join": (
        "join(schedules=['linear(init_value=0.0, end_value=0.1, transition_steps=100)',"
        " 'sgdr(init_value=0.1, t0=1000)'], boundaries=[100])",
        lambda t: _sgdr(t - 100, 0.1, 1000, 1, 0.0, 1.0),
    ),
    "wsd": (
        "wsd(peak_value=0.1, total_steps=4000000000, warmup_steps=100, decay_fraction=0.5, decay_shape='cosine',"
        " end_value=0.001)",
        lambda t: 0.001 + 0.099 * _half_cosine((t - 2e9) / 2e9),
    ),
    "rex": ("rex(init_value=0.1, decay_steps=4000000000)", lambda t: 0.1 * (1 - t / 4e9) / (0.5 + 0.5 * (1 - t / 4e9))),
    "tanh": (
        "tanh(init_value=0.1, decay_steps=4000000000, end_value=0.001, lb=-6.0, ub=4.0)",
        lambda t: 0.001 + 0.5 * 0.099 * (1 - math.tanh(-6 * (1 - t / 4e9) + 4 * t / 4e9)),
    ),
    "noisy": (  # the noise is off at HUGE (tested in test_noisy.py)
        "noisy(exponential(init_value=0.1, decay_steps=1073741824, decay_rate=0.5), noise_range_t=[0, 1000],"
        " noise_pct=0.3)",
        lambda t: 0.1 * 0.5 ** (t / 2**30),
    ),
}

# Stateful schedules: not step -> value functions (tested in test_plateau.py).
STATEFUL = {"reduce_on_plateau": "reduce_on_plateau(factor=0.5, patience=2)"}

# name -> [(spec, the argument the error must name)]
BAD = {
    "constant": [({"name": "constant", "value": float("nan")}, "value")],
    "linear": [
        ("linear(1.0, 0.0, transition_steps=0)", "transition_steps"),
        ("linear(1.0, 0.0, transition_steps=10, transition_begin=-1)", "transition_begin"),
    ],
    "step": [("step(0.1, step_size=0)", "step_size")],
    "multistep": [
        ("multistep(0.1, milestones=[30, 10])", "milestones"),
        ("multistep(0.1, milestones=[])", "milestones"),
    ],
    "piecewise": [
        ("piecewise(boundaries=[10, 10], values=[1.0, 0.5, 0.1])", "boundaries"),
        ("piecewise(boundaries=[10, 20], values=[1.0, 0.5])", "values"),
        ("piecewise(boundaries=[0, 20], values=[1.0, 0.5, 0.1])", "boundaries"),
    ],
    "exponential": [
        ("exponential(0.1, decay_steps=0, decay_rate=0.5)", "decay_steps"),
        ("exponential(0.1, decay_steps=10, decay_rate=0.5, transition_begin=-2)", "transition_begin"),
        ({"name": "exponential", "init_value": 0.1, "decay_steps": 10, "decay_rate": 0.5, "end_value": float("nan")},
         "end_value"),
    ],
    "natural_exp": [("natural_exp(0.1, decay_steps=-5, decay_rate=0.5)", "decay_steps")],
    "inverse_time": [("inverse_time(0.1, decay_steps=0, decay_rate=0.5)", "decay_steps")],
    "inverse_sqrt": [("inverse_sqrt(0.1, warmup_steps=-1)", "warmup_steps")],
    "noam": [
        ("noam(d_model=512, warmup_steps=0)", "warmup_steps"),
        ("noam(d_model=0, warmup_steps=10)", "d_model"),
    ],
    "polynomial": [
        ("polynomial(0.1, decay_steps=0)", "decay_steps"),
        ("polynomial(0.1, decay_steps=10, transition_begin=-1)", "transition_begin"),
    ],
    "cosine": [("cosine(0.1, decay_steps=0)", "decay_steps"), ("cosine(0.1, 10, k_decay=0.0)", "k_decay")],
    "warmup": [
        ("warmup(cosine(0.1, 100), warmup_steps=-1)", "warmup_steps"),
        ("warmup(cosine(0.1, 100), warmup_steps=10, mode='exponential')", "init_value"),
        ("warmup(linear(0.0, 1.0, 10), warmup_steps=10, init_value=0.01, mode='exponential')", "schedule"),
        ("warmup(cosine(0.1, 100), warmup_steps=10, mode='cubic')", "mode"),
        ("warmup(reduce_on_plateau(), warmup_steps=10)", "schedule"),
    ],
    "scaled": [
        ("scaled(0.1, batch_size=0)", "batch_size"),
        ("scaled(0.1, 512, base_batch_size=0)", "base_batch_size"),
    ],
    "cyclic": [
        ("cyclic(base_lr=0.1, max_lr=0.01)", "max_lr"),
        ("cyclic(base_lr=0.01, max_lr=0.1, step_size_up=0)", "step_size_up"),
        ("cyclic(base_lr=0.01, max_lr=0.1, step_size_down=0)", "step_size_down"),
        ("cyclic(base_lr=0.01, max_lr=0.1, mode='sawtooth')", "mode"),
        ("cyclic(base_lr=0.01, max_lr=0.1, mode='exp_range', gamma=0.0)", "gamma"),
    ],
    "cyclic_momentum": [("cyclic_momentum(base_momentum=0.95, max_momentum=0.85)", "max_momentum")],
    "one_cycle": [
        ("one_cycle(max_lr=0.1, total_steps=0)", "total_steps"),
        ("one_cycle(max_lr=0.1, total_steps=100, pct_start=0.0)", "pct_start"),
        ("one_cycle(max_lr=0.1, total_steps=100, pct_start=1.0)", "pct_start"),
        ("one_cycle(max_lr=0.1, total_steps=100, pct_start=-0.2)", "pct_start"),
        ("one_cycle(max_lr=0.1, total_steps=100, pct_start=0.01)", "pct_start"),
        ("one_cycle(max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True)", "pct_start"),
        ("one_cycle(max_lr=0.1, total_steps=100, div_factor=0.0)", "div_factor"),
        ("one_cycle(max_lr=0.1, total_steps=100, anneal_strategy='cosine')", "anneal_strategy"),
    ],
    "one_cycle_momentum": [
        ("one_cycle_momentum(total_steps=-3)", "total_steps"),
        ("one_cycle_momentum(total_steps=100, pct_start=1.5)", "pct_start"),
        ("one_cycle_momentum(total_steps=100, base_momentum=0.95, max_momentum=0.85)", "max_momentum"),
    ],
    "sgdr": [
        ("sgdr(0.1, t0=10, t_mult=0.5)", "t_mult"),
        ("sgdr(0.1, t0=0)", "t0"),
        ("sgdr(0.1, t0=10, m_mul=0.0)", "m_mul"),
    ],
    "join": [
        ("join([0.1, 0.01], boundaries=[])", "boundaries"),
        ("join([0.1, 0.01, 0.001], boundaries=[20, 10])", "boundaries"),
        ("join([0.1, 0.01], boundaries=[0])", "boundaries"),
        ("join([], boundaries=[])", "schedules"),
    ],
    "reduce_on_plateau": [
        ("reduce_on_plateau(factor=1.0)", "factor"),
        ("reduce_on_plateau(mode='avg')", "mode"),
        ("reduce_on_plateau(patience=-1)", "patience"),
        ("reduce_on_plateau(threshold=1.0)", "threshold"),
        ("reduce_on_plateau(min_scale=2.0)", "min_scale"),
    ],
    "wsd": [
        ("wsd(0.1, total_steps=0)", "total_steps"),
        ("wsd(0.1, 100, warmup_steps=-1)", "warmup_steps"),
        ("wsd(0.1, 100, warmup_steps=90, decay_fraction=0.2)", "warmup_steps"),
        ("wsd(0.1, 100, decay_fraction=0.0)", "decay_fraction"),
        ("wsd(0.1, 100, decay_fraction=1.5)", "decay_fraction"),
        ("wsd(0.1, 100, decay_fraction=0.004)", "decay_fraction"),
        ("wsd(0.1, 100, decay_shape='step')", "decay_shape"),
        ("wsd(0.1, 100, decay_shape='exponential')", "end_value"),
        ("wsd(-0.1, 100, decay_shape='exponential', end_value=0.01)", "peak_value"),
    ],
    "rex": [("rex(0.1, decay_steps=0)", "decay_steps")],
    "tanh": [("tanh(0.1, decay_steps=-1)", "decay_steps"), ("tanh(0.1, 100, lb=3.0, ub=-7.0)", "ub")],
    "noisy": [
        ("noisy(0.1, noise_pct=1.0)", "noise_pct"),
        ("noisy(0.1, noise_pct=0.0)", "noise_pct"),
        ("noisy(0.1, noise_std=0.0)", "noise_std"),
        ("noisy(0.1, noise_range_t=-1)", "noise_range_t"),
        ("noisy(0.1, noise_range_t=[10, 5])", "noise_range_t"),
        ("noisy(0.1, noise_range_t=[1, 2, 3])", "noise_range_t"),
        ("noisy(0.1, noise_seed=-1)", "noise_seed"),
        ("noisy(0.1, noise_type='cauchy')", "noise_type"),
        ("noisy(reduce_on_plateau(), noise_pct=0.1)", "schedule"),
    ],
}
