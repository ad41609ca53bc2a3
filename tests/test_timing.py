"""Stage timings: each stage its calls' self time, per notebook, and the remainder as "other"."""

from __future__ import annotations

import json
import time

import pytest

from probedrift.core import timing


class _Fake:
    def __init__(self, run_dir):
        self.run_dir = run_dir

    @timing.timed("drift")
    def outer(self):
        time.sleep(0.05)
        self.inner()

    @timing.timed("probes")
    def inner(self):
        time.sleep(0.05)


def test_a_nested_timed_call_counts_under_its_own_stage_and_leaves_the_outer_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBEDRIFT_NOTEBOOK", "03_drift.ipynb")
    fake = _Fake(tmp_path)
    t0 = time.perf_counter()
    fake.outer()  # 0.05 s of its own, then a 0.05 s probes call
    elapsed = time.perf_counter() - t0
    spent = json.loads((tmp_path / "stage_seconds.json").read_text())["03_drift.ipynb"]
    assert set(spent) == {"drift", "probes"}
    assert 0.05 <= spent["probes"] < 0.09
    assert 0.05 <= spent["drift"] < 0.09  # its self time: the nested call is not counted twice
    assert spent["drift"] + spent["probes"] == pytest.approx(elapsed, abs=0.01)
    fake.inner()  # a direct call adds to the same stage
    again = json.loads((tmp_path / "stage_seconds.json").read_text())["03_drift.ipynb"]
    assert 0.1 <= again["probes"] < 0.15 and again["drift"] == spent["drift"]


def test_stage_seconds_nest_three_deep_and_stay_apart_across_threads(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("PROBEDRIFT_NOTEBOOK", "06_real_drift.ipynb")

    class Deep(_Fake):
        @timing.timed("real drift")
        def top(self):
            time.sleep(0.05)
            self.middle()

        @timing.timed("fine-tuning")
        def middle(self):
            time.sleep(0.05)
            self.inner()

    fake = Deep(tmp_path)
    worker = threading.Thread(target=fake.inner)  # a call on another thread is a top-level call of its own
    worker.start()
    fake.top()
    worker.join()
    spent = json.loads((tmp_path / "stage_seconds.json").read_text())["06_real_drift.ipynb"]
    assert 0.05 <= spent["real drift"] < 0.09 and 0.05 <= spent["fine-tuning"] < 0.09
    assert 0.1 <= spent["probes"] < 0.15  # the nested call and the other thread's


def test_stage_table_leaves_the_untimed_remainder_as_other():
    rows = timing.stage_table({"a.ipynb": {"extraction": 30.0, "figures": 2.0}},
                              {"a.ipynb": 40.0, "b.ipynb": 5.0, "total": 45.0})
    a, b = rows
    assert a["extraction"] == 30.0 and a["figures"] == 2.0 and a["other"] == pytest.approx(8.0)
    assert b["other"] == 5.0 and sum(b[s] for s in timing.STAGES) == 0
    assert [r["notebook"] for r in rows] == ["a.ipynb", "b.ipynb"]


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage"):
        timing.timed("plotting-and-more")


def test_performance_table_sums_each_stage_over_notebooks(tmp_path):
    from probedrift.run.book import timings_markdown

    prov = {"profile": "default", "device": {"cpu": "x86_64", "cpu_count": 2},
            "timings_seconds": {"01_embeddings.ipynb": 100.0, "03_drift.ipynb": 50.0, "total": 150.0},
            "stage_seconds": {"01_embeddings.ipynb": {"extraction": 90.0},
                              "03_drift.ipynb": {"drift": 30.0, "probes": 5.0, "extraction": 1.0}}}
    (tmp_path / "provenance.json").write_text(json.dumps(prov))
    lines = timings_markdown(tmp_path).splitlines()
    header = next(line for line in lines if line.startswith("| notebook"))
    assert header == "| notebook | extraction | probes | drift | other | total |"
    assert "| 03_drift | 1 | 5 | 30 | 14 | 50 |" in lines
    assert lines[-1] == "| **all** | **91** | **5** | **30** | **24** | **150** |"
    assert ("running models (extraction, corpus, fine-tuning, sample generations) took 91 s (61%), the statistics "
            "on their embeddings 35 s (23%), and figures with the rest 24 s.") in lines[0]
