"""Our own MJX ports of DMC tasks that MuJoCo Playground lacks, each with a dm_control twin.

    envs.mjx_ports.quadruped        dm_control's quadruped run (same XML as quadruped.run())
    envs.mjx_ports.point_mass_maze  the paper's point-mass maze (envs/assets/point_mass_maze.xml)

Each module offers `make_raw(entry) -> JaxEnv` (registry factory, one control step per
step) and `make_dm_control_env(random_state, environment_kwargs=None)`, the dm_control
Environment with the same model and task that the host backend runs.
"""
