"""Size presets, config validation, parameter counts and the model-summary CLI."""

import dataclasses

import pytest

import envs
from offon_jit.cli import main
from offon_jit.dreamer.config import PRESETS, DreamerConfig
from offon_jit.dreamer.summary import parameter_counts


def test_presets_follow_dreamerv3_sizes():
    sizes = {name: (p.deter, p.cnn_depth, p.units, p.layers) for name, p in PRESETS.items()}
    assert sizes["xs"] == (256, 24, 256, 1)
    assert sizes["s"] == (512, 32, 512, 2)
    assert sizes["m"] == (1024, 48, 640, 3)
    assert sizes["l"] == (2048, 64, 768, 4)
    for name in ("xs", "s", "m", "l"):
        assert (PRESETS[name].stoch, PRESETS[name].classes) == (32, 32)
    config = DreamerConfig.from_preset("m")
    assert (config.deter, config.cnn_depth, config.units, config.layers) == sizes["m"]


def test_defaults_are_dreamerv3_v1_hyperparameters():
    c = DreamerConfig.from_preset("s")
    assert (c.beta_pred, c.beta_dyn, c.beta_rep, c.free_nats) == (1.0, 0.5, 0.1, 1.0)
    assert c.discount == pytest.approx(1 - 1 / 333)
    assert (c.imag_horizon, c.return_lambda, c.actor_entropy, c.slow_critic_fraction) == (15, 0.95, 3e-4, 0.02)
    assert (c.wm_lr, c.wm_eps, c.wm_clip) == (1e-4, 1e-8, 1000.0)
    assert (c.actor_lr, c.actor_eps, c.actor_clip) == (3e-5, 1e-5, 100.0)
    assert (c.critic_lr, c.critic_eps, c.critic_clip) == (3e-5, 1e-5, 100.0)
    assert (c.batch_size, c.batch_length, c.train_ratio) == (16, 64, 512.0)
    assert (c.twohot_bins, c.twohot_low, c.twohot_high, c.unimix) == (255, -20.0, 20.0, 0.01)


def test_config_is_frozen_hashable_and_overridable():
    config = DreamerConfig.from_preset("tiny", wm_lr=1e-3, imag_horizon=5)
    assert config.wm_lr == 1e-3 and config.imag_horizon == 5 and config.deter == PRESETS["tiny"].deter
    assert hash(config) == hash(DreamerConfig.from_preset("tiny", wm_lr=1e-3, imag_horizon=5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.wm_lr = 1.0


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid presets: tiny, xs, s, m, l"):
        DreamerConfig.from_preset("huge")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"deter": 0}, "deter must be a positive integer"),
        ({"units": -4}, "units must be a positive integer"),
        ({"layers": 1.5}, "layers must be a positive integer"),
        ({"classes": 1}, "classes must be >= 2"),
        ({"wm_lr": 0.0}, "wm_lr must be a positive"),
        ({"return_lambda": 1.5}, r"return_lambda must be in \[0, 1\]"),
        ({"unimix": 1.0}, r"unimix must be in \[0, 1\)"),
        ({"discount_horizon": 1.0}, "discount_horizon must be > 1"),
        ({"retnorm_low_percentile": 95.0, "retnorm_high_percentile": 5.0}, "retnorm_low_percentile < retnorm_high"),
        ({"twohot_low": 3.0, "twohot_high": -3.0}, "twohot_low < twohot_high"),
        ({"cnn_min_resolution": 3}, "power of two"),
        ({"no_such_field": 1}, "unknown DreamerConfig fields"),
    ],
)
def test_validation_rejects_nonsense(overrides, message):
    with pytest.raises(ValueError, match=message):
        DreamerConfig.from_preset("s", **overrides)


def test_size_s_vision_agent_has_about_18m_parameters():
    """World model + actor + ONE critic (the slow critic is an EMA copy, not counted)."""
    spec = envs.get_task("dmc/cheetah_run-vision").spec
    counts = parameter_counts(spec, DreamerConfig.from_preset("s"))
    print(f"size-S dmc/cheetah_run-vision parameters: {counts}")
    assert counts["total"] == sum(counts[k] for k in ("encoder", "rssm", "decoder", "reward", "continue", "actor", "critic"))
    assert counts["slow_critic"] == counts["critic"]
    assert abs(counts["total"] - 18e6) <= 0.15 * 18e6, counts["total"]
    # Sizes grow with the preset.
    xs = parameter_counts(spec, DreamerConfig.from_preset("xs"))["total"]
    m = parameter_counts(spec, DreamerConfig.from_preset("m"))["total"]
    assert xs < counts["total"] < m


def test_model_summary_cli_prints_counts_per_module(capsys):
    assert main(["model-summary", "--preset", "s", "--task", "dmc/cheetah_run-vision"]) == 0
    out = capsys.readouterr().out
    counts = parameter_counts(envs.get_task("dmc/cheetah_run-vision").spec, DreamerConfig.from_preset("s"))
    for module in ("encoder", "rssm", "decoder", "reward", "continue", "actor", "critic", "total"):
        line = next(line for line in out.splitlines() if line.strip().startswith(module))
        assert f"{counts[module]:,}" in line, (module, line)


def test_model_summary_cli_rejects_unknown_tasks(capsys):
    assert main(["model-summary", "--task", "dmc/nope-vision"]) == 2
    assert "unknown task" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["model-summary", "--preset", "xxl"])
