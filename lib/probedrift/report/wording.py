"""Small, generic rules for the words a summary prints: a direction from an interval, a short model
name, a readable learning rate.

A summary never types an outcome word. The direction of a change is read from the interval of the
change (:func:`direction`): it rises only when the whole interval lies above zero, falls only when the
whole interval lies below, and otherwise the run does not resolve it. The number is then printed
unsigned beside its word (:func:`change_words`), so a word and a sign can never disagree.
"""

from __future__ import annotations

import math
import re
from pathlib import PureWindowsPath

from probedrift.core.errors import ProbedriftError

__all__ = ["DIRECTIONS", "change_words", "direction", "fmt_lr", "short_name"]

#: The default words of :func:`direction`: interval above zero, below zero, covering zero (or missing).
DIRECTIONS = ("rises", "falls", "holds")


def _bound(x: object) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError) as err:
        raise ProbedriftError(f"an interval bound must be a number, got {x!r}",
                              "pass the change's ci_low and ci_high (None or NaN when missing)") from err


def direction(low: object, high: object, words: tuple[str, str, str] = DIRECTIONS) -> str:
    """The direction of a change from its interval [low, high] (closed): ``words[0]`` when low > 0,
    ``words[1]`` when high < 0, ``words[2]`` when the interval covers 0 or a bound is missing (None/NaN).

    An inverted interval (low > high) raises :class:`ProbedriftError`.
    """
    lo, hi = _bound(low), _bound(high)
    if math.isnan(lo) or math.isnan(hi):
        return words[2]
    if lo > hi:
        raise ProbedriftError(f"the interval is inverted: low {lo} > high {hi}", "pass the lower bound first")
    if lo > 0:
        return words[0]
    if hi < 0:
        return words[1]
    return words[2]


def change_words(value: float, low: object, high: object, fmt: str = ".2f",
                 words: tuple[str, str, str] = DIRECTIONS, interval_name: str = "interval", detail: str = "") -> str:
    """A change as words, the word from :func:`direction`: resolved, the number unsigned beside its word,
    "falls 0.03 (interval -0.05 to -0.01)"; unresolved, signed, since no direction is claimed,
    "holds within its interval (+0.01; interval -0.02 to +0.04 includes 0)"; an interval [0, 0] (no
    change on any resample) "holds (no change on any resample)". ``fmt`` formats the
    numbers (".0%" for a relative change); ``interval_name`` names the interval ("paired interval",
    "range"); ``detail`` (e.g. "0.93 → 0.96") opens the parentheses."""
    word = direction(low, high, words)
    signed = "+" + fmt
    lo, hi = _bound(low), _bound(high)
    lead = f"{detail}; " if detail else ""
    if math.isnan(lo) or math.isnan(hi):
        return f"{word} ({lead}{format(float(value), signed)}, no {interval_name} to resolve it)"
    if lo == hi == 0:  # the same on every resample: resolved, and nothing to sign
        return f"{word} ({lead}no change on any resample)"
    span = f"{interval_name} {format(lo, signed)} to {format(hi, signed)}"
    if word != words[2]:
        return f"{word} {format(abs(float(value)), fmt)} ({lead}{span})"
    return f"{word} within its {interval_name} ({lead}{format(float(value), signed)}; {span} includes 0)"


def short_name(model: object) -> str:
    """A model's name for readers: the last component of a hub id or a local directory path
    (``Qwen/Qwen3-0.6B`` → ``Qwen3-0.6B``, ``/data/models/my-model/`` → ``my-model``); an embedded
    model's name is kept."""
    text = str(model).strip()
    if not text:
        raise ProbedriftError("a model name is empty", "pass the model's name, hub id or directory")
    name = PureWindowsPath(text.rstrip("/\\")).name  # splits on both / and \
    return name or text


_EXPONENT = re.compile(r"e([+-])0*(\d+)$")


def fmt_lr(learning_rate: float) -> str:
    """A learning rate in the compact scientific form of training recipes: 0.0002 → ``2e-4``,
    0.001 → ``1e-3``, 1.5e-05 → ``1.5e-5`` (three significant digits at most)."""
    x = float(learning_rate)
    if not math.isfinite(x) or x <= 0:
        raise ProbedriftError(f"a learning rate must be a finite number > 0, got {learning_rate!r}",
                              "pass e.g. 2e-4")
    mantissa, _, exponent = f"{x:.2e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    sign, digits = _EXPONENT.match("e" + exponent).groups()
    return f"{mantissa}e{'-' if sign == '-' else ''}{digits}"
