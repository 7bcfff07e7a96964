"""The paper's remedies and controls at the engine level, with exact values.

Self-generated data (Alg. 2): adaptive bursts trigger exactly above the threshold and
add exactly the burst size; fixed bursts come every N env steps; runs that are not due
are untouched even when other vmapped runs burst. Controls: Tandem_sameWM holds the
Active's world model after every update, Passive_sameWM(frozen) never changes its world
model, alpha = 0 / 1 reproduce the Active / Tandem initialisation. Data splits have the
right sizes and time ranges.
"""

from functools import partial
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine import chunks, initial, interaction
from offon_jit.engine.offline_data import variant_buffers
from offon_jit.engine.runs import base_runs, phase_runs, run_label
from offon_jit.engine.phases import plan_phases
from offon_jit.engine.variants import VARIANTS
from offon_jit.replay import buffer as replay
from tests.engine.compare import assert_trees_close

CONFIG = dict(task="debug/point_reach", num_seeds=1, env_steps=64, eval_interval=32, prefill=64, batch_size=2,
              seq_len=8, eval_episodes=1, episode_length=20, burst_steps=16, checkpoint_every=0)


def make_config(tmp_path, **changes) -> RunConfig:
    return RunConfig(**{**CONFIG, "out_dir": str(tmp_path), **changes})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A study's pieces and one prefilled Active run (no training yet)."""
    config = make_config(tmp_path_factory.mktemp("remedies"), agents=("active", "passive"),
                         fixed_intervals=(8, 32), ood_thresholds=(1.35,))
    # These tests call the per-run functions directly, outside the study's named run vmap.
    env = envs.make(config.task, "jax", config.num_envs, episode_length=config.episode_length)
    study = SimpleNamespace(config=config, env=env, models=initial.StudyModels.create(config, env.spec))
    key = jax.random.PRNGKey(3)
    prefilled = lambda k: chunks.prefill(initial.fresh_active(study.models, k, jnp.float32(0.0), env), env,  # noqa: E731
                                         config.prefill // config.num_envs)
    return study, key, jax.jit(prefilled)(key)


@pytest.fixture(scope="module")
def fixed_chunk(setup):
    """One compiled single-run chunk of passive_fixed, shared by the tests below."""
    study = setup[0]
    return jax.jit(partial(chunks.offline_chunk, config=study.config, variant=VARIANTS["passive_fixed"], env=study.env))


def passive_run(study, active, variant: str, value):
    """An offline run of `variant` on the Active's buffer (with room for bursts)."""
    cfg = study.config
    stacked = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], active.buffer)
    buffer = variant_buffers(cfg, VARIANTS[variant], stacked, np.asarray(jax.random.PRNGKey(0))[None])
    buffer = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), buffer)
    return initial.init_offline(study.models, jax.random.PRNGKey(5), buffer, jnp.asarray(value), None, name=variant)


def test_adaptive_schedule_arms_strictly_above_threshold(setup):
    study, _, active = setup
    run = passive_run(study, active, "passive_auto", 1.35)
    armed = [bool(interaction.arm(run, jnp.float32(r)).schedule.pending) for r in (1.0, 1.35, 1.3501, 2.0)]
    assert armed == [False, False, True, True]


def test_burst_adds_exactly_the_burst_size_only_when_committed(setup):
    study, _, active = setup
    run = passive_run(study, active, "passive_auto", 1.35)
    before = int(run.buffer.total_stored)
    burst = jax.jit(partial(interaction.collect_burst, env=study.env, burst_steps=16))
    done = burst(run.replace(schedule=run.schedule.replace(pending=jnp.bool_(True))), jnp.bool_(True))
    assert int(done.buffer.total_stored) == before + 16 and int(done.schedule.added) == 16
    assert not bool(done.schedule.pending)
    # The new steps are the agent's own episode, starting with a reset.
    new = replay.gather(done.buffer, jnp.array([[s, before // 4] for s in range(4)]), 4)
    assert bool(new["is_first"][:, 0].all())
    skipped = burst(run, jnp.bool_(False))
    assert int(skipped.buffer.total_stored) == before and int(skipped.schedule.added) == 0
    stored = replay.gather(run.buffer, jnp.array([[0, 0]]), before // 4)
    assert_trees_close(replay.gather(skipped.buffer, jnp.array([[0, 0]]), before // 4), stored, atol=0)


def test_adaptive_chunk_bursts_once_when_armed(setup):
    """An evaluation above the threshold arms one burst at the next chunk's first update."""
    study, _, active = setup
    chunk = jax.jit(partial(chunks.offline_chunk, config=study.config, variant=VARIANTS["passive_auto"], env=study.env))
    run = passive_run(study, active, "passive_auto", 1.35)
    original = int(run.buffer.total_stored)
    for ratio, expected in ((1.2, 0), (1.5, 16), (1.3, 16), (1.4, 32)):
        run, _ = chunk(interaction.arm(run, jnp.float32(ratio)))
        assert int(run.schedule.added) == expected and not bool(run.schedule.pending)
        assert int(run.buffer.total_stored) == original + expected


def test_fixed_schedule_bursts_every_n_env_steps(setup, fixed_chunk):
    study, _, active = setup
    chunk = fixed_chunk
    run = passive_run(study, active, "passive_fixed", 8)
    original = int(run.buffer.total_stored)
    run, _ = chunk(run)
    # 16 updates of 2 env steps: bursts at env steps 8, 16 and 24 (not 0, not 32 which is the next chunk's).
    assert int(run.env_steps) == 32 and int(run.schedule.added) == 3 * 16
    assert int(run.buffer.total_stored) == original + 3 * 16
    run, _ = chunk(run)
    assert int(run.schedule.added) == 7 * 16  # 32, 40, 48, 56


def test_vmapped_runs_that_are_not_due_are_untouched(setup, fixed_chunk):
    """Two runs with N = 8 and N = 32 in one vmapped chunk: the second bursts only once,
    and its training equals that of the same run alone."""
    study, _, active = setup
    cfg = study.config
    runs = [passive_run(study, active, "passive_fixed", n) for n in (8, 32)]
    both = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *runs)
    variant = VARIANTS["passive_fixed"]
    vmapped = jax.jit(jax.vmap(partial(chunks.offline_chunk, config=cfg, variant=variant, env=study.env,
                                       axis_name="runs"), axis_name="runs"))
    out, _ = vmapped(both)
    alone, _ = fixed_chunk(runs[1])
    assert out.schedule.added.tolist() == [48, 0]
    second = jax.tree_util.tree_map(lambda x: x[1], out)
    assert_trees_close(second.agent.params, alone.agent.params, atol=1e-5)
    assert int(second.buffer.total_stored) == int(runs[1].buffer.total_stored)


def test_tandem_same_wm_holds_the_active_world_model_after_every_update(setup):
    study, key, active = setup
    follower = initial.init_follower(study.models, key, active.agent, name="tandem_same_wm")
    assert_trees_close(follower.agent.params["wm"], active.agent.params["wm"], atol=0)
    updates = jax.jit(partial(chunks.active_updates, config=study.config))
    start_actor = follower.agent.params["actor"]
    for _ in range(3):
        active, followers, _ = updates(active, {"tandem_same_wm": follower})
        follower = followers["tandem_same_wm"]
        assert_trees_close(follower.agent.params["wm"], active.agent.params["wm"], atol=0)
    # Only the policy differs: its own initialisation, trained in the Active's world model.
    actor_gap = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                       follower.agent.params["actor"], active.agent.params["actor"])
    assert max(jax.tree_util.tree_leaves(actor_gap)) > 1e-3
    moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), follower.agent.params["actor"], start_actor)
    assert max(jax.tree_util.tree_leaves(moved)) > 0


def test_passive_frozen_wm_never_changes_its_world_model(setup):
    study, _, active = setup
    cfg = study.config
    stacked = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], active.buffer)
    buffer = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]),
                                    variant_buffers(cfg, VARIANTS["passive_frozen_wm"], stacked, None))
    frozen = active.agent.params["wm"]
    run = initial.init_offline(study.models, jax.random.PRNGKey(5), buffer, jnp.float32(0), frozen, name="passive_frozen_wm")
    chunk = jax.jit(partial(chunks.offline_chunk, config=cfg, variant=VARIANTS["passive_frozen_wm"]))
    trained, _ = chunk(run)
    assert_trees_close(trained.agent.params["wm"], frozen, atol=0)
    assert int(trained.train_steps) == cfg.updates_per_chunk


@pytest.mark.parametrize("alpha, source", [(0.0, "active"), (1.0, "tandem")])
def test_alpha_mix_reproduces_the_end_points(setup, alpha, source):
    study, key, active = setup
    mixed = initial.init_offline(study.models, key, None, jnp.float32(alpha), None, name="tandem_alpha")
    reference = active.agent if source == "active" else initial.init_follower(study.models, key, active.agent, name="tandem").agent
    for part in ("wm", "actor", "critic"):
        assert_trees_close(mixed.agent.params[part], reference.params[part], atol=0)


def test_data_splits_have_the_right_sizes_and_time_ranges(setup):
    study, _, active = setup
    cfg = study.config
    stacked = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], active.buffer)
    per_stream = int(active.buffer.num_stored)  # prefill: 64 steps / 4 envs
    full = replay.gather(active.buffer, jnp.array([[s, 0] for s in range(4)]), per_stream)
    keys = np.asarray(jax.random.PRNGKey(1))[None]
    expert = variant_buffers(cfg, VARIANTS["passive_expert"], stacked, keys)
    suboptimal = variant_buffers(cfg, VARIANTS["passive_suboptimal"], stacked, keys)
    half = per_stream // 2
    for split, offset in ((suboptimal, 0), (expert, half)):
        assert split.num_stored.tolist() == [half] and split.num_envs == 4
        np.testing.assert_array_equal(split.data["obs"][0], np.asarray(full["obs"])[:, offset:offset + half])
    mixed = variant_buffers(cfg.replace(split_chunk_len=4), VARIANTS["passive_mixed"], stacked, keys)
    assert mixed.num_envs * int(mixed.num_stored[0]) == 4 * per_stream // 2  # a uniform half, in chunks of 4


def test_run_axes_and_labels(tmp_path):
    config = make_config(tmp_path, num_seeds=2, agents=("active", "passive_auto", "tandem_alpha"),
                         expl_weights=(0.0, 0.5), ood_thresholds=(2.0, 1.2), disag_models=2, burst_steps=32)
    base = base_runs(config)
    assert [(r.seed, r.expl_weight) for r in base] == [(0, 0.0), (1, 0.0), (0, 0.5), (1, 0.5)]
    auto = phase_runs(config, VARIANTS["passive_auto"])
    assert [(r.hparam_value, r.base) for r in auto] == [(2.0, b) for b in range(4)] + [(1.2, b) for b in range(4)]
    assert run_label(config, VARIANTS["passive_auto"], auto[5]) == "passive_auto (ood_threshold=1.2, expl_weight=0)"
    assert auto[6].tag(config) == "expl0.5_seed0"
    phases = plan_phases(config)
    assert [(p.name, p.agents, len(p.runs)) for p in phases] == [
        ("active", ("active",), 4), ("passive_auto", ("passive_auto",), 8), ("tandem_alpha", ("tandem_alpha",), 4)]


@pytest.mark.parametrize("changes, message", [
    (dict(agents=("passive", "tandem_same_wm"), active_run="x"), "copy the Active's world model"),
    (dict(expl_weights=(0.5,), disag_models=0), "disag_models"),
    (dict(expl_weights=(1.5,)), "expl_weights must lie in"),
    (dict(fixed_intervals=(7,)), "multiples of train_every"),
    (dict(ood_thresholds=(1.35, 1.35)), "lists a value twice"),
    (dict(agents=("active", "passive_fixed"), burst_steps=6), "multiple of num_envs"),
    (dict(agents=("active", "nonsense")), "unknown agents"),
])
def test_bad_remedy_configs_name_the_problem(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        make_config(tmp_path, **changes)
