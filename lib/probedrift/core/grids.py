"""The σ grids of a run: the linear grid of the drift sweep and the log-spaced grid of the cliff.

Ground floor: numpy only, so the study, the cliff and the chapters build their grids the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["linear_sigma_grid", "log_sigma_grid", "sweep_sigma_grid"]


def linear_sigma_grid(sigma_max: float, n_sigmas: int) -> np.ndarray:
    """``n_sigmas`` equally spaced σ from 0 to ``sigma_max``, linspace(0, σ_max, n) (paper Table 1: 0..0.15,
    8 checkpoints); the reliability checkpoints of paper Fig. 3 index into it."""
    return np.linspace(0.0, sigma_max, n_sigmas)


def sweep_sigma_grid(sigma_max: float, n_sigmas: int, extra_sigmas: Iterable[float] = ()) -> np.ndarray:
    """The drift sweep's σ grid: the linear grid ∪ ``extra_sigmas``, rounded to 6 decimals, sorted and
    without repeats: unique(round(r_[linspace(0, σ_max, n), extra], 6))."""
    return np.unique(np.round(np.r_[linear_sigma_grid(sigma_max, n_sigmas), list(extra_sigmas)], 6))


def log_sigma_grid(sigma_min: float, sigma_max: float, n: int) -> np.ndarray:
    """σ = 0 followed by ``n`` log-spaced values from ``sigma_min`` to ``sigma_max`` (ratio (max/min)^(1/(n−1)))."""
    if not 0 < sigma_min < sigma_max or n < 2:
        raise ValueError("need 0 < sigma_min < sigma_max and n >= 2")
    return np.concatenate([[0.0], np.geomspace(sigma_min, sigma_max, n)])
