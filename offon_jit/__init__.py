"""offon_jit: Active, Passive and Tandem DreamerV3 agents in one jitted JAX program."""

__version__ = "0.2.0"
