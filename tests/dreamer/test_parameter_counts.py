"""Exact parameter counts (shapes only, `jax.eval_shape`: no compile): size S as the paper quotes
it, v1's 5 x 1024 vector encoder/decoder on proprio tasks at s/m/l, tiny and xs unchanged by it,
and the summary's handling of optional modules."""

import functools

import jax
import pytest

import envs
from offon_jit.dreamer import summary
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.summary import format_parameter_table, parameter_counts

CORE = ("encoder", "rssm", "decoder", "reward", "continue", "actor", "critic")
CHEETAH_OBS = 17  # dm_control cheetah: 8 positions + 9 velocities


@functools.lru_cache(maxsize=None)
def counts(task: str, preset: str, overrides: tuple = ()) -> dict[str, int]:
    return parameter_counts(envs.get_task(task).spec, DreamerConfig.from_preset(preset, **dict(overrides)))


def hidden_stack(inputs: int, layers: int, units: int) -> int:
    """Dense (no bias) + LayerNorm (scale, offset) per layer, as v1's `Linear(norm='layer')`."""
    return inputs * units + 2 * units + (layers - 1) * (units * units + 2 * units)


def test_size_s_vision_count_is_the_papers_18m():
    got = counts("dmc/cheetah_run-vision", "s")
    assert {m: got[m] for m in CORE} == {
        "encoder": 690_624, "rssm": 5_778_944, "decoder": 6_985_667, "reward": 1_181_439,
        "continue": 1_051_137, "actor": 1_056_780, "critic": 1_181_439,
    }  # fmt: skip
    assert got["total"] == sum(got[m] for m in CORE) == 17_926_030
    assert got["slow_critic"] == got["critic"]
    # The vector MLP fields do not touch image models.
    preset_sized = counts("dmc/cheetah_run-vision", "s", (("vector_mlp_layers", 0), ("vector_mlp_units", 0)))
    assert preset_sized == got


def test_size_s_proprio_runs_v1s_5x1024_vector_encoder_and_decoder():
    got = counts("dmc/cheetah_run-proprio", "s")
    config = DreamerConfig.from_preset("s")
    assert (config.vector_layers, config.vector_units) == (5, 1024)
    # Encoder: hidden layers only, its 1024-d last layer is the embedding (no output projection).
    assert got["encoder"] == hidden_stack(CHEETAH_OBS, 5, 1024) == 4_221_952
    # Decoder: hidden layers on the features (deter 512 + stoch 32 x 32), then a biased linear output.
    assert got["decoder"] == hidden_stack(512 + 32 * 32, 5, 1024) + 1024 * CHEETAH_OBS + CHEETAH_OBS == 5_794_833
    assert got["total"] == sum(got[m] for m in CORE) == 18_693_660
    # 0 = the preset's 2 x 512 (the model before v1's MLPs): only the encoder, decoder and the RSSM's
    # posterior layer (which reads the embedding: 1024 instead of 512 inputs to its 512 units) differ.
    small = counts("dmc/cheetah_run-proprio", "s", (("vector_mlp_layers", 0), ("vector_mlp_units", 0)))
    assert small["total"] == 9_746_972
    assert small["encoder"] == hidden_stack(CHEETAH_OBS, 2, 512)
    assert got["rssm"] - small["rssm"] == (1024 - 512) * 512
    assert all(got[m] == small[m] for m in ("reward", "continue", "actor", "critic"))


@pytest.mark.parametrize("preset, total", [("m", 28_472_220), ("l", 52_150_044)])
def test_larger_presets_keep_v1s_vector_mlps(preset, total):
    """v1's size patterns never reached the vector MLPs, so the encoder is the same at s, m and l."""
    got = counts("dmc/cheetah_run-proprio", preset)
    assert got["encoder"] == counts("dmc/cheetah_run-proprio", "s")["encoder"]
    assert got["total"] == total


@pytest.mark.parametrize(
    "task, preset, total",
    [
        ("dmc/cheetah_run-proprio", "tiny", 128_412),
        ("dmc/cheetah_run-proprio", "xs", 3_167_772),
        ("dmc/cheetah_run-vision", "tiny", 398_446),
        ("dmc/cheetah_run-vision", "xs", 8_263_982),
    ],
)
def test_tiny_and_xs_keep_preset_sized_vector_mlps(task, preset, total):
    config = DreamerConfig.from_preset(preset)
    assert (config.vector_layers, config.vector_units) == (config.layers, config.units)
    assert counts(task, preset)["total"] == total


def test_optional_modules_are_listed_but_not_in_the_total(monkeypatch):
    """Plan2Explore's ensemble and per-reward-term critics and any other extra params key are
    counted apart from DreamerV3 proper; the prefix 'disag_critic' does not swallow 'disag'."""
    task, preset = "dmc/cheetah_run-proprio", "tiny"
    plain = counts(task, preset)
    real_init = summary.init_agent

    def init_with_extras(key, spec, config):
        state = real_init(key, spec, config)
        critic = state.params["critic"]
        extras = {"disag_critic": critic, "slow_disag_critic": critic, "mystery": {"w": jax.numpy.zeros((3, 5))}}
        return state.replace(params={**state.params, **extras})

    monkeypatch.setattr(summary, "init_agent", init_with_extras)
    got = parameter_counts(envs.get_task(task).spec, DreamerConfig.from_preset(preset, disag_models=2))
    assert got["total"] == plain["total"]
    assert got["disag_critic"] == got["slow_disag_critic"] == plain["critic"]
    assert got["disag_ensemble"] > 0 and got["policy_autoencoder"] == plain["policy_autoencoder"] > 0
    assert got["mystery"] == 15
    table = format_parameter_table(got, "t").splitlines()
    optional = table[table.index("  optional modules, not in the total:") + 1 :]
    assert sorted(line.split()[0] for line in optional) == [
        "disag_critic", "disag_ensemble", "mystery", "policy_autoencoder", "slow_disag_critic",
    ]  # fmt: skip


def test_signal_only_ensemble_is_listed_without_a_disagreement_critic():
    """disag_reward=False: the ensemble's K heads ([h, z, a] -> MLP -> flat z) and no disagreement critic."""
    task, preset = "dmc/cheetah_run-proprio", "tiny"
    plain = counts(task, preset)
    signal = counts(task, preset, (("disag_models", 4), ("disag_reward", False)))
    rewarded = counts(task, preset, (("disag_models", 4),))
    config = DreamerConfig.from_preset(preset)
    head = hidden_stack(config.feat_size + 6, config.layers, config.units) + (config.units + 1) * config.stoch_size
    assert signal["disag_ensemble"] == rewarded["disag_ensemble"] == 4 * head  # cheetah: 6 actuators
    assert signal["disag_critic"] == signal["slow_disag_critic"] == 0
    assert rewarded["disag_critic"] == rewarded["slow_disag_critic"] == plain["critic"]
    assert {m: signal[m] for m in (*CORE, "total")} == {m: plain[m] for m in (*CORE, "total")}
    table = format_parameter_table(signal, "t").splitlines()
    optional = table[table.index("  optional modules, not in the total:") + 1 :]
    assert sorted(line.split()[0] for line in optional) == ["disag_ensemble", "policy_autoencoder"]
    assert f"{4 * head:,}" in next(line for line in optional if line.split()[0] == "disag_ensemble")
