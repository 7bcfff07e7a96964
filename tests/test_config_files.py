"""`offon-jit run --config FILE` and `--resume`: where a run's settings come from.

Defaults, then the file (YAML or JSON; a run's config.json is one), then the flags given; a resume
starts from the run's saved config.json, so it needs no flags.
"""

import json

import pytest

from experiments.cli import build_parser
from offon_jit.config import ConfigError, RunConfig
from offon_jit.run_command import config_from_args


def parse(*argv) -> RunConfig:
    return config_from_args(build_parser().parse_args(["run", *argv]))


def test_no_flags_is_the_main_job():
    assert parse() == RunConfig()


def test_a_yaml_file_sets_fields_and_flags_override_it(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("task: minatar/breakout\nagents: [active, tandem]\nnum_seeds: 3\nexpl_weights: [0.0, 0.5]\n"
                    "model_overrides: {imag_horizon: 10}\nenv_steps: 4000\n")
    config = parse("--config", str(path), "--num-seeds", "5", "--out-dir", str(tmp_path / "run"))
    assert config.task == "minatar/breakout" and config.agents == ("active", "tandem")
    assert config.expl_weights == (0.0, 0.5) and config.model_overrides == (("imag_horizon", 10),)
    assert config.num_seeds == 5 and config.env_steps == 4000  # the flag wins over the file
    assert config.batch_size == RunConfig().batch_size  # neither: the default


def test_a_runs_config_json_repeats_it_exactly(tmp_path):
    original = RunConfig(task="minatar/freeway", agents=("active", "passive_auto"), ood_thresholds=(1.2, 1.5),
                         model_overrides=(("units", 64),), env_steps=1000, eval_interval=500, out_dir="elsewhere")
    path = tmp_path / "config.json"
    path.write_text(original.to_json())
    assert parse("--config", str(path)) == original


def test_resume_takes_the_saved_config_and_needs_no_flags(tmp_path):
    saved = RunConfig(task="minatar/breakout", num_seeds=3, env_steps=1000, eval_interval=500,
                      out_dir=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(saved.to_json())
    assert parse("--resume", "--out-dir", str(tmp_path / "run")) == saved
    # A moved run directory resumes where it is now.
    (tmp_path / "run").rename(tmp_path / "moved")
    assert parse("--resume", "--out-dir", str(tmp_path / "moved")) == saved.replace(out_dir=str(tmp_path / "moved"))


@pytest.mark.parametrize("content,fragment", [
    ({"num_seeds": "three"}, "num_seeds: expected int"),
    ({"agents": ["active", "sideways"]}, "unknown agents"),
    ({"env_steps": 10, "envsteps": 10}, "unknown config fields ['envsteps']"),
    ([1, 2], "expected a mapping"),
])
def test_bad_config_files_name_the_problem(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=None) as error:
        parse("--config", str(path))
    assert fragment in str(error.value)
