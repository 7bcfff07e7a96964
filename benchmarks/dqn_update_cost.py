"""Milliseconds of one seed-vmapped Double DQN update on MinAtar-shaped batches, and why its
convolution is a patch matmul.

    python -m benchmarks.dqn_update_cost            # 5 seeds, batch 32 x 4 rows, 200 timed updates
    python -m benchmarks.dqn_update_cost --quick    # 20 timed updates

Two measurements, each a jitted `lax.scan` of updates timed after a warm-up call:

* `torso_grad_ms`: forward + gradient of the MinAtar DQN torso and hidden layer (3x3 conv with
  16 channels on 10 x 10 x 4 frames -> 128 units) on 96 frames per seed under a seed vmap, once
  with `nn.Conv` and once with `networks.PatchConv` (the same parameters and sums). Under a vmap
  over per-seed weights XLA's CPU backend lowers `nn.Conv` to a grouped convolution, which is
  what made the DQN update slow;
* `train_step_ms`: the whole `dqn.train_step` (tiny preset) vmapped over the seeds, on frames
  stored at 32 x 32 (resized in the network) and at the native 10 x 10 grid.

Results: benchmarks/results/dqn_update_cost-<device>.json.
"""

from __future__ import annotations

import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import save_result

TASK, SEEDS, BATCH, CHANNELS, ACTIONS = "minatar/breakout", 5, 32, 4, 3  # Breakout: 4 channels, 3 actions


def time_scan(step, carry, args, repeats: int) -> float:
    """Milliseconds per step of `repeats` steps `carry = step(carry, *args)` in one jitted scan."""
    run = jax.jit(lambda c, a: jax.lax.scan(lambda c, _: (step(c, *a), None), c, None, repeats)[0])
    jax.block_until_ready(run(carry, args))
    start = time.perf_counter()
    jax.block_until_ready(run(carry, args))
    return (time.perf_counter() - start) / repeats * 1e3


def torso_grad_ms(make_conv, repeats: int) -> float:
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(make_conv()(x)).reshape(x.shape[:-3] + (-1,))
            return nn.Dense(128)(x)

    frames = jax.random.uniform(jax.random.PRNGKey(1), (SEEDS, 3 * BATCH, 10, 10, CHANNELS))
    params = jax.vmap(lambda k: Net().init(k, frames[0]))(jax.random.split(jax.random.PRNGKey(0), SEEDS))
    grad = jax.vmap(jax.grad(lambda p, x: jnp.sum(jnp.tanh(Net().apply(p, x)))))

    def step(params, frames):  # a plain SGD step keeps every iteration dependent on the last
        return jax.tree_util.tree_map(lambda p, g: p - 1e-6 * g, params, grad(params, frames))

    return time_scan(step, params, (frames,), repeats)


def train_step_ms(frame_size: int, repeats: int) -> float:
    import envs
    from offon_jit.agents import dqn

    spec = envs.task_spec(TASK, frame_size=frame_size)
    config = dqn.CONFIG.from_preset("tiny")
    agents = jax.vmap(lambda k: dqn.init_agent(k, spec, config))(jax.random.split(jax.random.PRNGKey(0), SEEDS))
    rows = config.n_step + 1
    rng = np.random.default_rng(0)
    batch = {
        "obs": jnp.asarray(rng.integers(0, 2, (SEEDS, BATCH, rows, frame_size, frame_size, CHANNELS)) * 255, jnp.uint8),
        "action": jax.nn.one_hot(rng.integers(0, ACTIONS, (SEEDS, BATCH, rows)), ACTIONS),
        "reward": jnp.asarray(rng.integers(0, 2, (SEEDS, BATCH, rows)), jnp.float32),
        "is_first": jnp.zeros((SEEDS, BATCH, rows), bool),
        "is_terminal": jnp.zeros((SEEDS, BATCH, rows), bool),
    }
    return time_scan(lambda a, b: jax.vmap(dqn.train_step)(a, b)[0], agents, (batch,), repeats)


def main(argv=None) -> None:
    from offon_jit.agents.networks import PatchConv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 timed updates instead of 200")
    args = parser.parse_args(argv)
    repeats = 20 if args.quick else 200
    torso = {"nn.Conv": torso_grad_ms(lambda: nn.Conv(16, (3, 3), padding="VALID"), repeats),
             "PatchConv": torso_grad_ms(lambda: PatchConv(16), repeats)}
    train = {f"frames_{size}x{size}": train_step_ms(size, repeats) for size in (32, 10)}
    for name, ms in {**{f"torso grad, {k}": v for k, v in torso.items()},
                     **{f"train_step, {k}": v for k, v in train.items()}}.items():
        print(f"{name:32s} {ms:8.2f} ms per {SEEDS}-seed update")
    path = save_result("dqn_update_cost", {"seeds": SEEDS, "batch_size": BATCH, "timed_updates": repeats,
                                           "torso_grad_ms": torso, "train_step_ms": train}, quick=args.quick)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
