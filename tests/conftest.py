"""Test-suite wide settings: CPU JAX, a persistent compilation cache, memory hygiene."""

import os
import pathlib

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

# A stable location (not the checkout) so repeated runs on one machine reuse compiled programs.
_CACHE = pathlib.Path(os.environ.get("OFFON_JIT_TEST_JAX_CACHE", pathlib.Path.home() / ".cache" / "offon_jit" / "jax-tests"))
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """MJX programs are large: drop every module's compiled executables when it finishes."""
    yield
    jax.clear_caches()
