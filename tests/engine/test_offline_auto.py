"""passive_offline_auto: adaptive bursts armed by an offline signal instead of the eval OOD ratio.

One small point_reach study trains the Active, the plain Passive and a passive_offline_auto whose threshold
is never crossed: it must equal the plain Passive bitwise (every logged metric), since it shares the
Passive's initialisation, keys and updates and only its (never taken) burst branch differs. A second
offline phase on that Active's data, with a threshold every evaluation crosses, adds exactly one burst per
evaluation after the first. Every agent logs every offline signal (the study gives all agents an ensemble).
"""

import jax
import jax.numpy as jnp
import pytest

import envs
from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine import initial, interaction, offline_signals
from offon_jit.engine.programs import arming_signal
from offon_jit.engine.run_state import new_run
from offon_jit.engine.variants import VARIANTS, Variant
from offon_jit.metrics_log import TIMING_COLUMNS, read_rows
from tests.engine.compare import run_keeping_final_states

SETTINGS = dict(task="debug/point_reach", num_seeds=1, env_steps=96, eval_interval=32, prefill=64, batch_size=2,
                seq_len=8, eval_episodes=1, episode_length=20, burst_steps=32, checkpoint_every=0,
                disag_models=2, signal_ensemble=True)
NEVER = 1e9


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline_auto")
    config = RunConfig(**SETTINGS, agents=("active", "passive", "passive_offline_auto"), offline_thresholds=(NEVER,),
                       out_dir=str(root / "never"))
    return run_keeping_final_states(config)


def rows_of(rows, agent):
    return sorted((r for r in rows if r["agent"] == agent), key=lambda r: (r["seed"], r["env_steps"]))


def test_a_run_that_never_arms_equals_the_plain_passive_bitwise(study):
    _, _, finals = study
    rows = read_rows(study[0].run_dir)
    passive, never = rows_of(rows, "passive"), rows_of(rows, "passive_offline_auto")
    assert len(passive) == len(never) == 4
    for plain, auto in zip(passive, never):
        assert auto["self_generated_steps"] == 0
        shared = {k for k, v in plain.items() if isinstance(v, float) and k not in TIMING_COLUMNS}
        assert {k: plain[k] for k in shared} == {k: auto[k] for k in shared}
    # The final parameters too, leaf by leaf.
    plain_params, auto_params = finals["passive"]["passive"].agent.params, finals["passive_offline_auto"][
        "passive_offline_auto"].agent.params
    jax.tree_util.tree_map(lambda a, b: bool(jnp.array_equal(a, b)) or pytest.fail("parameters differ"),
                           plain_params, auto_params)


def test_every_agent_logs_every_offline_signal(study):
    rows = read_rows(study[0].run_dir)
    for row in rows:
        for name in offline_signals.SIGNALS:
            assert row[name] is not None and row[name] == row[name] and row[name] >= 0, (row["agent"], name)


def test_a_threshold_crossed_at_every_evaluation_adds_one_burst_each(study, tmp_path):
    source = study[0].run_dir
    config = RunConfig(**SETTINGS, agents=("passive_offline_auto",), offline_thresholds=(1e-6,),
                       active_run=str(source), out_dir=str(tmp_path / "always"))
    run_keeping_final_states(config)
    rows = rows_of(read_rows(config.run_dir), "passive_offline_auto")
    # Evaluations after chunks 1 and 2 arm bursts that run at the next chunk's first update; the step-0
    # evaluation arms nothing and the last one has no chunk after it.
    assert [r["self_generated_steps"] for r in rows if r["seed"] == 0] == [0, 0, 32, 64]


@pytest.mark.parametrize("signal", offline_signals.SIGNALS)
@pytest.mark.parametrize("value, armed", [(1.0, False), (1.5, False), (1.5001, True), (3.0, True)])
def test_the_configured_signal_arms_strictly_above_its_threshold(signal, value, armed):
    config = RunConfig(**SETTINGS, agents=("active", "passive_offline_auto"), offline_signal=signal,
                       offline_thresholds=(1.5,))
    assert arming_signal(VARIANTS["passive_offline_auto"], config) == signal
    assert arming_signal(VARIANTS["passive_auto"], config) == "ood_ratio"
    run = new_run(None, None, None, None, jnp.zeros(2, jnp.uint32), interaction.init_schedule("adaptive", 1.5))
    assert bool(interaction.arm(run, jnp.float32(value)).schedule.pending) is armed


def test_only_the_agent_armed_by_the_ensemble_signal_gets_an_ensemble_without_signal_ensemble():
    config = RunConfig(**{**SETTINGS, "signal_ensemble": False}, agents=("active", "passive", "passive_offline_auto"))
    models = initial.StudyModels.create(config, envs.get_task(config.task).spec)
    assert config.offline_signal == offline_signals.ENSEMBLE_SIGNAL  # the default
    assert models.config_for("passive").disag_models == 0
    armed = models.config_for("passive_offline_auto")
    assert armed.disag_models == SETTINGS["disag_models"] and not armed.disag_reward
    other = initial.StudyModels.create(config.replace(offline_signal="offline_kl_ratio"), envs.get_task(config.task).spec)
    assert other.config_for("passive_offline_auto").disag_models == 0


def test_bad_offline_settings_name_the_problem():
    with pytest.raises(ConfigError, match="offline_signal must be one of"):
        RunConfig(**{**SETTINGS, "offline_signal": "nonsense"})
    with pytest.raises(ConfigError, match="offline_signal offline_disag_ratio needs an ensemble of disag_models >= 2"):
        RunConfig(**{**SETTINGS, "signal_ensemble": False, "disag_models": 0}, agents=("active", "passive_offline_auto"),
                  offline_signal="offline_disag_ratio")
    with pytest.raises(ConfigError, match="offline_thresholds must be > 0"):
        RunConfig(**SETTINGS, offline_thresholds=(0.0,))
    with pytest.raises(ValueError, match="hparam 'offline_thresholds'"):
        Variant("bad", interaction="adaptive", arm_signal="offline", hparam="ood_thresholds")
