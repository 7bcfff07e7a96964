"""JAX's persistent compilation cache, on by default for the command line.

A study's programs take minutes to compile on a small CPU; with the cache a rerun, a resume or
the next study of the same shapes loads them instead. The directory is $OFFON_JIT_COMPILE_CACHE,
else $XDG_CACHE_HOME/offon_jit/jax (default ~/.cache/offon_jit/jax). A cache directory set
through JAX itself (JAX_COMPILATION_CACHE_DIR, jax.config) is left as it is.
"""

from __future__ import annotations

import os
import pathlib

MIN_COMPILE_SECONDS = 1.0  # only programs that took longer are stored (JAX's own default)


def default_directory() -> pathlib.Path:
    if os.environ.get("OFFON_JIT_COMPILE_CACHE"):
        return pathlib.Path(os.environ["OFFON_JIT_COMPILE_CACHE"])
    root = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return root / "offon_jit" / "jax"


def enable(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Turn the cache on in `directory` (default: `default_directory()`); returns the directory in use."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return pathlib.Path(jax.config.jax_compilation_cache_dir)
    path = pathlib.Path(directory) if directory else default_directory()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache only costs time: run without it
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return path


def add_arguments(parser) -> None:
    parser.add_argument("--no-compile-cache", dest="compile_cache", action="store_false",
                        help="do not use JAX's persistent compilation cache (default: on, in "
                        "$OFFON_JIT_COMPILE_CACHE or ~/.cache/offon_jit/jax)")


def enable_from_args(args) -> None:
    if getattr(args, "compile_cache", False):
        enable()
