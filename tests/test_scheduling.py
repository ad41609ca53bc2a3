"""How the test session is laid out for two pytest-xdist workers (tests/conftest.py): the tests that need
the session's smoke run come after every test that does not, in groups of their own, and no module
fixture is shared between a file's early and late groups (it would be made once in each)."""

from __future__ import annotations

import pytest

from tests.conftest import _needs_the_smoke_run


def _groups(item) -> set[str]:
    return {str(m.args[0] if m.args else m.kwargs.get("name")) for m in item.iter_markers("xdist_group")}


def _module_fixtures(item) -> set[str]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:  # a notebook cell takes no fixtures
        return set()
    return {name for name, defs in info.name2fixturedefs.items() if defs and defs[-1].scope == "module"}


def test_every_test_that_needs_the_smoke_run_comes_after_every_test_that_does_not(request):
    items = request.session.items
    late = [i for i, item in enumerate(items) if _needs_the_smoke_run(item)]
    early = [i for i, item in enumerate(items) if not _needs_the_smoke_run(item)]
    if not late:
        pytest.skip("no test of this session needs the smoke run (the check is for the whole suite)")
    assert max(early) < min(late)


def test_no_group_mixes_tests_that_need_the_smoke_run_with_tests_that_do_not(request):
    need = {}
    for item in request.session.items:
        for group in _groups(item):
            need.setdefault(group, set()).add(_needs_the_smoke_run(item))
    assert need, "the session's tests carry no xdist group"
    mixed = sorted(group for group, kinds in need.items() if len(kinds) > 1)
    assert not mixed, f"groups with both early and late tests: {mixed}"


def test_no_module_fixture_is_shared_by_a_files_early_and_late_tests(request):
    by_file: dict[str, dict[bool, set[str]]] = {}
    for item in request.session.items:
        by_file.setdefault(item.path.name, {}).setdefault(_needs_the_smoke_run(item), set()).update(
            _module_fixtures(item))
    shared = {name: parts[True] & parts[False] for name, parts in by_file.items()
              if len(parts) == 2 and parts[True] & parts[False]}
    assert not shared, f"module fixtures made twice, once per group: {shared}"
