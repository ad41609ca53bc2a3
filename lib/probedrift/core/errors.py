"""Errors raised for bad input.

Every error the study raises on purpose derives from :class:`ProbedriftError` and says what is
wrong *and* how to fix it, so a user never has to read a deep library traceback to find out.
"""

from __future__ import annotations

from collections.abc import Iterable


class ProbedriftError(ValueError):
    """Bad input or state: ``problem`` names what is wrong, ``fix`` says what to do about it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\n  fix: {fix}")


class CacheError(ProbedriftError):
    """The on-disk cache cannot be read or written (permissions, full disk)."""


def check_choice(kind: str, value: object, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid``; otherwise raise an error listing the options."""
    valid = list(valid)
    if value not in valid:
        raise ProbedriftError(
            f"unknown {kind} {value!r}",
            f"use one of: {', '.join(map(str, valid))}",
        )
    return value  # type: ignore[return-value]


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Raise a clear error unless ``value`` > 0 (or >= 0 with ``allow_zero``)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ProbedriftError(f"{name} must be {bound}, got {value!r}", f"pass a {name} {bound}")
    return value
