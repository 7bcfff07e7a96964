"""Named salts for every random stream a study draws (jax.random.fold_in / host seed sequences).

A run's randomness derives from its seed's key only (runs.run_keys), so the same seed gives the
same stream whatever other runs share the program. Changing a value here changes results.
"""

RUN_KEY = 100  # from an agent's init key to its run key (env resets, policy noise, batches)
EVAL = 7919  # evaluation episodes, folded with the chunk index
TRACE = 4242  # the final test episode recorded per run (Figs. S3/S4)
MIXED_SPLIT = 3  # passive_mixed: which chunks of the Active buffer are kept
HOST_RESET = 31  # host simulators: the seed of a run's envs, folded with the chunk at a resume
