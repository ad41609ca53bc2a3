"""One registry style for everything a run can choose by name: drift types, datasets, monitors and
real-drift sources.

A :class:`Registry` maps a name to a frozen *spec*: a dataclass carrying what the rest of the study
needs about the entry (its function or class, its parameters, whether a run uses it by default).
Adding an entry is one ``REGISTRY.add(Spec(...))`` (or the ``@REGISTRY.register(...)`` decorator)
in the file that implements it, and nothing else: the parameter defaults, the profiles' validation
and the book's tables read the registry.

    SOURCES = Registry("real-drift source")
    SOURCES.add(SourceSpec(name="int8", build=_int8, default=True))
    SOURCES.get("int8").build(...)
    SOURCES.names(default_only=True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from probedrift.core.errors import ProbedriftError

Spec = TypeVar("Spec")


class Registry(Generic[Spec]):
    """Name → spec, in registration order. A spec is any object with a ``name`` attribute (str);
    a ``default`` attribute (bool, True when absent) says whether a run uses it unless told otherwise."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Spec] = {}

    def add(self, spec: Spec, *, replace: bool = False) -> Spec:
        """Register ``spec`` under ``spec.name``; a second entry of the same name is an error unless ``replace``."""
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not name:
            raise ProbedriftError(f"a {self.kind} needs a non-empty string name, got {name!r}",
                                  "give the spec a name")
        if name in self._entries and not replace:
            raise ProbedriftError(f"{self.kind} {name!r} is already registered",
                                  f"pick another name, or remove({name!r}) the old entry first")
        self._entries[name] = spec
        return spec

    def register(self, make_spec: Callable[[Callable], Spec]) -> Callable[[Callable], Callable]:
        """Decorator form: ``@REG.register(lambda fn: Spec(name=..., build=fn))`` adds the spec built
        from the decorated function and returns the function unchanged."""
        def decorate(fn: Callable) -> Callable:
            self.add(make_spec(fn))
            return fn
        return decorate

    def remove(self, name: str) -> Spec:
        """Remove the entry ``name`` and return its spec (tests and experiments register temporary ones)."""
        self.get(name)
        return self._entries.pop(name)

    def get(self, name: str) -> Spec:
        """The spec registered as ``name``; an unknown name raises an error listing the registered ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ProbedriftError(f"unknown {self.kind} {name!r}",
                                  f"use one of: {', '.join(self._entries) or '(none registered)'}") from None

    def names(self, *, default_only: bool = False) -> tuple[str, ...]:
        """Registered names in registration order (only those a run uses by default, with ``default_only``)."""
        return tuple(n for n, s in self._entries.items() if not default_only or getattr(s, "default", True))

    def specs(self) -> tuple[Spec, ...]:
        """Registered specs in registration order."""
        return tuple(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
