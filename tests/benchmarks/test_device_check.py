"""benchmarks/device_check.py: its quick mode end to end, and its section runner (budget, errors)."""

import json
import math
import statistics

import jax
import pytest

from benchmarks import device_check


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_rates(mode: dict, seeds: int, updates: int, env_steps: int, repeats: int) -> None:
    assert len(mode["times_s"]) == repeats and all(positive_finite(t) for t in mode["times_s"])
    seconds = statistics.median(mode["times_s"])
    assert mode["updates_per_s"] == pytest.approx(seeds * updates / seconds)
    assert mode["env_steps_per_s"] == pytest.approx(seeds * env_steps / seconds)
    assert mode["updates_per_s_per_seed"] * seeds == pytest.approx(mode["updates_per_s"])


@pytest.fixture(scope="module")
def quick_record(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("device_check")
    out = device_check.main(["--quick", "--out-dir", str(out_dir)])
    [path] = out_dir.glob("device_check-*-quick.json")
    assert str(path) == out["path"]
    record = json.loads(path.read_text())
    assert record["sections"] == json.loads(json.dumps(out["sections"]))  # the last save holds everything
    return record


@pytest.mark.slow  # a benchmark's quick mode, not a correctness check: kept out of CI's 25-minute budget
def test_quick_run_measures_every_section_consistently(quick_record):
    record, settings = quick_record, quick_record["settings"]
    sections = record["sections"]
    assert list(sections) == list(device_check.SECTIONS)
    assert {name: s["status"] for name, s in sections.items()} == dict.fromkeys(device_check.SECTIONS, "ok")
    assert all(s["wall_s"] >= 0 for s in sections.values()) and record["elapsed_s"] > 0

    device = sections["device"]
    assert device["backend"] == "cpu" and device["device_count"] == len(jax.devices())
    assert device["packages"]["jax"] == jax.__version__ and set(device["packages"]) == set(device_check.PACKAGES)
    assert device["device_memory"] is None  # the CPU keeps no allocator statistics

    updates = sections["updates"]
    per_chunk, env_steps = updates["updates_per_chunk_per_seed"], updates["env_steps_per_chunk_per_seed"]
    assert env_steps == settings["chunk_env_steps"] and per_chunk == env_steps // 2  # an update every 2nd env step
    rows = {(r["precision"], r["seeds"]): r for r in updates["rows"]}
    assert [list(k) for k in rows] == updates["plan"] == [["bf16", 1], ["f32", 1], ["bf16", 2]]
    for (precision, seeds), row in rows.items():
        assert row["status"] == "ok"
        for mode in ("vmapped", "sequential"):
            check_rates(row[mode], seeds, per_chunk, env_steps, settings["repeats"])
        assert row["ratio_vmapped_over_sequential"] == pytest.approx(
            row["vmapped"]["updates_per_s"] / row["sequential"]["updates_per_s"])
        assert row["speedup_over_one_seed"] == pytest.approx(
            row["vmapped"]["updates_per_s"] / rows[(precision, 1)]["vmapped"]["updates_per_s"])
        mem = row["memory_analysis"]
        live = mem["argument_bytes"] + mem["output_bytes"] - mem["alias_bytes"]
        assert mem["peak_estimate_bytes"] == live + mem["temp_bytes"]
        # The chunk's arguments are exactly the seeds' run states.
        assert mem["argument_bytes"] == seeds * updates["state_per_seed"][precision]["run_total_bytes"]
        assert row["allocator"] is None
    # One initialisation serves both precisions: same arrays, the precision lives in the static config.
    assert updates["runs_shared"] == {"f32": "bf16"} and list(updates["init_and_prefill_s"]) == ["bf16"]
    [ratio] = updates["bf16_over_f32"]
    assert ratio["seeds"] == 1 and ratio["ratio"] == pytest.approx(
        rows[("bf16", 1)]["vmapped"]["updates_per_s"] / rows[("f32", 1)]["vmapped"]["updates_per_s"])
    target = updates["target"]
    assert target["applies"] is False and target["measured_speedup"] is None  # no 9-seed row in quick mode
    assert target["best_bf16_over_f32"] == pytest.approx(ratio["ratio"])

    memory = sections["memory"]
    one, two = (rows[("bf16", n)]["memory_analysis"] for n in (1, 2))
    bf16 = memory["per_precision"]["bf16"]["xla_per_added_seed"]
    assert bf16["from_seeds"] == [1, 2]
    assert bf16["peak_estimate_bytes"] == two["peak_estimate_bytes"] - one["peak_estimate_bytes"]
    assert bf16["temp_bytes"] > 0 and bf16["argument_bytes"] == one["argument_bytes"]
    assert "xla_per_added_seed" not in memory["per_precision"]["f32"]  # one f32 seed count only
    assert "memory_analysis only" in memory["source"]

    study = sections["study"]
    steady, projection = study["steady_state"], study["projection"]
    assert study["precision"] == settings["study_precision"] and steady["seeds"] == settings["study_seeds"]
    assert steady["chunk_env_steps"] == settings["study_chunk_env_steps"] and steady["reused_study_programs"] is False
    t_active, t_passive = (statistics.median(steady[k]) for k in ("active_tandem_chunk_s", "passive_chunk_s"))
    t_eval = statistics.median(steady["evaluate_one_agent_s"]) * 500 / steady["episode_length"]
    runs = 3 * steady["seeds"]
    expected_s = (1e6 / steady["chunk_env_steps"] * (t_active + t_passive) + 200 * 3 * t_eval) * 9 / runs
    assert positive_finite(projection["projected_hours"])
    assert projection["projected_hours"] * 3600 == pytest.approx(expected_s)
    assert projection["measured_runs"] == runs and projection["target_applies"] is False

    env = {r["name"]: r for r in sections["env"]["rows"]}
    batch = settings["env_batch"]
    measured = [r for r in env.values() if r["impl"] != "warp"]
    assert {(r["task"], r["impl"]) for r in measured} == {(settings["gymnax_task"], None),
                                                         (settings["mjx_task"], "jax")}  # fmt: skip
    for row in measured:
        assert row["status"] == "ok" and row["batch"] == batch
        assert row["steps_per_s"] == pytest.approx(batch * row["steps_per_call"] / statistics.median(row["times_s"]))
    warp = [r for r in env.values() if r["impl"] == "warp"]
    assert len(warp) == 2  # batched, and under the seed vmap
    assert all(r["status"] == "unavailable" and "CPU backend" in r["reason"] for r in warp)


def test_sections_record_errors_and_skip_once_the_budget_is_spent():
    now = [0.0]
    budget = device_check.Budget(10.0, clock=lambda: now[0])
    saves = []

    def fine(ctx):
        now[0] += 4.0
        return {"value": 1}

    def failing(ctx):
        ctx.report({"rows": ["measured before the failure"]})
        now[0] += 4.0
        raise ValueError("out of memory " + "x" * 3000)

    def slow(ctx):
        assert ctx.results["failing"]["status"] == "error"  # later sections see earlier results
        now[0] += 5.0  # 13 s in: the budget of 10 s is spent
        return {}

    def never(ctx):
        raise AssertionError("a section after the budget must not run")

    sections = [("fine", fine), ("failing", failing), ("slow", slow), ("never", never)]
    results = device_check.run_sections(sections, {}, budget, lambda r: saves.append(json.loads(json.dumps(r))))
    assert [r["status"] for r in results.values()] == ["ok", "error", "ok", "skipped"]
    assert results["fine"]["value"] == 1
    failure = results["failing"]
    assert failure["rows"] == ["measured before the failure"]  # partial results survive
    assert failure["error"]["type"] == "ValueError" and failure["error"]["message"].startswith("out of memory")
    assert failure["error"]["message_truncated"]
    assert len(failure["error"]["message"]) == device_check.ERROR_MESSAGE_CHARS
    assert "budget of 10 s exceeded (13 s elapsed)" in results["never"]["reason"]
    # Saved after the partial report and after every section; the last save is the final result.
    assert saves[1]["failing"]["status"] == "running" and saves[-1] == json.loads(json.dumps(results))
    assert len(saves) == 5


def test_derived_figures_and_argument_errors():
    # Shared seed counts first (ratios and target), then the rest, ascending; 1 seed is always timed.
    plan = device_check.row_plan({"bf16_seeds": [18, 3, 9], "f32_seeds": [9]})
    assert plan == [("bf16", 1), ("f32", 1), ("bf16", 9), ("f32", 9), ("bf16", 3), ("bf16", 18)]

    def row(precision, seeds, rate, peak, allocator_peak=None, new_peak=False):
        allocator = None if allocator_peak is None else {"after": {"peak_bytes_in_use": allocator_peak},
                                                         "set_new_peak": new_peak}  # fmt: skip
        mem = {"argument_bytes": 10 * seeds, "output_bytes": 10 * seeds, "temp_bytes": peak - 20 * seeds,
               "peak_estimate_bytes": peak}  # fmt: skip
        return {"precision": precision, "seeds": seeds, "status": "ok", "vmapped": {"updates_per_s": rate},
                "ratio_vmapped_over_sequential": rate / 10, "memory_analysis": mem, "allocator": allocator}

    rows = [row("bf16", 1, 10.0, 100, 1000, True), row("f32", 1, 4.0, 150, 1500, True),
            row("bf16", 9, 60.0, 900, 2000, True), row("f32", 9, 20.0, 1350, 1900, False),
            row("bf16", 3, 25.0, 300, 1200, False),
            {"precision": "bf16", "seeds": 18, "status": "skipped"}]  # fmt: skip
    device_check.add_speedups(rows)
    assert rows[2]["speedup_over_one_seed"] == pytest.approx(6.0) and "speedup_over_one_seed" not in rows[5]
    ratios = device_check.precision_ratios(rows)
    assert ratios == [{"seeds": 1, "ratio": pytest.approx(2.5)}, {"seeds": 9, "ratio": pytest.approx(3.0)}]
    target = device_check.target_check(rows, ratios)
    assert target["measured_speedup"] == pytest.approx(6.0) and target["speedup_met"] is True
    assert target["best_bf16_over_f32"] == pytest.approx(3.0) and target["bf16_met"] is True

    ctx = device_check.Context({}, device_check.Budget(1.0), {"updates": {"rows": rows, "state_per_seed": {}}}, None)
    memory = device_check.memory_section(ctx)["per_precision"]
    assert memory["bf16"]["xla_per_added_seed"]["peak_estimate_bytes"] == pytest.approx((900 - 100) / 8)
    # Only rows that raised the process's peak measure their own: bf16 1 and 9, not 3.
    expected = {"from_seeds": [1, 9], "peak_bytes_in_use": pytest.approx(1000 / 8)}
    assert memory["bf16"]["allocator_per_added_seed"] == expected
    assert "allocator_per_added_seed" not in memory["f32"]  # its 9-seed row stayed under bf16's peak

    versions = device_check.package_versions(("jax", "no-such-distribution-offon-jit"))
    assert versions == {"jax": jax.__version__, "no-such-distribution-offon-jit": None}  # absent, not an error

    with pytest.raises(ValueError, match="precision"):
        device_check.main(["--quick", "--model", "precision=bf16"])
    with pytest.raises(ValueError, match="needs the updates section"):
        device_check.main(["--quick", "--sections", "memory"])
    with pytest.raises(ValueError, match="--bf16-seeds must be >= 1"):
        device_check.main(["--quick", "--bf16-seeds", "0"])
    with pytest.raises(ValueError, match="unknown DreamerConfig field 'widht'"):
        device_check.main(["--quick", "--model", "widht=3"])


@pytest.mark.parametrize("command", [
    ["benchmarks.device_check", "--quick", "--model", "widht=3"],
    ["benchmarks.update_cost", "--quick", "--presets", "huge"],
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, command):
    import pathlib
    import subprocess
    import sys

    out_dir = tmp_path / "results"
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", *command, "--out-dir", str(out_dir)], cwd=root,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and "Warning" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{command[0]}: error:"), done.stderr
    assert "Traceback" not in done.stderr and not out_dir.exists()
