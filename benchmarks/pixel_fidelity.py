"""How close the JAX ray caster's frames (envs/pixels) are to dm_control's, task by task.

For each DMC vision task, a few physics states (dm_control env reset with seed s, then random
actions so bodies move and targets vary) are drawn by both renderers from the same `qpos`
(and `mocap_pos` for the targets). Per state: segmentation agreement (fraction of pixels whose
(object id, object type) match), the same over pixels either renderer gives a non-plane object
(body agreement: sensitive to a misplaced limb, which the floor-dominated whole-frame figure is
not), mean absolute colour error (0-255, over pixels and channels), and that error restricted
to pixels both renderers give the same object (background excluded), which separates shading
error from silhouette error. The ray caster draws no shadows, floor reflections or
anti-aliasing, so colour error is expected; segmentation should agree almost everywhere.

Usage:  MUJOCO_GL=egl .venv/bin/python -m benchmarks.pixel_fidelity [--tasks a b] [--states 5] [--out DIR]
Writes: <out>/pixel_fidelity-<backend>.json and <out>/pixel_fidelity/<task>.png (dm_control | ours |
        segmentation disagreement in white), plus <out>/pixel_fidelity/all_tasks.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

SIZE = 64
STATES = 5
STEPS = 40  # random actions after reset: enough for limbs to leave their initial pose
RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
SCALE = 3  # nearest-neighbour upscaling of each panel in the per-task PNGs
MONTAGE_SCALE = 2


@dataclasses.dataclass(frozen=True)
class References:
    """dm_control's frames of `states` physics states, and what the ray caster needs to redraw them."""

    qpos: np.ndarray  # (S, nq)
    mocap: np.ndarray  # (S, M, 3)
    rgb: np.ndarray  # (S, H, W, 3) uint8
    seg: np.ndarray  # (S, H, W, 2) int32, dm_control's (object id, object type), -1 background
    names: dict  # (object id, object type) -> "type:name" for every geom, site and tendon
    planes: np.ndarray  # (P, 2) (object id, object type) of the scene's planes (floors)


def _object_names(model) -> dict:
    import mujoco

    names = {(-1, -1): "background"}
    for kind, count in ((mujoco.mjtObj.mjOBJ_GEOM, model.ngeom), (mujoco.mjtObj.mjOBJ_SITE, model.nsite),
                        (mujoco.mjtObj.mjOBJ_TENDON, model.ntendon)):
        label = kind.name.removeprefix("mjOBJ_").lower()
        for i in range(count):
            names[(i, int(kind))] = f"{label}:{mujoco.mj_id2name(model, kind, i) or i}"
    return names


def reference_states(task: str, states: int, size: int = SIZE, steps: int = STEPS) -> References:
    """State s: dm_control's env with seed s, reset, then `steps` uniform random actions (rng seed s)."""
    from envs import dmc_host
    from envs.pixels.dmc_vision import DmcRenderer
    from envs.pixels.scene import PLANE

    renderer = DmcRenderer.for_task(task, size)
    planes = renderer.scene.segment_id[renderer.scene.kind == PLANE][:, ::-1]
    camera = dmc_host.vision_camera(task)
    qpos, mocap, rgb, seg, names = [], [], [], [], {}
    for seed in range(states):
        env = dmc_host.load_dm_control_env(task, seed=seed)
        try:
            env.reset()
            rng = np.random.default_rng(seed)
            spec = env.action_spec()
            for _ in range(steps):
                env.step(rng.uniform(spec.minimum, spec.maximum))
            physics = env.physics
            qpos.append(np.array(physics.data.qpos, np.float32))
            mocap.append(renderer.mocap_of(physics))
            rgb.append(physics.render(size, size, camera_id=camera))
            seg.append(physics.render(size, size, camera_id=camera, segmentation=True))
            names = names or _object_names(physics.model.ptr)
        finally:
            env.close()
    return References(np.stack(qpos), np.stack(mocap), np.stack(rgb), np.stack(seg).astype(np.int32), names, planes)


@functools.lru_cache(maxsize=None)
def drawer(task: str, size: int = SIZE, shadows: bool | None = None):
    """One jitted function per task: batched (qpos, mocap) -> (rgb, segmentation)."""
    import jax

    from envs.pixels.dmc_vision import DmcRenderer

    renderer = DmcRenderer.for_task(task, size, shadows)
    return jax.jit(jax.vmap(lambda q, m: (renderer.rgb(q, m), renderer.segmentation(q, m))))


def draw(task: str, refs: References, size: int = SIZE, shadows: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    rgb, seg = drawer(task, size, shadows)(refs.qpos, refs.mocap)
    return np.asarray(rgb), np.asarray(seg)


def _bodies(seg: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Pixels showing an object that is not a plane (the floor would swamp a moving body's pixels)."""
    on_plane = np.any(np.all(seg[..., None, :] == planes[None, None], axis=-1), axis=-1) if len(planes) else False
    return (seg[..., 0] >= 0) & ~on_plane


def frame_metrics(ref_rgb: np.ndarray, ref_seg: np.ndarray, rgb: np.ndarray, seg: np.ndarray,
                  planes: np.ndarray = np.zeros((0, 2), np.int32)) -> dict:
    """Agreement and colour error of one frame (H, W, ...) against dm_control's.

    `body_agreement` is the agreement over pixels either renderer gives a non-plane object: a
    limb in the wrong place costs a few percent of all pixels but most of these.
    """
    if ref_rgb.shape != rgb.shape or ref_seg.shape != seg.shape:
        raise ValueError(f"frame shapes differ: {ref_rgb.shape}/{ref_seg.shape} vs {rgb.shape}/{seg.shape}")
    agree = np.all(ref_seg == seg, axis=-1)
    bodies = _bodies(ref_seg, planes) | _bodies(seg, planes)
    error = np.abs(ref_rgb.astype(np.int16) - rgb.astype(np.int16)).mean(-1)  # per pixel, over channels
    same_object = agree & (ref_seg[..., 0] >= 0)
    return {
        "segmentation_agreement": float(agree.mean()),
        "body_agreement": float(agree[bodies].mean()) if bodies.any() else float("nan"),
        "colour_mae": float(error.mean()),
        "colour_mae_same_object": float(error[same_object].mean()) if same_object.any() else float("nan"),
        "object_pixel_fraction": float(same_object.mean()),
    }


def disagreements(refs: References, seg: np.ndarray, top: int = 5) -> list[dict]:
    """The most frequent (dm_control's object, ours) pairs among disagreeing pixels, over all states."""
    differ = np.any(refs.seg != seg, axis=-1)
    pairs, counts = np.unique(np.concatenate([refs.seg[differ], seg[differ]], axis=-1), axis=0, return_counts=True)
    name = lambda p: refs.names.get((int(p[0]), int(p[1])), f"{p[1]}:{p[0]}")  # noqa: E731
    order = np.argsort(-counts)[:top]
    return [{"dm_control": name(pairs[i, :2]), "ours": name(pairs[i, 2:]), "pixels": int(counts[i])} for i in order]


def summarise(per_state: list[dict]) -> dict:
    column = lambda key: np.array([m[key] for m in per_state])  # noqa: E731
    return {
        "segmentation_agreement_mean": float(column("segmentation_agreement").mean()),
        "segmentation_agreement_min": float(column("segmentation_agreement").min()),
        "body_agreement_mean": float(np.nanmean(column("body_agreement"))),
        "body_agreement_min": float(np.nanmin(column("body_agreement"))),
        "colour_mae_mean": float(column("colour_mae").mean()),
        "colour_mae_max": float(column("colour_mae").max()),
        "colour_mae_same_object_mean": float(np.nanmean(column("colour_mae_same_object"))),
        "colour_mae_same_object_max": float(np.nanmax(column("colour_mae_same_object"))),
    }


def panel_row(ref_rgb: np.ndarray, rgb: np.ndarray, ref_seg: np.ndarray, seg: np.ndarray, scale: int) -> np.ndarray:
    """dm_control | ours | disagreement (white where the segmentations differ), upscaled nearest."""
    disagree = np.any(ref_seg != seg, axis=-1)
    mask = np.repeat((disagree * 255).astype(np.uint8)[..., None], 3, axis=-1)
    gap = np.full((ref_rgb.shape[0], 2, 3), 128, np.uint8)
    row = np.concatenate([ref_rgb, gap, rgb, gap, mask], axis=1)
    return row.repeat(scale, axis=0).repeat(scale, axis=1)


def _shown(path: pathlib.Path) -> str:
    """A path relative to the repository when inside it (results files travel between machines)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    return str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)


def save_pngs(panels: dict[str, tuple], out_dir: pathlib.Path) -> list[str]:
    from PIL import Image, ImageDraw

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task, frames in panels.items():
        path = out_dir / f"{task}.png"
        Image.fromarray(panel_row(*frames, SCALE)).save(path, optimize=True)
        written.append(_shown(path))
    if panels:
        rows = []
        for task, frames in panels.items():
            image = Image.fromarray(panel_row(*frames, MONTAGE_SCALE))
            label = Image.new("RGB", (image.width, 14), (255, 255, 255))
            ImageDraw.Draw(label).text((2, 1), f"{task}: dm_control | ours | seg. disagreement", fill=(0, 0, 0))
            rows += [np.asarray(label), np.asarray(image)]
        path = out_dir / "all_tasks.png"
        # An overview: a 256-colour palette halves the file; the per-task PNGs keep exact colours.
        montage = Image.fromarray(np.concatenate(rows, axis=0)).quantize(256, method=Image.Quantize.MEDIANCUT)
        montage.save(path, optimize=True)
        written.append(_shown(path))
    return written


def measure_task(task: str, states: int, shadows: bool | None = None) -> tuple[dict, tuple]:
    """The task's per-state metrics and summary, and the frames of its least-agreeing state."""
    import jax

    start = time.perf_counter()
    refs = reference_states(task, states)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(draw(task, refs, shadows=shadows))
    first_call_s = time.perf_counter() - start  # set-up + compile + one batch
    start = time.perf_counter()
    rgb, seg = draw(task, refs, shadows=shadows)
    batch_s = time.perf_counter() - start
    per_state = [frame_metrics(refs.rgb[i], refs.seg[i], rgb[i], seg[i], refs.planes) for i in range(states)]
    shown = int(np.argmin([m["segmentation_agreement"] for m in per_state]))
    record = {
        "summary": summarise(per_state),
        "per_state": per_state,
        "top_disagreements": disagreements(refs, seg),
        "png_state": shown,
        "wall_s": {"dm_control_states": round(reference_s, 2), "ours_first_call": round(first_call_s, 2),
                   "ours_batch": round(batch_s, 3)},
    }
    return record, (refs.rgb[shown], rgb[shown], refs.seg[shown], seg[shown])


def versions() -> dict:
    import importlib.metadata

    import jax
    import mujoco

    return {"mujoco": mujoco.__version__, "dm_control": importlib.metadata.version("dm_control"), "jax": jax.__version__}


COLUMNS = (("seg mean", "segmentation_agreement_mean", 4), ("seg min", "segmentation_agreement_min", 4),
           ("body min", "body_agreement_min", 3), ("mae mean", "colour_mae_mean", 1), ("mae max", "colour_mae_max", 1),
           ("obj mean", "colour_mae_same_object_mean", 1), ("obj max", "colour_mae_same_object_max", 1))


def print_table(results: dict) -> None:
    print(f"{'task':18s}" + "".join(f" {title:>8s}" for title, _, _ in COLUMNS))
    for task, record in results.items():
        print(f"{task:18s}" + "".join(f" {record['summary'][key]:8.{digits}f}" for _, key, digits in COLUMNS))


def main(argv: list[str] | None = None) -> int:
    from envs import dmc_host

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(dmc_host.TASKS), help="DMC vision tasks (default: all nine)")
    parser.add_argument("--states", type=int, default=STATES, help="physics states per task")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--shadows", action="store_true",
                        help="draw shadows (off in the JAX backend by default: they double the cost of a frame)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in dmc_host.TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(dmc_host.TASKS)}")
    if args.states < 1:
        parser.error("--states must be at least 1")

    import jax

    from benchmarks.common import machine_info

    start = time.perf_counter()
    results, panels = {}, {}
    for task in args.tasks:
        results[task], panels[task] = measure_task(task, args.states, args.shadows)
        print(f"{task}: done ({results[task]['wall_s']})", file=sys.stderr)
    total_s = time.perf_counter() - start
    suffix = "-shadows" if args.shadows else ""
    pngs = save_pngs(panels, args.out / f"pixel_fidelity{suffix}")
    record = {
        "benchmark": "pixel_fidelity",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {"size": SIZE, "states": args.states, "shadows": args.shadows, "random_actions_per_state": STEPS,
                     "state_seeds": list(range(args.states))},
        "metrics": {
            "segmentation_agreement": "fraction of pixels whose (object id, object type) match dm_control's",
            "body_agreement": "segmentation_agreement over pixels either renderer gives a non-plane object",
            "colour_mae": "mean |dm_control - ours| over pixels and RGB channels, 0-255",
            "colour_mae_same_object": "colour_mae over pixels both renderers give the same object (not background)",
        },
        "tasks": results,
        "pngs": pngs,
        "total_wall_s": round(total_s, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"pixel_fidelity-{jax.default_backend()}{suffix}.json"
    path.write_text(json.dumps(record, indent=2))
    print_table(results)
    print(f"total {total_s:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
