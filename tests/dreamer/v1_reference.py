"""Fixed inputs and a float64 NumPy re-derivation of DreamerV3 v1's actor-critic maths (danijar/dreamerv3
at 8fa35f8), shared by test_actor_critic_values.py and test_explore_advantage.py; see the former's
docstring for the set-up and what each test catches."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.dreamer import actor_critic as ac
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.normalizer import ReturnNormState, init_return_norm
from offon_jit.dreamer.rssm import Latent
from offon_jit.dreamer.world_model import WorldModel, init_world_model, make_world_model

# DreamerV3 v1's constants (configs.yaml at 8fa35f8): horizon 333, return_lambda, retnorm, critic
# slowreg scale, actor heads (unimix, minstd, maxstd) and the two-hot bins of 'symlog_disc'.
V1 = dict(gamma=1.0 - 1.0 / 333.0, lam=0.95, decay=0.99, perclo=5.0, perchi=95.0, retnorm_max=1.0,
          slowreg=1.0, unimix=0.01, minstd=0.1, maxstd=1.0, bins=np.linspace(-20.0, 20.0, 255))  # fmt: skip

# The entropy bonus is 0.1 instead of v1's 3e-4 so that a flipped sign moves the loss and the
# gradient far beyond float32 noise; every other setting is the tiny preset with v1's defaults.
ETA = 0.1
CONFIG = DreamerConfig.from_preset("tiny", imag_horizon=3, actor_entropy=ETA)
HORIZON, STARTS, ACTION_DIM, OBS_SHAPE = CONFIG.imag_horizon, 8, 3, (4,)
START_CONT = np.array([1, 1, 0, 1, 1, 1, 0, 1], np.float32)  # starts 2 and 6 are terminal
KINDS = ("continuous", "discrete")  # backprop through the dynamics / Reinforce
WM_MODEL = make_world_model(CONFIG, OBS_SHAPE, ACTION_DIM)
CRITIC = ac.make_critic(CONFIG)
RTOL = 2e-5  # float32 code against the float64 reference


def actor_model(kind: str):
    return ac.make_actor(CONFIG, ACTION_DIM, kind == "discrete")


# ------------------------------------------------------------------ the code under test, jitted once per kind


@functools.partial(jax.jit, static_argnames="kind")
def run_actor_loss(actor_params, wm_params, critic_params, norm_state, start, start_cont, key, kind):
    """actor_loss, its gradient (discrete only: the backprop gradient runs through the dynamics,
    which the reference does not re-derive, and costs seconds of compile) and the trajectory it
    imagined (the same `imagine` call, same key)."""
    model = actor_model(kind)
    loss_fn = functools.partial(
        ac.actor_loss, wm_model=WM_MODEL, wm_params=wm_params, actor_model=model, critic_model=CRITIC,
        critics={"task": critic_params}, start=start, start_cont=start_cont, norm_states={"task": norm_state},
        key=key, config=CONFIG,
    )  # fmt: skip
    if kind == "discrete":
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(actor_params)
    else:
        (loss, aux), grads = loss_fn(actor_params), None
    latents, actions = ac.imagine(WM_MODEL, wm_params, model, actor_params, start, key, HORIZON, kind == "continuous")
    return loss, aux, grads, latents.feat(), actions


@jax.jit
def run_critic_loss(critic_params, slow_params, feat, returns, weight):
    loss_fn = functools.partial(
        ac.critic_loss, critic_model=CRITIC, slow_params=slow_params, feat=feat, returns=returns, weight=weight,
        config=CONFIG,
    )  # fmt: skip
    return jax.value_and_grad(loss_fn)(critic_params)


@functools.partial(jax.jit, static_argnames="kind")
def head_outputs(wm_params, actor_params, critic_params, slow_params, feat, kind):
    """Raw outputs of the modules on features (..., F): the reference's only network evaluations.

    Critic: its last hidden layer (the reference applies the output layer itself, and needs the
    hidden layer for the kernel's gradient). Actor: its output layers before any squashing or mix.
    """
    hidden = lambda out: out["intermediates"]["mlp"]["__call__"][0]
    _, critic_inter = CRITIC.apply(critic_params, feat, capture_intermediates=True, mutable="intermediates")
    _, actor_inter = actor_model(kind).apply(actor_params, feat, capture_intermediates=True, mutable="intermediates")
    layers = ("logits",) if kind == "discrete" else ("mean", "std")
    return {
        "reward_logits": WM_MODEL.apply(wm_params, feat, method=WorldModel.reward_logits),
        "cont_logit": WM_MODEL.apply(wm_params, feat, method=WorldModel.cont_logit),
        "critic_hidden": hidden(critic_inter),
        "slow_logits": CRITIC.apply(slow_params, feat),
        "actor_hidden": hidden(actor_inter),
        **{f"actor_{name}": actor_inter["intermediates"][name]["__call__"][0] for name in layers},
    }


# Jitted initialisers: one small program each instead of many eagerly dispatched ops.
init_wm = jax.jit(init_world_model, static_argnums=(1, 2, 3))
init_critic = jax.jit(CRITIC.init)
init_actor = {kind: jax.jit(actor_model(kind).init) for kind in KINDS}

# ------------------------------------------------------------------ fixed inputs


def bump_layer(layer: dict, rng, centre: float, width: float, noise: float) -> dict:
    """A two-hot output layer whose bins form a bump around symlog value `centre`, plus a random
    kernel, so that different states get different predictions."""
    bias = -0.5 * ((V1["bins"] - centre) / width) ** 2
    kernel = noise * rng.standard_normal(np.shape(layer["kernel"]))
    return {"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}


def with_layer(params: dict, path: tuple, layer: dict) -> dict:
    """params (nested dicts) with the dict at `path` replaced."""
    if not path:
        return layer
    return {**params, path[0]: with_layer(params[path[0]], path[1:], layer)}


@functools.lru_cache(maxsize=None)
def fixed_inputs() -> dict:
    """World model, actors (one per kind), critic, slow critic, a fresh critic, N start latents and the
    imagination key."""
    rng = np.random.default_rng(0)
    wm = init_wm(jax.random.PRNGKey(0), CONFIG, OBS_SHAPE, ACTION_DIM)
    reward = bump_layer(wm["params"]["reward"]["out"], rng, centre=0.4, width=0.4, noise=0.2)
    # Continue head: a larger spread and a positive bias, so most imagined steps continue and some end.
    cont = wm["params"]["cont"]["out"]
    cont = {"kernel": cont["kernel"] * 3.0, "bias": cont["bias"] + 1.0}
    wm = with_layer(with_layer(wm, ("params", "reward", "out"), reward), ("params", "cont", "out"), cont)
    feat = jnp.zeros((1, CONFIG.feat_size))
    fresh = init_critic(jax.random.PRNGKey(1), feat)  # its output layer is zero: it predicts 0
    out = fresh["params"]["out"]
    slow = with_layer(fresh, ("params", "out"), bump_layer(out, rng, centre=0.9, width=0.5, noise=0.05))
    critic = with_layer(fresh, ("params", "out"), bump_layer(out, rng, centre=1.5, width=0.5, noise=0.08))
    actors = {kind: init_actor[kind](jax.random.PRNGKey(2 + i), feat) for i, kind in enumerate(KINDS)}
    deter = np.tanh(rng.standard_normal((STARTS, CONFIG.deter))).astype(np.float32)
    stoch = np.eye(CONFIG.classes, dtype=np.float32)[rng.integers(0, CONFIG.classes, (STARTS, CONFIG.stoch))]
    start = Latent(deter=jnp.asarray(deter), stoch=jnp.asarray(stoch))
    return {"wm": wm, "critic": critic, "slow": slow, "fresh_critic": fresh, "actors": actors, "start": start,
            "key": jax.random.PRNGKey(11)}  # fmt: skip


# Two normaliser states: fresh (zeros, as at the first update: the range stays under 1, the floor
# applies) and warm (a range of 5: the scale divides the advantage).
NORM_STATES = {"fresh": (0.0, 0.0), "warm": (-2.0, 3.0)}


def norm_state(name: str) -> ReturnNormState:
    if name == "fresh":
        return init_return_norm()
    low, high = NORM_STATES[name]
    return ReturnNormState(low=jnp.float32(low), high=jnp.float32(high))


# ------------------------------------------------------------------ the v1 reference in NumPy (float64)


def symlog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def symexp(x):
    return np.sign(x) * np.expm1(np.abs(x))


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def disc_mean(logits):
    """v1 DiscDist.mean: symexp of the expected bin."""
    return symexp(softmax(logits) @ V1["bins"])


def disc_target(x):
    """v1 DiscDist.log_prob's target: weights on the bins below and above symlog(x)."""
    bins, y = V1["bins"], symlog(np.asarray(x, np.float64))[..., None]
    size = len(bins)
    below = np.clip((bins <= y).sum(-1) - 1, 0, size - 1)
    above = np.clip(size - (bins > y).sum(-1), 0, size - 1)
    equal = below == above
    to_below = np.where(equal, 1.0, np.abs(bins[below] - y[..., 0]))
    to_above = np.where(equal, 1.0, np.abs(bins[above] - y[..., 0]))
    total = to_below + to_above
    eye = np.eye(size)
    return eye[below] * (to_above / total)[..., None] + eye[above] * (to_below / total)[..., None]


def lambda_returns_v1(reward, value, cont):
    """v1 VFunction.score by its backward recursion: reward (H, N) from s_1..s_H, value (H+1, N), cont (H+1, N)."""
    gamma, lam = V1["gamma"], V1["lam"]
    returns, following = np.zeros_like(reward), value[-1]
    for t in reversed(range(len(reward))):
        returns[t] = reward[t] + gamma * cont[t + 1] * ((1.0 - lam) * value[t + 1] + lam * following)
        following = returns[t]
    return returns


def normalised_advantage_v1(returns, value, norm: tuple):
    """v1 Moments 'perc_ema' (EMAs of the 5th/95th percentiles, from the given state, no bias
    correction; scale = max(1 / max, high - low)) and ImagActorCritic's normed_ret - normed_base.
    Returns (adv, low, high, scale)."""
    low = V1["decay"] * norm[0] + (1 - V1["decay"]) * np.percentile(returns, V1["perclo"])
    high = V1["decay"] * norm[1] + (1 - V1["decay"]) * np.percentile(returns, V1["perchi"])
    scale = max(1.0 / V1["retnorm_max"], high - low)
    return ((returns - low) / scale) - ((value[:-1] - low) / scale), low, high, scale


def policy_terms(out: dict, actions, kind: str):
    """(log pi(a_t | s_t), entropy, unimixed probs or None) from the actor's raw output layers."""
    if kind == "discrete":
        probs = (1.0 - V1["unimix"]) * softmax(out["actor_logits"]) + V1["unimix"] / ACTION_DIM
        logp = np.log(probs)
        return np.sum(actions * logp, -1), -np.sum(probs * logp, -1), probs
    mean = np.tanh(out["actor_mean"])
    std = (V1["maxstd"] - V1["minstd"]) / (1.0 + np.exp(-(out["actor_std"] + 2.0))) + V1["minstd"]
    z = (actions - mean) / std
    logpi = np.sum(-0.5 * z**2 - np.log(std) - 0.5 * np.log(2 * np.pi), -1)
    return logpi, np.sum(0.5 * np.log(2 * np.pi * np.e) + np.log(std), -1), None


def v1_reference(out: dict, start_cont, actions, norm: tuple, kind: str, mutation: str | None = None) -> dict:
    """Everything v1's imagine / score / retnorm / actor loss computes from the heads' outputs on
    s_0..s_H (out[...] has a leading H+1 axis). `mutation` names one deliberate bug."""
    gamma = V1["gamma"]
    reward_all = disc_mean(out["reward_logits"])
    # The reward of step t is the reward head at s_{t+1} (v1: wm.heads['reward'](traj).mean()[1:]).
    reward = reward_all[:-1] if mutation == "reward_at_s_t" else reward_all[1:]
    head_cont = (out["cont_logit"] > 0).astype(np.float64)  # the continue head's mode
    first_cont = head_cont[0] if mutation == "first_cont_from_head" else start_cont
    cont = np.concatenate([first_cont[None], head_cont[1:]], 0)
    weight = np.cumprod(gamma * cont, 0) / gamma
    critic_logits = out["critic_hidden"] @ out["critic_kernel"] + out["critic_bias"]
    value = disc_mean(critic_logits)
    returns = lambda_returns_v1(reward, value, cont)
    adv, low, high, scale = normalised_advantage_v1(returns, value, norm)
    policy = {name: x[:-1] for name, x in out.items() if name.startswith("actor_")}
    logpi, entropy, probs = policy_terms(policy, actions, kind)
    objective = adv if kind == "continuous" else logpi * adv
    bonus = -ETA * entropy if mutation == "entropy_penalty" else ETA * entropy
    per_step = -(objective + bonus) * weight[:-1]
    # loss_size: the mean magnitude of the loss's terms, which can nearly cancel in the loss itself.
    return dict(reward=reward, cont=cont, weight=weight, value=value, critic_logits=critic_logits, returns=returns,
                low=low, high=high, scale=scale, adv=adv, entropy=entropy, probs=probs, loss=per_step.mean(),
                loss_size=np.abs(per_step).mean())  # fmt: skip


def reinforce_logits_gradient(ref: dict, actions, mutation: str | None = None):
    """d/d(raw logits) of mean_{t,n} -w_t (log pi(a_t) adv_t + eta H_t) with the unimixed softmax
    p = (1 - u) softmax(l) + u / K:  d log p_a / dl = (1 - u) s_a (e_a - s) / p_a,
    dH/dl = -(1 - u) s * (log p - sum_k s_k log p_k)."""
    u = V1["unimix"]
    probs = ref["probs"]
    soft = (probs - u / ACTION_DIM) / (1.0 - u)
    s_a = np.sum(actions * soft, -1, keepdims=True)
    p_a = np.sum(actions * probs, -1, keepdims=True)
    dlogpi = (1.0 - u) * s_a * (actions - soft) / p_a
    logp = np.log(probs)
    dentropy = -(1.0 - u) * soft * (logp - np.sum(soft * logp, -1, keepdims=True))
    eta = -ETA if mutation == "entropy_penalty" else ETA
    grad = -(ref["weight"][:-1, :, None] * (ref["adv"][..., None] * dlogpi + eta * dentropy))
    return grad / (HORIZON * STARTS)


def critic_reference(hidden, critic_logits, slow_logits, returns, weight, mutation: str | None = None):
    """v1 VFunction.loss on s_0..s_{H-1} (loss and its gradient w.r.t. the output layer):
    mean_t w_t (-ln p(R_t) - slowreg ln p(v_slow(s_t))); d/dlogits = w_t ((1 + c) softmax - y_R - c y_slow) / (H N)."""
    c = -V1["slowreg"] if mutation == "slowreg_flipped" else V1["slowreg"]
    target, slow_target = disc_target(returns), disc_target(disc_mean(slow_logits))
    logp = log_softmax(critic_logits)
    per_step = -np.sum(target * logp, -1) - c * np.sum(slow_target * logp, -1)
    loss = np.mean(per_step * weight)
    dlogits = weight[..., None] * ((1.0 + c) * softmax(critic_logits) - target - c * slow_target) / (HORIZON * STARTS)
    return loss, np.einsum("tnh,tnk->hk", hidden, dlogits), dlogits.sum((0, 1))


# ------------------------------------------------------------------ one run per (kind, normaliser state)


def numpy_head_outputs(kind: str, feat, critic) -> dict:
    """`head_outputs` on features (H+1, N, F) of the fixed inputs with `critic`, in float64, plus
    that critic's output layer (critic_kernel, critic_bias)."""
    inputs = fixed_inputs()
    out = head_outputs(inputs["wm"], inputs["actors"][kind], critic, inputs["slow"], feat, kind)
    out = {name: np.asarray(x, np.float64) for name, x in jax.device_get(out).items()}
    critic_out = critic["params"]["out"]
    out["critic_kernel"], out["critic_bias"] = (np.asarray(critic_out[k], np.float64) for k in ("kernel", "bias"))
    return out


@functools.lru_cache(maxsize=None)
def case(kind: str, norm: str = "warm") -> dict:
    """The code's outputs and the v1 reference on one fixed imagined trajectory."""
    inputs = fixed_inputs()
    actor = inputs["actors"][kind]
    loss, aux, grads, feat, actions = jax.device_get(run_actor_loss(
        actor, inputs["wm"], inputs["critic"], norm_state(norm), inputs["start"], START_CONT, inputs["key"], kind
    ))  # fmt: skip
    out = numpy_head_outputs(kind, aux["feat"], inputs["critic"])
    actions = np.asarray(actions, np.float64)
    reference = functools.partial(v1_reference, out, START_CONT.astype(np.float64), actions, NORM_STATES[norm], kind)
    return dict(loss=float(loss), aux=aux, grads=grads, feat=feat, actions=actions, out=out, reference=reference,
                ref=reference())  # fmt: skip


def assert_gradient_close(actual, desired):
    """float32 gradients (sums of terms of both signs) against float64: the absolute tolerance is
    relative to the largest entry, as float32 bins and logits shift single entries by ~1e-6."""
    np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=2e-4 * np.max(np.abs(desired)))


def relative_gap(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-12))


# ------------------------------------------------------------------ tests
