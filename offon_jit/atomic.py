"""The one way offon_jit writes a file: a temporary file in the same folder, fsynced, then renamed.

A reader (or a run killed mid-write) therefore sees the old file or the new one, never half
of one. `overwrite=False` refuses to replace an existing file, even one that appears while
we write (link() fails if the name exists).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", overwrite: bool = True) -> Iterator[IO]:
    """Open a temporary file that becomes `path` when the block exits without an error."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **({} if "b" in mode else {"newline": ""})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp_name, path)
        else:
            os.link(temp_name, path)
            os.unlink(temp_name)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str, overwrite: bool = True) -> pathlib.Path:
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", overwrite) as file:
        file.write(data)
    return pathlib.Path(path)


def _fsync_directory(directory: pathlib.Path) -> None:
    """Persist the rename itself (best effort: some filesystems cannot fsync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
