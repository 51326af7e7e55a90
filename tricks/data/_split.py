"""The validation split carved from train: deterministic, seeded, the same on every machine."""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a fixed bijection of uint64, identical on every platform."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (x ^ (x >> np.uint64(31))) & _MASK


def validation_size(num_train: int, validation_fraction: float) -> int:
    """How many of `num_train` examples go to validation: ``round(fraction * num_train)``.

    Examples:
        >>> validation_size(1437, 0.1)
        144
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    n_val = round(validation_fraction * num_train)
    if validation_fraction > 0 and not 0 < n_val < num_train:
        raise ValueError(
            f"validation_fraction={validation_fraction} of {num_train} training examples leaves "
            f"{n_val} for validation and {num_train - n_val} for training; both need at least one"
        )
    return n_val


def carve_validation(
    num_train: int, validation_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices ``0..num_train-1`` into (train, validation), both sorted.

    The validation part is the ``round(fraction * num_train)`` indices whose splitmix64
    hash (of the index mixed with the seed) is smallest. It depends on nothing but
    (num_train, fraction, seed): no random-number stream, so it is the same on every
    machine and numpy version. The two parts are disjoint and cover all indices.

    Args:
        num_train: the size of the source train split.
        validation_fraction: in [0, 1); 0 gives an empty validation part.
        seed: which carve; any non-negative integer.

    Returns:
        (train_indices, validation_indices), int64 arrays in increasing order.

    Raises:
        ValueError: a fraction outside [0, 1), or one leaving either part empty.

    Examples:
        >>> train, val = carve_validation(10, 0.3, seed=0)
        >>> val.tolist(), len(train)
        ([1, 4, 5], 7)
        >>> carve_validation(10, 1.5)
        Traceback (most recent call last):
        ...
        ValueError: validation_fraction must be in [0, 1), got 1.5
    """
    n_val = validation_size(num_train, validation_fraction)
    if seed < 0:
        raise ValueError(f"the validation seed must be >= 0, got {seed}")
    salt = _splitmix64(np.array([seed], dtype=np.uint64))[0]
    ranks = _splitmix64(np.arange(num_train, dtype=np.uint64) ^ salt)
    order = np.argsort(ranks, kind="stable")
    validation = np.sort(order[:n_val]).astype(np.int64)
    train = np.sort(order[n_val:]).astype(np.int64)
    return train, validation
