"""Four processes on one teacher store (benchmark/concurrency.py): two students reading one disk
cache, one building another, one deleting an old run, equal to the same runs one after another."""
from __future__ import annotations


from recbole_csrec.benchmark.concurrency import STUDENTS, Run, check, run_concurrency
from tests.conftest import TINY_NAME, fast_config


def test_four_processes_on_one_store_equal_the_serial_runs(tiny_data, tmp_path):
    lines: list[str] = []
    settings = fast_config(tiny_data, soft_label_cache_mb=0.001, num_teachers=2)
    problems = run_concurrency("GRU4Rec", TINY_NAME, None, settings, root=str(tmp_path),
                               log=lines.append)
    assert problems == []
    assert sum(line.startswith("serial") for line in lines) == 3
    assert sum(line.startswith("concurrent") for line in lines) == 4


def test_the_check_reports_what_differs(tmp_path):
    serial = {name: Run(name, 0, 1.0, 100.0, {"test_result": {"ndcg@10": 0.5}}) for name in STUDENTS}
    concurrent = {**{name: Run(name, 0, 1.0, 100.0, {"test_result": {"ndcg@10": 0.5}}) for name in STUDENTS},
                  "deleter": Run("deleter", 0, 0.1, 2.0)}
    concurrent["reader-2"] = Run("reader-2", 0, 1.0, 5000.0, {"test_result": {"ndcg@10": 0.4}})
    concurrent["builder"] = Run("builder", 1, 1.0, 100.0)
    old = {"saved": str(tmp_path)}
    problems = check(serial, concurrent, str(tmp_path), str(tmp_path), {"B": "none.disk"}, old, budget_mb=1.0)
    assert "builder exited 1" in problems
    assert "reader-2: test result differs from the serial run" in problems
    assert any(p.startswith("reader-2: peak RSS 5000 MB over") for p in problems)
    assert "the old run's saved was not deleted" in problems
    assert "teacher set B's cache built concurrently differs from the serial one" in problems
