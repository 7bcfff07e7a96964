"""Variant fields are validated literals: a typo fails at construction, naming the field."""

import dataclasses

import pytest

from offon_jit.config import RunConfig
from offon_jit.engine import variants
from offon_jit.engine.variants import ALLOWED, HPARAM_NAMES, VARIANTS, Variant

# A value each field does not allow: a near-miss typo of an allowed one.
TYPOS = {"role": "lock_step", "data": "expert_half", "batches": "replays", "init": "actve",
         "world_model": "active_each", "interaction": "adaptve", "hparam": "ood_threshold", "arm_signal": "offline_kl"}


def test_every_field_with_allowed_values_has_a_typo_case():
    literal_fields = {f.name for f in dataclasses.fields(Variant)} - {"name", "salt"}
    assert set(ALLOWED) == literal_fields == set(TYPOS)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_is_valid_and_named_by_its_key(name):
    variant = VARIANTS[name]
    assert variant.name == name
    assert Variant(**dataclasses.asdict(variant)) == variant  # re-validates
    for field, allowed in ALLOWED.items():
        assert getattr(variant, field) in allowed


@pytest.mark.parametrize("field", list(TYPOS))
def test_a_typo_in_any_field_raises_naming_field_value_and_allowed_ones(field):
    bad = TYPOS[field]
    assert bad not in ALLOWED[field]
    with pytest.raises(ValueError) as info:
        Variant("typo", **{field: bad})
    message = str(info.value)
    assert field in message and repr(bad) in message
    assert all(repr(allowed) in message for allowed in ALLOWED[field])


def test_schedules_and_alpha_init_need_their_axis():
    with pytest.raises(ValueError, match="interaction 'fixed' reads its per-run value from hparam 'fixed_intervals'"):
        Variant("x", interaction="fixed")
    with pytest.raises(ValueError, match="init 'alpha' reads its per-run value from hparam 'tandem_alphas'"):
        Variant("x", init="alpha", hparam="ood_thresholds")
    with pytest.raises(ValueError, match="interaction 'adaptive' reads its per-run value from hparam 'offline_thresholds'"):
        Variant("x", interaction="adaptive", arm_signal="offline", hparam="ood_thresholds")
    with pytest.raises(ValueError, match="salt must be an integer >= 0"):
        Variant("x", salt=-1)


def test_hparam_axes_are_run_config_tuple_fields_of_numbers():
    defaults = RunConfig()
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    for axis in HPARAM_NAMES:
        assert axis in fields, axis
        values = getattr(defaults, axis)
        assert isinstance(values, tuple) and values and all(isinstance(v, (int, float)) for v in values), axis
    assert variants.HPARAMS == (None, *HPARAM_NAMES)
    assert {VARIANTS[n].hparam_name for n in ("passive_auto", "passive_offline_auto", "passive_fixed",
                                              "tandem_alpha")} == {
        "ood_threshold", "offline_threshold", "fixed_interval", "alpha"}
