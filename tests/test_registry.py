"""The one registry style shared by drift types, datasets, monitors and real-drift sources."""

from dataclasses import dataclass

import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.core.registry import Registry


@dataclass(frozen=True)
class _Spec:
    name: str
    value: int = 0
    default: bool = True


def test_names_keep_registration_order_and_default_filter():
    reg = Registry("widget")
    for name, default in (("b", True), ("a", False), ("c", True)):
        reg.add(_Spec(name, default=default))
    assert reg.names() == ("b", "a", "c")
    assert reg.names(default_only=True) == ("b", "c")
    assert [s.name for s in reg.specs()] == ["b", "a", "c"]
    assert "a" in reg and "z" not in reg and len(reg) == 3 and list(reg) == ["b", "a", "c"]


def test_unknown_name_lists_the_registered_ones():
    reg = Registry("widget")
    reg.add(_Spec("alpha"))
    reg.add(_Spec("beta"))
    with pytest.raises(ProbedriftError, match=r"unknown widget 'gamma'") as err:
        reg.get("gamma")
    assert "alpha, beta" in str(err.value)


def test_duplicate_needs_replace_and_remove_returns_the_spec():
    reg = Registry("widget")
    reg.add(_Spec("a", 1))
    with pytest.raises(ProbedriftError, match="already registered"):
        reg.add(_Spec("a", 2))
    reg.add(_Spec("a", 2), replace=True)
    assert reg.get("a").value == 2
    assert reg.remove("a").value == 2 and "a" not in reg
    with pytest.raises(ProbedriftError):
        reg.remove("a")


def test_decorator_registers_the_spec_built_from_the_function_and_returns_it():
    reg = Registry("widget")

    @reg.register(lambda fn: _Spec(fn.__name__, fn()))
    def seven():
        return 7

    assert seven() == 7 and reg.get("seven").value == 7


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_spec_needs_a_string_name(bad):
    with pytest.raises(ProbedriftError, match="non-empty string name"):
        Registry("widget").add(_Spec(bad))
