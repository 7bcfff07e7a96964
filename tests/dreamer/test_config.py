"""Size presets, config validation (DreamerConfig and RunConfig's --model overrides) and the
model-summary CLI (exact parameter counts: test_parameter_counts.py)."""

import dataclasses

import pytest

import envs
from offon_jit.cli import main
from offon_jit.config import ConfigError, RunConfig
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


def test_vector_mlps_are_v1s_5x1024_from_size_s_and_preset_sized_below():
    """v1's size patterns missed `encoder/decoder.mlp_layers/units`; tiny and xs stay small on purpose."""
    vector = {name: (c.vector_layers, c.vector_units) for name in PRESETS for c in [DreamerConfig.from_preset(name)]}
    assert vector == {"tiny": (1, 64), "xs": (1, 256), "s": (5, 1024), "m": (5, 1024), "l": (5, 1024)}
    assert (DreamerConfig().vector_layers, DreamerConfig().vector_units) == (5, 1024)  # the class defaults are size s
    # 0 follows the (possibly overridden) `layers` / `units`; explicit values win over the preset.
    follow = DreamerConfig.from_preset("s", vector_mlp_layers=0, vector_mlp_units=0, units=256)
    assert (follow.vector_layers, follow.vector_units) == (2, 256)
    explicit = DreamerConfig.from_preset("tiny", vector_mlp_layers=3, vector_mlp_units=48)
    assert (explicit.vector_layers, explicit.vector_units) == (3, 48)


def test_defaults_are_dreamerv3_v1_hyperparameters():
    c = DreamerConfig.from_preset("s")
    assert (c.beta_pred, c.beta_dyn, c.beta_rep, c.free_nats) == (1.0, 0.5, 0.1, 1.0)
    assert c.discount == pytest.approx(1 - 1 / 333)
    assert (c.imag_horizon, c.return_lambda, c.actor_entropy, c.slow_critic_fraction) == (15, 0.95, 3e-4, 0.02)
    assert (c.wm_lr, c.wm_eps, c.wm_clip) == (1e-4, 1e-8, 1000.0)
    assert (c.actor_lr, c.actor_eps, c.actor_clip) == (3e-5, 1e-5, 100.0)
    assert (c.critic_lr, c.critic_eps, c.critic_clip) == (3e-5, 1e-5, 100.0)
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
        ({"layers": 1.5}, "layers must be an integer"),
        ({"unimix": "abc"}, "unimix must be a number"),
        ({"twohot_low": None}, "twohot_low must be a number"),
        ({"policy_ae_bottleneck": True}, "policy_ae_bottleneck must be an integer"),
        ({"vector_mlp_layers": -1}, r"vector_mlp_layers must be an integer >= 0 \(0 = off / preset default\)"),
        ({"vector_mlp_units": 1.5}, "vector_mlp_units must be an integer"),
        ({"classes": 1}, "classes must be >= 2"),
        ({"wm_lr": 0.0}, "wm_lr must be a positive"),
        ({"return_lambda": 1.5}, r"return_lambda must be in \[0, 1\]"),
        ({"unimix": 1.0}, r"unimix must be in \[0, 1\)"),
        ({"discount_horizon": 1.0}, "discount_horizon must be > 1"),
        ({"retnorm_low_percentile": 95.0, "retnorm_high_percentile": 5.0}, "retnorm_low_percentile < retnorm_high"),
        ({"twohot_low": 3.0, "twohot_high": -3.0}, "twohot_low < twohot_high"),
        ({"cnn_min_resolution": 3}, "power of two"),
        ({"no_such_field": 1}, "unknown DreamerConfig fields"),
        ({"disag_reward": 1}, r"disag_reward must be a bool \(true or false\), got 1"),
        ({"disag_reward": "false"}, "disag_reward must be a bool"),
        ({"units": True}, "units must be an integer, got True"),
        ({"unimix": False}, "unimix must be a number, got False"),
        ({"expl_rule": "anneal"}, "expl_rule must be one of fixed, decay, got 'anneal'"),
        ({"expl_rule": "decay"}, "expl_rule='decay' needs the disagreement reward"),
        ({"expl_rule": "decay", "disag_models": 4, "disag_reward": False}, "expl_rule='decay' needs the disagreement"),
        ({"expl_decay_rate": 0.0}, r"expl_decay_rate must be in \(0, 1\]"),
        ({"expl_decay_rate": 1.5}, r"expl_decay_rate must be in \(0, 1\]"),
        ({"expl_decay_rate": float("nan")}, r"expl_decay_rate must be in \(0, 1\]"),
    ],
)
def test_validation_rejects_nonsense(overrides, message):
    with pytest.raises(ValueError, match=message):
        DreamerConfig.from_preset("s", **overrides)


def test_bool_and_rule_fields_take_their_own_types():
    signal = DreamerConfig.from_preset("tiny", disag_models=4, disag_reward=False)
    assert signal.disag_reward is False and not signal.disag_reward_on
    assert DreamerConfig.from_preset("tiny", disag_models=4).disag_reward_on  # the reward is on by default
    decay = DreamerConfig.from_preset("tiny", disag_models=4, expl_rule="decay", expl_decay_rate=1)
    assert (decay.expl_rule, decay.expl_decay_rate) == ("decay", 1)
    assert DreamerConfig().expl_rule == "fixed" and DreamerConfig().expl_decay_rate == 0.01


def test_replay_settings_are_not_model_fields():
    """Batch size, sequence length and train ratio live in RunConfig only (the engine reads them there)."""
    for name in ("batch_size", "batch_length", "train_ratio"):
        assert name not in DreamerConfig.field_names()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("disag_models", 8, "disag_models is set by --disag-models, not --model"),
        ("batch_size", 4, "batch_size is set by --batch-size, not --model"),
        ("batch_length", 16, "batch_length is set by --seq-len, not --model"),
        ("train_ratio", 256.0, r"train_ratio is set by --train-every, not --model: .*batch_size \* seq_len / train_every"),
        ("preset", "s", "preset is set by --preset, not --model"),
        ("disag_reward", False, "disag_reward is set by the study: .*--signal-ensemble"),
        ("expl_rule", "decay", r"expl_rule is set by --expl-decay \(> 0: the decay rule\)"),
    ],
)
def test_model_overrides_of_run_config_fields_name_the_flag(key, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(model_overrides=((key, value),))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ((("no_such_field", 1),), "--model no_such_field: unknown DreamerConfig field 'no_such_field'"),
        ((("units", "abc"),), "units must be an integer, got 'abc'"),
        ((("unimix", "abc"),), "unimix must be a number, got 'abc'"),
        ((("units", 0),), "units must be a positive integer"),
        ((("units", 32), ("units", 64)), "--model units is given twice"),
        ((("units",),), "model_overrides must be"),
    ],
)
def test_model_overrides_reject_unknown_keys_and_bad_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(model_overrides=overrides)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown size preset 'huge'"):
        RunConfig(preset="huge")


def test_valid_model_overrides_build_the_model_config():
    config = RunConfig(model_overrides=[["imag_horizon", 10], ("disag_units", 32)])  # lists as from JSON
    assert config.model_overrides == (("imag_horizon", 10), ("disag_units", 32))
    model = config.model_config()
    assert (model.imag_horizon, model.disag_units, model.deter) == (10, 32, PRESETS["tiny"].deter)
    assert RunConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("flag", ["disag_models=8", "batch_size=4", "units=abc", "no_such_field=1"])
def test_run_cli_rejects_bad_model_overrides_in_one_line(flag, tmp_path, capsys):
    assert main(["run", "--model", flag, "--out-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("offon-jit run: ") and flag.split("=")[0] in err[0], err
    assert not (tmp_path / "run").exists()


def test_model_summary_cli_prints_counts_per_module(capsys):
    assert main(["model-summary", "--preset", "s", "--task", "dmc/cheetah_run-vision"]) == 0
    out = capsys.readouterr().out
    counts = parameter_counts(envs.get_task("dmc/cheetah_run-vision").spec, DreamerConfig.from_preset("s"))
    for module in ("encoder", "rssm", "decoder", "reward", "continue", "actor", "critic", "total"):
        line = next(line for line in out.splitlines() if line.strip().startswith(module))
        assert f"{counts[module]:,}" in line, (module, line)


def test_model_summary_cli_reports_v1s_vector_mlps_on_proprio_tasks(capsys):
    assert main(["model-summary", "--preset", "s", "--task", "dmc/cheetah_run-proprio"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "vector encoder/decoder 5x1024" in out[0]
    total = next(line for line in out if line.strip().startswith("total"))
    assert "18,693,660" in total and "(18.69M;" in total


def test_model_summary_cli_rejects_unknown_tasks(capsys):
    assert main(["model-summary", "--task", "dmc/nope-vision"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["model-summary", "--preset", "xxl"]) == 2  # argparse's choices: a one-line usage error
    assert "invalid choice: 'xxl'" in capsys.readouterr().err
