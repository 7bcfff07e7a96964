"""Table S2 (final self-generated data), baselines and the CSV/markdown writers."""

import csv

import pytest

from offon_jit.analysis import (
    baseline_scores,
    final_values,
    markdown_table,
    self_generated_table,
    write_csv,
)
from offon_jit.analysis.tables import TABLE_S2_FORMAT


def auto_rows(finals_by_seed, label="passive_auto (ood_threshold=1.35)"):
    """passive_auto rows ramping to the given final pct per seed; seed 1 stops one eval early."""
    rows = []
    for seed, final in enumerate(finals_by_seed):
        last = 20 if seed == 0 else 10
        for steps in range(0, last + 1, 10):
            rows.append({"agent": "passive_auto", "label": label, "seed": seed, "env_steps": steps,
                         "self_generated_pct": final * steps / last, "score": 1.0})
        rows.append({"agent": "active", "seed": seed, "env_steps": 20, "score": 100.0 + seed, "self_generated_pct": None})
    return rows


def test_table_s2_numbers_and_markdown():
    task_rows = {"cheetah_run-proprio": auto_rows([10.0, 10.88]), "freeway-vision": auto_rows([0.0, 0.0])}
    table = self_generated_table(task_rows)
    assert [(e["task"], e["label"]) for e in table] == [
        ("cheetah_run-proprio", "passive_auto (ood_threshold=1.35)"), ("freeway-vision", "passive_auto (ood_threshold=1.35)")]
    cheetah = table[0]
    assert cheetah["mean"] == pytest.approx(10.44)  # each seed's own last eval point
    assert cheetah["std"] == pytest.approx(0.44)
    assert cheetah["num_seeds"] == 2 and cheetah["final_env_steps"] == 20
    text = markdown_table(table, value_format=TABLE_S2_FORMAT)
    lines = text.splitlines()
    assert lines[0] == "| Task | passive_auto (ood_threshold=1.35) |"
    assert "| cheetah_run-proprio | 10.44% |" in lines
    assert "| freeway-vision | 0.00% |" in lines
    assert lines[-1] == "| Average | 5.22% |"
    with_std = markdown_table(table, value_format=TABLE_S2_FORMAT, show_std=True, average=False)
    assert "| cheetah_run-proprio | 10.44% ± 0.44 |" in with_std and "Average" not in with_std


def test_several_labels_become_columns_and_missing_cells_a_dash():
    task_rows = {
        "a": auto_rows([2.0, 4.0]) + auto_rows([8.0, 8.0], label="passive_auto (ood_threshold=2.0)"),
        "b": auto_rows([1.0, 1.0]),
    }
    text = markdown_table(self_generated_table(task_rows))
    assert "| Task | passive_auto (ood_threshold=1.35) | passive_auto (ood_threshold=2.0) |" in text
    assert "| a | 3.00 | 8.00 |" in text and "| b | 1.00 | – |" in text
    assert "| Average | 2.00 | 8.00 |" in text
    only = self_generated_table(task_rows, labels=["passive_auto (ood_threshold=2.0)"])
    assert [(e["task"], e["mean"]) for e in only] == [("a", 8.0)]


def test_baseline_scores_and_csv_round_trip(tmp_path):
    task_rows = {"a": auto_rows([1.0, 1.0]), "b": auto_rows([1.0, 1.0])}
    assert baseline_scores(task_rows) == {"a": 100.5, "b": 100.5}
    with pytest.raises(KeyError, match="unknown curve labels"):
        baseline_scores(task_rows, label="tandem")
    table = final_values(task_rows, "score")
    path = write_csv(table, tmp_path / "out" / "final.csv")
    with open(path) as f:
        read = list(csv.DictReader(f))
    assert [r["task"] for r in read] == [e["task"] for e in table]
    assert float(read[0]["mean"]) == pytest.approx(table[0]["mean"])


def test_table_errors():
    task_rows = {"a": auto_rows([1.0, 1.0])}
    with pytest.raises(KeyError, match="unknown metric"):
        final_values(task_rows, "nope")
    with pytest.raises(ValueError, match="non-empty list"):
        markdown_table([])
    with pytest.raises(KeyError, match="lacks"):
        markdown_table([{"task": "a", "mean": 1.0}])
    with pytest.raises(ValueError, match="cannot format"):
        markdown_table(self_generated_table(task_rows), value_format="{:.2f} {}")
    with pytest.raises(ValueError, match="list of dicts"):
        write_csv([], "x.csv")
