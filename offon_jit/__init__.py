"""offon_jit: Active, Passive and Tandem DreamerV3 agents in one jitted JAX program."""
