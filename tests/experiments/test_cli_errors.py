"""`offon-jit experiment` refuses a corrupt random-score cache before training, with a one-line error."""

from experiments.cli import main


def test_corrupt_random_score_cache_stops_before_any_run(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "random_scores.json"
    cache.write_text("{oops")
    monkeypatch.setenv("OFFON_JIT_RANDOM_SCORES", str(cache))
    out_root = tmp_path / "out"
    assert main(["experiment", "fig7", "--out-root", str(out_root), "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(cache) in error and "corrupt" in error
    assert cache.read_text() == "{oops" and not out_root.exists()
