"""The model-free torso: its patch convolution is nn.Conv (same parameters, same outputs), and its
resize picks exactly the pixels jax.image.resize(method="nearest") picks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.agents.networks import PatchConv, Torso, prepare_image


def test_patch_conv_has_nn_conv_parameters_and_outputs():
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3, 10, 10, 4))  # two leading axes
    key = jax.random.PRNGKey(0)
    reference = nn.Conv(16, (3, 3), padding="VALID")
    params = PatchConv(16).init(key, x)
    reference_params = reference.init(key, x.reshape(6, 10, 10, 4))
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, reference_params)  # same init, bitwise
    params = jax.tree_util.tree_map(lambda p: p + 0.1, params)  # a non-zero bias too
    out = PatchConv(16).apply(params, x)
    expected = reference.apply(params, x.reshape(6, 10, 10, 4)).reshape(2, 3, 8, 8, 16)
    assert out.shape == (2, 3, 8, 8, 16)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_patch_conv_gradients_match_nn_conv_under_a_seed_vmap():
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 5, 6, 6, 2))  # 3 seeds of 5 images
    params = jax.vmap(lambda k: PatchConv(4).init(k, x[0]))(jax.random.split(jax.random.PRNGKey(0), 3))

    def grads(module):
        loss = lambda p, xs: jnp.sum(jnp.tanh(module.apply(p, xs)))  # noqa: E731
        return jax.vmap(jax.grad(loss))(params, x)

    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
                           grads(PatchConv(4)), grads(nn.Conv(4, (3, 3), padding="VALID")))


def test_resize_picks_the_pixels_of_jax_image_resize_nearest():
    frames = jax.random.randint(jax.random.PRNGKey(2), (3, 32, 32, 4), 0, 256).astype(jnp.uint8)
    expected = jax.image.resize(frames.astype(jnp.float32) / 255.0, (3, 10, 10, 4), method="nearest")
    np.testing.assert_array_equal(prepare_image(frames, 10), expected)
    np.testing.assert_array_equal(prepare_image(frames, 0), frames / np.float32(255.0))  # 0 keeps the size


def test_torso_flattens_images_and_passes_vectors():
    images = jnp.zeros((2, 7, 32, 32, 4), jnp.uint8)
    params = Torso(16, 10).init(jax.random.PRNGKey(0), images)
    assert Torso(16, 10).apply(params, images).shape == (2, 7, 8 * 8 * 16)
    vectors = jnp.ones((5, 3))
    np.testing.assert_array_equal(Torso().apply({}, vectors), vectors)
