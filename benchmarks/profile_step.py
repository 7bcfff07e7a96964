"""Profile of one DreamerV3 training step: a jax.profiler trace and the top costs, per preset.

    python -m benchmarks.profile_step            # presets tiny and s, batch 16 x 64
    python -m benchmarks.profile_step --quick    # tiny, batch 4 x 16

For each preset:
1. Times the jitted `agent.train_step` and its parts, each jitted on its own with the
   library's functions: world-model loss forward, world-model update (loss + grad + Adam),
   imagination forward (15 prior steps from every posterior state), and the actor-critic
   update (imagination with gradients, actor and critic losses, grads, Adam, slow critic).
   FLOPs are counted on each part's traced program with scans times their length
   (`counted_flops`, benchmarks/flop_count.py); XLA's cost_analysis (`flops`), which
   counts each loop body once, is kept beside it.
2. Records a jax.profiler trace of a few train steps into profiles/<preset>-<task>/ (git
   ignored; open it with TensorBoard's profile plugin or Perfetto) and ranks the traced XLA
   ops by self time, naming each with its HLO op_name (the JAX/Flax scope it came from)
   and a coarse category.
The batch is synthetic (random values with the task's shapes): a jitted step's cost does
not depend on the values.
"""

from __future__ import annotations

import collections
import glob
import os
import pathlib
import re

import jax
import jax.numpy as jnp
import optax

import envs
from benchmarks import harness
from benchmarks.common import median, save_result
from benchmarks.flop_count import count_flops
from offon_jit.dreamer import agent as agent_lib
from offon_jit.dreamer.actor_critic import actor_critic_update, make_actor, make_critic
from offon_jit.dreamer.actor_critic import imagine as imagine_latents
from offon_jit.dreamer.optim import make_optimizers
from offon_jit.dreamer.world_model import make_world_model, world_model_outputs

PROFILES_DIR = pathlib.Path(__file__).resolve().parent.parent / "profiles"
PARTS = ("train_step", "world_model_forward", "world_model_update", "imagination_forward", "actor_critic_update")
QUICK = {"task": "debug/point_reach", "presets": ["tiny"], "batch_size": 4, "seq_len": 16, "repeats": 5,
         "trace_steps": 2, "top": 12, "parts": list(PARTS)}  # fmt: skip
FULL = {"task": "debug/point_reach", "presets": ["tiny", "s"], "batch_size": 16, "seq_len": 64, "repeats": 5,
        "trace_steps": 3, "top": 15, "parts": list(PARTS)}  # fmt: skip
# Trace events that are executor bookkeeping, not XLA ops (as are all C++-style "A::B" names).
SKIPPED_EVENTS = ("ThreadpoolListener", "end: ", "ThunkExecutor")
# (substring of the HLO op_name or instruction text, category), first match wins.
CATEGORIES = (
    ("img_step", "imagination: RSSM prior steps"),
    ("obs_step", "world model: RSSM posterior steps"),
    ("encode", "world model: encoder"),
    ("heads", "world model: heads (decoder, reward, continue)"),
    ("reward_logits", "world model: heads (decoder, reward, continue)"),
    ("cont_logit", "world model: heads (decoder, reward, continue)"),
    ("Actor", "actor"),
    ("actor_loss", "actor"),
    ("TwoHotHead", "critic"),
    ("critic", "critic"),
    ("opt_state", "optimizer"),
    ("world_model_outputs", "world model: losses"),
    ("lambda_returns", "actor: returns"),
)


def synthetic_batch(spec, batch_size: int, seq_len: int, key) -> dict:
    """Random values with the replay batch layout of `spec` (episode starts at t = 0)."""
    obs_key, action_key, reward_key = jax.random.split(key, 3)
    shape = (batch_size, seq_len)
    if spec.is_image:
        obs = jax.random.randint(obs_key, shape + spec.obs_shape, 0, 256, jnp.int32).astype(jnp.uint8)
    else:
        obs = jax.random.normal(obs_key, shape + spec.obs_shape, jnp.float32)
    if spec.action.is_discrete:
        action = jax.nn.one_hot(jax.random.randint(action_key, shape, 0, spec.action.dim), spec.action.dim)
    else:
        action = jax.random.uniform(action_key, shape + (spec.action.dim,), jnp.float32, -1.0, 1.0)
    return {
        "obs": obs,
        "action": action.astype(jnp.float32),
        "reward": jax.random.normal(reward_key, shape, jnp.float32),
        "is_first": jnp.zeros(shape, bool).at[:, 0].set(True),
        "is_terminal": jnp.zeros(shape, bool),
    }


def step_parts(spec, config) -> dict:
    """The train step and its parts as functions of (agent_state, batch, start, key)."""
    wm_model = make_world_model(config, spec.obs_shape, spec.action.dim)
    actor = make_actor(config, spec.action.dim, spec.action.is_discrete)
    critic = make_critic(config)
    optimizers = make_optimizers(config)

    def world_model_forward(state, batch, start, key):
        return world_model_outputs(state.params["wm"], batch, key, config)

    def world_model_update(state, batch, start, key):
        def objective(params):
            losses, extras = world_model_outputs(params, batch, key, config)
            return jnp.mean(losses["total"]), extras

        (_, extras), grads = jax.value_and_grad(objective, has_aux=True)(state.params["wm"])
        updates, opt_state = optimizers["wm"].update(grads, state.opt_states["wm"], state.params["wm"])
        return optax.apply_updates(state.params["wm"], updates), opt_state, extras["post"]

    def imagination(state, batch, start, key):
        return imagine_latents(wm_model, state.params["wm"], actor, state.params["actor"], start, key,
                               config.imag_horizon, backprop=False)  # fmt: skip

    def actor_critic(state, batch, start, key):
        start_cont = 1.0 - batch["is_terminal"].reshape(-1).astype(jnp.float32)
        return actor_critic_update(
            state.params, state.opt_states, state.return_norm, wm_model=wm_model, wm_params=state.params["wm"],
            actor_model=actor, critic_model=critic, start=start, start_cont=start_cont, key=key, config=config,
            optimizers=optimizers,
        )  # fmt: skip

    def train_step(state, batch, start, key):
        return agent_lib.train_step(state, batch, key)

    return {
        "train_step": train_step,
        "world_model_forward": world_model_forward,
        "world_model_update": world_model_update,
        "imagination_forward": imagination,
        "actor_critic_update": actor_critic,
    }


def posterior_starts(state, batch, key, config):
    """Imagination starts as train_step makes them: every posterior state of the batch, flattened."""
    _, extras = world_model_outputs(state.params["wm"], batch, key, config)
    return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), extras["post"])


def time_parts(spec, config, state, batch, start, key, repeats: int, names) -> tuple[dict, object]:
    """Each part's steady-state time (and compile time, FLOPs); the train step always comes first."""
    parts, compiled_train_step = {}, None
    functions = step_parts(spec, config)
    for name in ["train_step"] + [n for n in names if n != "train_step"]:
        fn = functions[name]
        compiled, compile_times = harness.compile_timed(jax.jit(fn), state, batch, start, key)
        _, times = harness.timed_calls(lambda _, c=compiled: c(state, batch, start, key), None, repeats)
        counted = {f"counted_{k}": v for k, v in count_flops(fn, state, batch, start, key).items()}
        parts[name] = {"times_s": times, "median_s": median(times), **compile_times, **harness.cost_analysis(compiled),
                       **counted}  # fmt: skip
        if name == "train_step":
            compiled_train_step = compiled
        harness.log(f"[{config.preset}] {name}: {median(times) * 1e3:,.1f} ms (compile {compile_times['compile_s']:.1f} s)")
    whole = parts["train_step"]["median_s"]
    for part in parts.values():
        part["fraction_of_train_step"] = part["median_s"] / whole
    return parts, compiled_train_step


# -- the trace ----------------------------------------------------------------------------------
def hlo_op_names(compiled) -> dict[str, tuple[str, str]]:
    """HLO instruction name -> (op_name metadata, category) from the compiled program's text."""
    names = {}
    for line in compiled.as_text().splitlines():
        match = re.match(r"\s*(?:ROOT\s+)?%([\w.\-]+) = ", line)
        if not match:
            continue
        op_name = re.search(r'op_name="([^"]*)"', line)
        op_name = op_name.group(1) if op_name else ""
        names[match.group(1)] = (op_name, categorise(op_name, line))
    return names


def categorise(op_name: str, line: str) -> str:
    for key, category in CATEGORIES:
        if key in op_name:
            return category
    # No scope in the metadata: the parameters an op reads still say which network it belongs to.
    for key, category in (("slow_critic", "critic"), ("critic", "critic"), ("actor", "actor"), ("params__wm", "world model")):
        if key in line:
            return category
    return "other"


def trace_lines(profile) -> list:
    """The trace lines holding XLA op executions: device 'XLA Ops' lines, else the CPU XLA threads."""
    device = [p for p in profile.planes if p.name.startswith(("/device:GPU", "/device:TPU"))]
    if device:
        lines = [line for plane in device for line in plane.lines if line.name == "XLA Ops"]
        return lines or [line for plane in device for line in plane.lines if line.name not in ("XLA Modules", "Steps")]
    return [line for plane in profile.planes if plane.name == "/host:CPU" for line in plane.lines
            if line.name.startswith("tf_XLA")]  # fmt: skip


def self_times(events) -> dict[str, list[float]]:
    """Per event name: [count, inclusive ns, self ns], children nested by time on one line."""
    totals = collections.defaultdict(lambda: [0, 0.0, 0.0])
    ordered = sorted(((e.start_ns, e.duration_ns, e.name) for e in events), key=lambda e: (e[0], -e[1]))
    stack = []  # [end, name, duration, children's duration]

    def close(entry):
        totals[entry[1]][0] += 1
        totals[entry[1]][1] += entry[2]
        totals[entry[1]][2] += entry[2] - entry[3]

    for start, duration, name in ordered:
        while stack and stack[-1][0] <= start:
            close(stack.pop())
        if stack:
            stack[-1][3] += duration
        stack.append([start + duration, name, duration, 0.0])
    while stack:
        close(stack.pop())
    return totals


def summarise_trace(trace_dir: pathlib.Path, compiled, top: int) -> dict:
    files = sorted(glob.glob(str(trace_dir / "**" / "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    if not files:
        raise FileNotFoundError(f"jax.profiler wrote no .xplane.pb under {trace_dir}")
    profile = jax.profiler.ProfileData.from_file(files[-1])
    totals = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for line in trace_lines(profile):
        for name, (count, inclusive, own) in self_times(line.events).items():
            totals[name][0] += count
            totals[name][1] += inclusive
            totals[name][2] += own
    ops = {name: t for name, t in totals.items() if not name.startswith(SKIPPED_EVENTS) and "::" not in name}
    op_time = sum(t[2] for t in ops.values())
    if not op_time:
        raise ValueError(f"the trace {files[-1]} holds no XLA op events")
    hlo = hlo_op_names(compiled)
    rows = []
    by_category = collections.defaultdict(float)
    for name, (count, inclusive, own) in ops.items():
        op_name, category = hlo.get(name, hlo.get(name.split(":")[0], ("", "other")))
        by_category[category] += own
        rows.append({"op": name, "calls": count, "self_ms": own / 1e6, "inclusive_ms": inclusive / 1e6,
                     "fraction": own / op_time, "op_name": op_name, "category": category})  # fmt: skip
    rows.sort(key=lambda r: -r["self_ms"])
    return {
        "file": str(files[-1]),
        "op_self_time_ms": op_time / 1e6,
        "top_ops": rows[:top],
        "categories": sorted(
            ({"category": c, "self_ms": t / 1e6, "fraction": t / op_time} for c, t in by_category.items()),
            key=lambda r: -r["self_ms"],
        ),
    }


def profile_preset(settings: dict, preset: str, profiles_dir: pathlib.Path, overrides: dict) -> dict:
    spec = envs.get_task(settings["task"]).spec
    config = agent_lib.DreamerConfig.from_preset(preset, **overrides)
    init_key, batch_key, start_key, step_key = jax.random.split(jax.random.PRNGKey(0), 4)
    state = agent_lib.init_agent(init_key, spec, config)
    batch = synthetic_batch(spec, settings["batch_size"], settings["seq_len"], batch_key)
    start = jax.jit(posterior_starts, static_argnums=3)(state, batch, start_key, config)
    parts, compiled = time_parts(spec, config, state, batch, start, step_key, settings["repeats"], settings["parts"])
    trace_dir = profiles_dir / f"{preset}-{settings['task'].replace('/', '_')}"
    with jax.profiler.trace(str(trace_dir)):
        for _ in range(settings["trace_steps"]):
            jax.block_until_ready(compiled(state, batch, start, step_key))
    try:
        trace = summarise_trace(trace_dir, compiled, settings["top"])
    except (OSError, ValueError, AttributeError) as err:  # an unfamiliar trace layout must not lose the timings
        trace = {"error": f"{type(err).__name__}: {err}", "folder": str(trace_dir)}
        harness.log(f"[{preset}] could not summarise the trace in {trace_dir}: {trace['error']}")
    else:
        harness.log(f"[{preset}] trace of {settings['trace_steps']} train steps in {trace['file']}")
    return {"preset": preset, "parts": parts, "trace": trace}


def print_table(presets: list[dict]) -> None:
    for p in presets:
        print(f"preset {p['preset']}: train step and its parts (each jitted alone)")
        print(f"  {'part':22} {'ms':>10} {'of step':>8} {'GFLOP':>8}")
        for name, part in p["parts"].items():
            gflop = f"{part['counted_flops'] / 1e9:8.2f}"
            print(f"  {name:22} {part['median_s'] * 1e3:>10,.1f} {part['fraction_of_train_step']:>8.0%} {gflop}")
        if "error" in p["trace"]:
            print(f"  trace not summarised: {p['trace']['error']}")
            continue
        print(f"  traced op time by category ({p['trace']['op_self_time_ms']:,.1f} ms):")
        for c in p["trace"]["categories"]:
            print(f"    {c['category']:48} {c['fraction']:>6.1%}")
        print("  top ops by self time:")
        for r in p["trace"]["top_ops"]:
            print(f"    {r['op'][:28]:28} {r['fraction']:>6.1%} {r['calls']:>6} calls  {r['category'][:24]:24} "
                  f"{r['op_name'][-60:]}")


def main(argv=None) -> dict:
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task", default=None, help="task whose observation and action shapes to use")
    parser.add_argument("--presets", nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per part")
    parser.add_argument("--trace-steps", type=int, default=None, help="train steps inside the trace")
    parser.add_argument("--top", type=int, default=None, help="ops listed in the summary")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=None, help="parts to time (train_step always)")
    parser.add_argument("--profile-dir", default=None, help=f"trace folder root (default {PROFILES_DIR})")
    harness.add_model_argument(parser)
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    with harness.checking_input():
        harness.check_models(settings["task"], settings["presets"], dict(args.model))
    profiles_dir = pathlib.Path(args.profile_dir) if args.profile_dir else PROFILES_DIR
    presets = [profile_preset(settings, preset, profiles_dir, dict(args.model)) for preset in settings["presets"]]
    print_table(presets)
    name = "profile_step" + (f"-{args.label}" if args.label else "")
    payload = {"task": settings["task"], "settings": settings, "model_overrides": dict(args.model), "presets": presets,
               "compilation_cache": harness.compilation_cache_dir()}  # fmt: skip
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "presets": presets}


if __name__ == "__main__":
    harness.run_cli(main, "profile_step")
