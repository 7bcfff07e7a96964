"""JAX-native DMC proprio tasks: MuJoCo Playground's MJX models, dm_control's task semantics.

    envs.make("dmc/cheetah_run-proprio", backend="jax")   # registry entry point: make_raw

Seven tasks (cheetah_run walker_walk hopper_hop finger_turn_hard reacher_hard cup_catch
humanoid_walk). One raw step is one dm_control control step; observations, rewards and
initial-state distributions are dm_control's (tests/envs/test_dmc_playground.py checks
them against dm_control itself).

    physics.py    Playground model + dm_control physics options, MJX stepping, impl choice
    tasks.py      per-task initialisation, observation dict and reward (dm_control's)
    randomize.py  dm_control's joint randomiser and collision-free resampling
    env.py        `make_raw`
"""

from envs.dmc_playground.env import env_from_simulator, load_simulator, make_env, make_raw

__all__ = ["env_from_simulator", "load_simulator", "make_env", "make_raw"]
