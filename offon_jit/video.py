"""Episode videos: an agent's observed frames, beside the world model's decoded frames, as .mp4 or .gif.

Frames are (T, H, W, C) uint8. C = 3 is RGB, C = 1 grey; other channel counts (MinAtar's object
channels: 4 for breakout, 10 for seaquest) get one colour each, so objects stay apart. Each panel
is scaled up by whole pixels (nearest neighbour) to about `PANEL_SIZE` pixels, with a caption
above it. mp4 goes through imageio's ffmpeg plugin (imageio-ffmpeg brings the binary), gif
through Pillow.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".gif")
PANEL_SIZE = 256  # pixels: panels are scaled up to at least this height by a whole factor
GAP = 8  # pixels between panels, in grey so that black backgrounds stay apart
GAP_GREY = 96
CAPTION = 14  # pixels of caption above the panels
MACRO_BLOCK = 16  # mp4 (yuv420p, libx264) frame sides are padded to a multiple of this


def check_video_path(path) -> pathlib.Path:
    """The path, or a ValueError naming what is wrong with it (before any work is done)."""
    path = pathlib.Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--video {path}: the file name must end in {' or '.join(VIDEO_SUFFIXES)}")
    if path.exists():
        raise ValueError(f"--video {path}: the file exists; choose another name (nothing is overwritten)")
    if not path.parent.is_dir():
        raise ValueError(f"--video {path}: the folder {path.parent} does not exist")
    return path


def channel_colours(channels: int) -> np.ndarray:
    """(channels, 3) float colours in [0, 1], one per object channel (matplotlib's qualitative maps)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if channels <= 10 else "tab20"]
    return np.asarray([cmap(i % cmap.N)[:3] for i in range(channels)], np.float32)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, C) uint8 -> (T, H, W, 3) uint8; each of C != 1, 3 channels drawn in its own colour."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, C), got {frames.dtype} {frames.shape}")
    channels = frames.shape[-1]
    if channels == 3:
        return frames
    if channels == 1:
        return np.repeat(frames, 3, axis=-1)
    intensity = frames.astype(np.float32) / 255.0  # (T, H, W, C)
    # Where objects overlap, the brightest channel's colour wins.
    coloured = intensity[..., None] * channel_colours(channels)  # (T, H, W, C, 3)
    return np.round(coloured.max(axis=-2) * 255.0).astype(np.uint8)


def _scaled(frames: np.ndarray, factor: int) -> np.ndarray:
    return frames.repeat(factor, axis=1).repeat(factor, axis=2)


def _caption(width: int, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, CAPTION))
    ImageDraw.Draw(image).text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(image)


def side_by_side(panels: dict[str, np.ndarray]) -> np.ndarray:
    """{caption: (T, H, W, C) uint8 frames} -> (T, H', W', 3) uint8: the panels left to right, captioned."""
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    shapes = {name: np.shape(frames) for name, frames in panels.items()}
    if len({s[:3] for s in shapes.values()}) != 1:
        raise ValueError(f"panels must share (T, H, W): {shapes}")
    length, height, width = next(iter(shapes.values()))[:3]
    factor = max(1, -(-PANEL_SIZE // height))
    columns = []
    for name, frames in panels.items():
        scaled = _scaled(to_rgb(frames), factor)
        caption = np.broadcast_to(_caption(width * factor, name), (length, CAPTION, width * factor, 3))
        columns.append(np.concatenate([caption, scaled], axis=1))
    gap = np.full((length, CAPTION + height * factor, GAP, 3), GAP_GREY, np.uint8)
    joined = [part for column in columns for part in (column, gap)][:-1]
    return np.concatenate(joined, axis=2)


def _padded(frames: np.ndarray, multiple: int) -> np.ndarray:
    _, height, width, _ = frames.shape
    pad = (-height % multiple, -width % multiple)
    return np.pad(frames, ((0, 0), (0, pad[0]), (0, pad[1]), (0, 0)))


def write_video(path, frames: np.ndarray, fps: float) -> pathlib.Path:
    """(T, H, W, 3) uint8 frames -> an .mp4 or .gif at `path`, written whole or not at all."""
    import imageio.v3 as iio

    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{path}: a video file name must end in {' or '.join(VIDEO_SUFFIXES)}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    frames = np.asarray(frames, np.uint8)
    handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        if suffix == ".mp4":
            iio.imwrite(temp, _padded(frames, MACRO_BLOCK), fps=fps, codec="libx264", macro_block_size=1)
        else:
            iio.imwrite(temp, frames, duration=1000.0 / fps, loop=0)
        os.link(temp, path)  # fails if `path` appeared meanwhile: nothing is overwritten
    finally:
        os.unlink(temp)
    return path
