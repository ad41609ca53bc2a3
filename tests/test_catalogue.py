"""The table catalogue: every table a notebook or a report reads is declared, notebooks only ask for tables,
and a run's table is computed once, saved, reused under the same parameters and recomputed when its
file is gone."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from probedrift.experiments import synthetic_drift
from probedrift.run import catalogue
from probedrift.run.params import repo_root
from probedrift.run.study import Study

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("0*.ipynb"))
LIB = repo_root() / "lib" / "probedrift"


def _code(nb_path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]


def _names_read_by_reports() -> set[str]:
    """Table names findings.py and compare.py read (``_read(run_dir, "x")`` / ``self._read("x")``)."""
    names = set()
    for module in ("report/findings.py", "report/compare.py"):
        names |= set(re.findall(r"_read\((?:run_dir, )?\"(\w+)\"\)", (LIB / module).read_text()))
    return names


def test_every_table_a_notebook_or_report_reads_is_declared():
    asked = {name for nb in NOTEBOOKS for src in _code(nb) for name in re.findall(r"S\.table\(\"(\w+)\"", src)}
    reports = _names_read_by_reports()
    assert {"drift_sweep", "probe_baseline", "pairs", "cliff_log", "finetune_drift"} <= reports  # the regex sees them
    assert len(asked) >= 20
    assert not (asked | reports) - set(catalogue.names())


def test_no_notebook_writes_a_table():
    for nb in NOTEBOOKS:
        writers = [src.splitlines()[0] for src in _code(nb) if "save_table" in src or ".to_csv(" in src]
        assert not writers, f"{nb.name} writes a table in a cell; ask S.table(name) instead: {writers}"


def test_declarations_are_complete_and_read_only_declared_tables():
    for spec in catalogue.TABLES.specs():
        assert spec.columns and spec.doc and callable(spec.produce), spec.name
        assert len(set(spec.columns)) == len(spec.columns), spec.name
        assert set(spec.reads) <= set(catalogue.names()), spec.name
    assert catalogue.column_problems("real_drift", [*catalogue.spec("real_drift").columns, "alarm_ks"]) == []
    assert catalogue.column_problems("probe_baseline", ["model", "metric", "value", "extra"]) == [
        "probe_baseline: missing column 'ci_low'", "probe_baseline: missing column 'ci_high'",
        "probe_baseline: missing column 'n_test'", "probe_baseline: missing column 'seed'",
        "probe_baseline: undeclared column 'extra'"]


def test_each_producer_asks_for_exactly_the_tables_it_declares():
    import inspect

    for spec in catalogue.TABLES.specs():
        asked = set(re.findall(r"S\.table\(\"(\w+)\"", inspect.getsource(spec.produce)))
        assert asked == set(spec.reads), spec.name


def test_loading_an_unknown_or_missing_table(tmp_path):
    from probedrift.core.errors import ProbedriftError

    with pytest.raises(ProbedriftError, match="unknown table 'no_such'"):
        catalogue.load(tmp_path, "no_such", missing_ok=True)
    assert catalogue.load(tmp_path, "drift_sweep", missing_ok=True) is None
    with pytest.raises(ProbedriftError, match="drift_sweep.csv is missing"):
        catalogue.load(tmp_path, "drift_sweep")


# Parameters that keep the smoke profile's embeddings and checkpoints (so the shared cache serves them)
# and make the tables cheap.
CHEAP = {"drift_types": ["gaussian", "rotation"], "n_boot": 30, "crossfit_seeds": [0], "crossfit_boot": 20,
         "cliff_points": 8, "detector_permutations": 20, "detector_sample_size": 30, "false_alarm_runs": 10}


@pytest.fixture
def producers_must_not_run():
    """While active, every declared producer raises (the catalogue's specs are restored afterwards)."""
    saved = catalogue.TABLES.specs()

    def must_not_run(S):
        raise AssertionError("recomputed a table this run already wrote with the same parameters")

    for spec in saved:
        catalogue.TABLES.add(dataclasses.replace(spec, produce=must_not_run), replace=True)
    yield
    for spec in saved:
        catalogue.TABLES.add(spec, replace=True)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Mismatched null-like values")  # mitigations' <NA> in memory is NaN in its CSV
def test_tables_are_computed_once_reused_and_recomputed_when_deleted(tmp_path, request, smoke_cache, monkeypatch):
    # The smoke run's embedding cache: CHEAP changes no embedding, so every table is computed from
    # embeddings and checkpoints that run already made (the tables themselves are computed afresh here).
    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(smoke_cache))
    wanted = sorted(_names_read_by_reports())
    S = Study.from_profile("smoke", CHEAP, str(tmp_path))
    first = {name: S.table(name) for name in wanted}
    for name, df in first.items():
        assert catalogue.is_current(tmp_path, name, S.params_fingerprint), name
        assert catalogue.column_problems(name, df.columns) == [], name
        assert len(df), name

    # An independent check of one number: the clean AUC is sklearn's on the frozen probe's test scores.
    X_te, y_te = S.unit(S.models[0])["test"]
    auc = first["probe_baseline"].set_index(["model", "metric"]).value[(S.models[0], "auc")]
    assert auc == pytest.approx(roc_auc_score(y_te, S.probe(S.models[0]).predict_proba(X_te)), rel=1e-9)

    request.getfixturevalue("producers_must_not_run")
    again = Study.from_profile("smoke", CHEAP, str(tmp_path))
    for name in wanted:
        assert S.table(name) is first[name]  # the object that computed it keeps its full-precision table
        pd.testing.assert_frame_equal(again.table(name), first[name], check_dtype=False, rtol=1e-5)
    other = Study.from_profile("smoke", {**CHEAP, "tau": 0.9}, str(tmp_path))
    with pytest.raises(AssertionError, match="recomputed"):
        other.table("probe_baseline")  # written under other parameters: not reused

    catalogue.table_path(tmp_path, "cliff_log").unlink()
    # Only the deleted table's producer may run again.
    catalogue.TABLES.add(dataclasses.replace(catalogue.spec("cliff_log"), produce=synthetic_drift.cliff_log_table),
                         replace=True)
    assert not catalogue.is_current(tmp_path, "cliff_log", S.params_fingerprint)
    redone = Study.from_profile("smoke", CHEAP, str(tmp_path)).table("cliff_log")
    assert catalogue.table_path(tmp_path, "cliff_log").is_file()
    pd.testing.assert_frame_equal(redone, first["cliff_log"], check_dtype=False, rtol=1e-5)
    assert np.isfinite(redone.auc_clean).all()
