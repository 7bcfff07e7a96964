"""One markdown report per machine from every benchmark result file.

    python -m benchmarks.report                  # writes benchmarks/results/REPORT-<device>.md
    python -m benchmarks.report --stdout         # prints instead

Reads benchmarks/results/*.json (env throughput, seed scaling, study throughput, compile
and memory, profile, and any other benchmark such as peer_dreamerv3, shown generically).
For each benchmark the full-mode file is used; a quick-mode file only where no full one
exists (or with --include-quick, both).
"""

from __future__ import annotations

import argparse
import json
import pathlib

from benchmarks.common import RESULTS_DIR
from benchmarks.harness import fmt_bytes, fmt_rate


def machine_label(machine: dict) -> str:
    """The device label of a stored result's machine (as benchmarks.common.device_label names files)."""
    kind = machine.get("device", "unknown").lower().replace(" ", "-")
    if machine.get("backend") == "cpu":
        return f"cpu-{kind}-{machine.get('cpu_count')}cores"
    return kind


def load_results(results_dir: pathlib.Path) -> list[dict]:
    records = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(record, dict) or "benchmark" not in record or "machine" not in record:
            raise ValueError(f"{path} is not a benchmark result (needs 'benchmark' and 'machine' keys)")
        record["_file"] = path.name
        records.append(record)
    return records


def select(records: list[dict], include_quick: bool) -> list[dict]:
    """Full-mode results, plus quick ones where a file's full counterpart is missing (or all with include_quick)."""
    full_files = {r["_file"] for r in records if not r.get("quick")}

    def keep(record):
        return include_quick or not record.get("quick") or record["_file"].replace("-quick.json", ".json") not in full_files

    return [r for r in records if keep(r)]


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def num(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    return f"{value:,.{digits}f}"


# -- one section per benchmark ------------------------------------------------------------------
def env_throughput(record: dict) -> list[str]:
    results = record["results"]
    batches = sorted({r["batch"] for r in results})
    keys = list(dict.fromkeys((r["task"], r["backend"]) for r in results))
    cells = {(r["task"], r["backend"], r["batch"]): r["steps_per_s"] for r in results}
    rows = [[task, backend] + [num(cells.get((task, backend, b)), 0) if (task, backend, b) in cells else "" for b in batches]
            for task, backend in keys]  # fmt: skip
    return ["Agent steps per second summed over the batch (frames/s = steps/s x action repeat).", ""] + table(
        ["task", "backend"] + [f"batch {b}" for b in batches], rows
    )


def seed_scaling(record: dict) -> list[str]:
    s = record["settings"]
    lines = [f"Task {record['task']}, batch {s['batch_size']} x {s['seq_len']}, {s['chunk_env_steps']} env steps "
             f"per seed per call, median of {s['repeats']}. Aggregate = summed over seeds.", ""]  # fmt: skip
    rows = []
    for preset in record["presets"]:
        for r in preset["rows"]:
            rows.append([preset["preset"], r["seeds"], fmt_rate(r["vmapped"]["updates_per_s"]),
                         fmt_rate(r["sequential"]["updates_per_s"]), num(r["ratio_vmapped_over_sequential"], 2),
                         num(r["speedup_over_one_seed"], 2), fmt_rate(r["vmapped"]["env_steps_per_s"]),
                         num(r["compile"]["compile_s"])])  # fmt: skip
    lines += table(["preset", "seeds", "vmapped updates/s", "sequential updates/s", "vmapped / sequential",
                    "vs 1 seed", "vmapped env steps/s", "compile s"], rows)  # fmt: skip
    for preset in record["presets"]:
        target = preset.get("target")
        if target and target.get("measured") is not None:
            lines += ["", f"Target ({preset['preset']}): {target['seeds']} vmapped seeds >= "
                      f"{target['min_speedup_over_one_seed']}x the updates/s of one seed; measured "
                      f"{target['measured']:.2f}x vmapped / sequential at {target['seeds']} seeds "
                      f"({'met' if target['met'] else 'not met'}; {target['measured_vs_one_seed_row']:.2f}x against the "
                      "1-seed row)."]  # fmt: skip
    return lines


def study_throughput(record: dict) -> list[str]:
    study, proj, steady = record["study"], record["projection"], record["steady_state"]
    c = study["config"]
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in study["summary"]["phase_time_s"].items())
    low, high = proj["paper_gpu_hours_all_runs"]
    lines = [
        f"Study end to end ({c['task']}, preset {c['preset']}, batch {c['batch_size']} x {c['seq_len']}, "
        f"{c['num_seeds']} seeds x {c['env_steps']} env steps, agents {', '.join(c['agents'])}): "
        f"{study['env_steps_all_agents_and_seeds']} env steps in {study['total_wall_s']:.1f} s = "
        f"**{study['env_steps_per_s_end_to_end']:,.1f} env steps/s** (all agents and seeds; compile, eval, "
        f"checkpoints and plots included; phases {phases}).",
        "",
    ]
    chunk_times = steady["active_tandem_chunk_s"]
    speedup = proj["speedup_vs_paper"]
    applies = "" if proj["target_applies"] else " (not a GPU: not applicable)"
    rows = [
        ["steady state", f"preset {steady['preset']}, batch {steady['batch_size']} x {steady['seq_len']}, "
                         f"{steady['seeds']} seeds"],
        ["Active+Tandem chunk", f"{num(min(chunk_times), 2)}-{num(max(chunk_times), 2)} s "
                                f"per {steady['chunk_env_steps']} env steps per seed"],
        ["Active env steps/s (all seeds)", fmt_rate(proj["active_env_steps_per_s_all_seeds"])],
        ["updates/s (all agents and seeds)", fmt_rate(proj["updates_per_s_all_agents_and_seeds"])],
        ["paper protocol, projected", f"**{proj['projected_hours']:,.1f} h** for {proj['runs']} runs x 1M env steps"
                                      + f", {proj['eval_fraction']:.1%} of it evaluation"
                                      + (f" (scaled from {proj['measured_runs']} measured runs)"
                                         if proj.get("scaled_from_measured_runs") else "")],
        ["per run", f"{proj['projected_hours_per_run']:,.2f} h (paper: 8-15 GPU-h on an RTX 4090 / A100)"],
        ["vs paper", f"{low:.0f}-{high:.0f} GPU-h for 9 runs: x{speedup[0]:,.2f} to x{speedup[1]:,.2f}"],
        ["target", f"<= {proj['target_hours_h100']} h on one H100: " + ("met" if proj["target_met"] else "not met") + applies],
    ]  # fmt: skip
    return lines + table(["quantity", "value"], rows) + ["", f"Formula: `{proj['formula']}`."]


def compile_memory(record: dict) -> list[str]:
    s = record["settings"]
    lines = [f"Task {record['task']}, batch {s['batch_size']} x {s['seq_len']}, replay capacity "
             f"{s['capacity'] or 'chunks only'} per seed. Memory: {record['memory_source']}.", ""]  # fmt: skip
    rows = []
    for preset in record["presets"]:
        for r in preset["rows"]:
            a, o, st = r["active_chunk"], r["offline_chunk"], r["state_per_seed"]
            peak = r["device_peak"]["after_offline_chunk"]["peak_bytes_in_use"] if r["device_peak"] else None
            rows.append([preset["preset"], r["seeds"], num(a["lower_s"]), num(a["compile_s"]), num(o["compile_s"]),
                         fmt_bytes((a["memory_analysis"] or {}).get("peak_estimate_bytes")),
                         fmt_bytes((a["memory_analysis"] or {}).get("temp_bytes")),
                         fmt_bytes(st["params_bytes"] + st["optimizer_bytes"]), fmt_bytes(st["replay_buffer_bytes"]),
                         fmt_bytes(peak)])  # fmt: skip
    lines += table(["preset", "seeds", "Active lower s", "Active compile s", "offline compile s", "Active peak est.",
                    "Active temp", "params+opt / seed", "buffer / seed", "device peak"], rows)  # fmt: skip
    for preset in record["presets"]:
        inc = preset["per_seed"].get("active_chunk")
        if inc:
            lines += ["", f"{preset['preset']}: each added seed costs {fmt_bytes(inc['peak_estimate_bytes'])} of the "
                      f"Active chunk's peak estimate (temp {fmt_bytes(inc['temp_bytes'])})"
                      + (f", {fmt_bytes(inc['device_peak_bytes'])} of measured device peak" if "device_peak_bytes" in inc else "")
                      + "."]  # fmt: skip
    return lines


def profile_step(record: dict) -> list[str]:
    s = record["settings"]
    lines = [f"Task shapes {record['task']}, batch {s['batch_size']} x {s['seq_len']}; parts jitted alone; "
             "trace op time by category (heuristic from HLO op_name scopes).", ""]  # fmt: skip
    for preset in record["presets"]:
        rows = [[name, num(p["median_s"] * 1e3), f"{p['fraction_of_train_step']:.0%}", num(p.get("flops", 0) / 1e9, 2)]
                for name, p in preset["parts"].items()]  # fmt: skip
        lines += [f"Preset **{preset['preset']}**:", ""] + table(["part", "ms", "of train step", "GFLOP"], rows) + [""]
        if "error" in preset["trace"]:
            lines += [f"Trace not summarised: {preset['trace']['error']}", ""]
            continue
        cats = [[c["category"], f"{c['fraction']:.1%}"] for c in preset["trace"]["categories"][:6]]
        lines += table(["traced category", "share of op time"], cats) + [""]
        ops = [[f"`{o['op']}`", f"{o['fraction']:.1%}", o["calls"], o["category"], f"`{o['op_name'][-70:]}`"]
               for o in preset["trace"]["top_ops"][:6]]  # fmt: skip
        lines += table(["top op", "share", "calls", "category", "op_name (tail)"], ops) + [""]
    return lines


def checkpoint_io(record: dict) -> list[str]:
    p = record["projection"]
    lines = [f"One run's state: {fmt_bytes(record['agent_bytes'])} dummy agent + replay buffer of {record['task']} "
             f"({record['bytes_per_stored_step']:,} B per step; obs: {record['obs_source']}). Before: orbax saves the "
             "whole state; after: orbax saves it with `buffer.data={}` plus one shard of the last interval. "
             f"{record['machine_note']}.", ""]  # fmt: skip
    rows = [[f"{r['stored_steps']:,}", num(r["before"]["seconds"], 2), fmt_bytes(r["before"]["bytes"]),
             num(r["after_raw"]["seconds"], 2), fmt_bytes(r["after_raw"]["bytes"]), num(r["after_zlib"]["seconds"], 2),
             fmt_bytes(r["after_zlib"]["bytes"])] for r in record["sizes"]]  # fmt: skip
    lines += table(["stored steps", "before s", "before bytes", "after raw s", "after raw bytes", "after zlib s",
                    "after zlib bytes"], rows)  # fmt: skip
    sparse, chain = record["sparse_capacity"], record["chain"]
    lines += ["", f"Capacity {sparse['capacity']:,} holding {sparse['stored_steps']:,} steps, before: "
              f"{num(sparse['seconds'], 2)} s, {fmt_bytes(sparse['bytes'])}. A chain of {chain['checkpoints']} increments: "
              f"first {num(chain['increment_seconds'][0], 2)} s (compiles the row slice), then median "
              f"{num(chain['later_increments_median_s'], 2)} s; restore "
              f"{num(chain['restore_s'], 2)} s, bitwise equal: {chain['restore_bitwise_equal']}.", ""]  # fmt: skip
    lines += table(["shard format (one interval)", "obs", "s", "bytes", "ratio"],
                   [[f["format"], f["obs"], num(f["seconds"], 2), fmt_bytes(f["bytes"]), num(f["ratio"], 2)]
                    for f in record["formats"]])  # fmt: skip
    b, raw, zlib = p["before"], p["after_raw"], p["after_zlib"]
    rows = [["bytes per checkpoint", f"{fmt_bytes(b['bytes_mean_checkpoint_all_seeds'])} mean, "
             f"{fmt_bytes(b['bytes_last_checkpoint_all_seeds'])} last "
             f"({fmt_bytes(b['bytes_last_checkpoint_all_seeds_if_incompressible'])} if incompressible)",
             fmt_bytes(raw["bytes_per_checkpoint_all_seeds"]), fmt_bytes(zlib["bytes_per_checkpoint_all_seeds"])],
            ["of which the small state", fmt_bytes(p["protocol"]["small_state_disk_bytes_all_seeds"]),
             fmt_bytes(p["protocol"]["small_state_disk_bytes_all_seeds"]),
             fmt_bytes(p["protocol"]["small_state_disk_bytes_all_seeds"])],
            ["bytes per study", fmt_bytes(b["bytes_total_study"]), fmt_bytes(raw["bytes_total_study"]),
             fmt_bytes(zlib["bytes_total_study"])],
            ["seconds per checkpoint", f"{num(b['seconds_first_checkpoint'])}-{num(b['seconds_last_checkpoint'])}",
             num(raw["seconds_per_checkpoint"]), num(zlib["seconds_per_checkpoint"])],
            ["hours per study", num(b["seconds_total_study"] / 3600, 2), num(raw["seconds_total_study"] / 3600, 2),
             num(zlib["seconds_total_study"] / 3600, 2)]]  # fmt: skip
    lines += ["", f"Paper vision protocol, Active phase ({p['protocol']['seeds']} seeds x 1M env steps, "
              f"{p['protocol']['checkpoints']} checkpoints, capacity 1M):", ""]
    return lines + table(["projected", "before", "after raw", "after zlib"], rows) + ["", f"Formula: `{p['formula']}`."]


SCALARS = (int, float, str, bool)


def flat_scalars(tree: dict, prefix: str = "", depth: int = 2) -> list[list]:
    """[dotted key, value] for the scalar leaves of nested dicts, `depth` levels deep."""
    rows = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, SCALARS) or value is None:
            rows.append([name, num(value, 3) if isinstance(value, float) else value])
        elif isinstance(value, dict) and depth > 1:
            rows += flat_scalars(value, name + ".", depth - 1)
    return rows


def record_table(rows: list[dict]) -> list[str]:
    columns = [c for c in rows[0] if isinstance(rows[0][c], SCALARS)][:10]
    body = [[num(r.get(c), 3) if isinstance(r.get(c), float) else r.get(c, "") for c in columns] for r in rows]
    return table(columns, body)


def generic(record: dict) -> list[str]:
    """Any other benchmark: its scalar fields (two levels deep) and every list of flat records."""
    skip = {"benchmark", "created", "machine", "quick", "_file", "settings"}
    body = {k: v for k, v in record.items() if k not in skip}
    lines = []
    scalars = flat_scalars(body)
    if scalars:
        lines += table(["field", "value"], scalars) + [""]
    for key, value in body.items():
        lists = {key: value} if isinstance(value, list) else value if isinstance(value, dict) else {}
        for name, rows in lists.items():
            if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
                label = name if name == key else f"{key}.{name}"
                lines += [f"`{label}`:", ""] + record_table(rows) + [""]
    settings = record.get("settings")
    if isinstance(settings, dict):
        lines += ["Settings: `" + json.dumps(settings) + "`"]
    return lines


SECTIONS = {
    "env_throughput": ("Env throughput", env_throughput),
    "seed_scaling": ("Seed scaling", seed_scaling),
    "study_throughput": ("Study throughput and paper-protocol projection", study_throughput),
    "compile_memory": ("Compile time and memory", compile_memory),
    "profile_step": ("Training-step profile", profile_step),
    "checkpoint_io": ("Checkpoint I/O: whole buffer vs incremental shards", checkpoint_io),
}


def render(label: str, records: list[dict]) -> str:
    m = records[0]["machine"]
    lines = [f"# Benchmark report: {label}", "",
             f"{m.get('platform')}; {m.get('cpu_count')} CPUs; JAX {m.get('jax_version')} ({m.get('backend')}, "
             f"{m.get('device_count')} x {m.get('device')}).", ""]  # fmt: skip
    order = list(SECTIONS)
    records = sorted(records, key=lambda r: (order.index(_kind(r)) if _kind(r) in order else len(order), r["_file"]))
    for record in records:
        title, render_section = SECTIONS.get(_kind(record), (record["benchmark"], generic))
        if record["benchmark"] != _kind(record):  # a labelled variant, e.g. seed_scaling-tiny
            title += f" ({record['benchmark'][len(_kind(record)) + 1:]})"
        mode = "quick mode" if record.get("quick") else "full mode"
        lines += [f"## {title}", "", f"`{record['_file']}` ({mode}, {record.get('created', '?')})", ""]
        lines += render_section(record) + [""]
    return "\n".join(lines)


def _kind(record: dict) -> str:
    """The benchmark family: a result saved as 'env_throughput-mjx' is an env_throughput result."""
    name = record["benchmark"]
    return next((kind for kind in SECTIONS if name == kind or name.startswith(kind + "-")), name)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="folder of result JSON files")
    parser.add_argument("--out-dir", default=None, help="where to write REPORT-<device>.md (default: the results folder)")
    parser.add_argument("--include-quick", action="store_true", help="also show quick results that have a full one")
    parser.add_argument("--stdout", action="store_true", help="print the reports instead of writing them")
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry with the other scripts (no effect)")
    args = parser.parse_args(argv)
    results_dir = pathlib.Path(args.results_dir)
    records = select(load_results(results_dir), args.include_quick)
    if not records:
        raise FileNotFoundError(f"no benchmark results (*.json) in {results_dir}")
    by_machine: dict[str, list[dict]] = {}
    for record in records:
        by_machine.setdefault(machine_label(record["machine"]), []).append(record)
    out_dir = pathlib.Path(args.out_dir or results_dir)
    written = {}
    for label, group in sorted(by_machine.items()):
        text = render(label, group)
        if args.stdout:
            print(text)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"REPORT-{label}.md"
        path.write_text(text)
        written[label] = str(path)
        print(f"wrote {path}")
    return {"reports": written, "machines": sorted(by_machine)}


if __name__ == "__main__":
    main()
