"""Ray-primitive intersections and surface normals, in the primitive's own frame.

Every function takes the rays' origins `o` in one object's frame, (3,) when they share one
(camera rays) or (R, 3) (shadow rays), and their directions `d` (R, 3) in that frame, plus MuJoCo's `size` (3,), and returns the distance along each ray
to the surface it enters (R,), `inf` where it misses. Directions are unit vectors, so the
distances are metres. Surfaces are seen from outside only, as MuJoCo's renderer culls back
faces; a plane is seen from the side its +z normal points to.
"""

from __future__ import annotations

import jax.numpy as jnp

from envs.pixels.scene import BOX, CAPSULE, CYLINDER, ELLIPSOID, PLANE

INF = jnp.inf


def _entry(a, b, c):
    """The smaller root of a t^2 + 2 b t + c = 0 (inf when there is none)."""
    disc = b * b - a * c
    root = (-b - jnp.sqrt(jnp.maximum(disc, 0.0))) / jnp.maximum(a, 1e-12)
    return jnp.where((disc >= 0) & (a > 1e-12), root, INF)


def plane(o, d, size):
    t = -o[..., 2] / jnp.where(d[:, 2] < 0, d[:, 2], -1.0)
    p = o + t[:, None] * d
    # Size 0 on an axis is an infinite plane (MuJoCo draws it out to the far clip).
    inside_x = (size[0] <= 0) | (jnp.abs(p[:, 0]) <= size[0])
    inside_y = (size[1] <= 0) | (jnp.abs(p[:, 1]) <= size[1])
    return jnp.where((d[:, 2] < 0) & (o[..., 2] > 0) & inside_x & inside_y, t, INF)


def ellipsoid(o, d, size):
    # Scaling the frame by 1/size turns it into the unit sphere and keeps the ray parameter t.
    o, d = o / size, d / size
    return _entry(jnp.sum(d * d, -1), jnp.sum(d * o, -1), jnp.sum(o * o, -1) - 1.0)


def _tube(o, d, radius):
    """Entry into the infinite tube x^2 + y^2 = r^2 and the z there (rays along the axis: o's z)."""
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    t = _entry(a, jnp.sum(d[:, :2] * o[..., :2], -1), jnp.sum(o[..., :2] ** 2, -1) - radius**2)
    z = jnp.where(jnp.isfinite(t), o[..., 2] + jnp.where(jnp.isfinite(t), t, 0.0) * d[:, 2], o[..., 2])
    return t, z


def capsule(o, d, size):
    radius, half_length = size[0], size[1]
    t, z = _tube(o, d, radius)
    # A ray entering the tube beyond an end (or running along the axis) meets that end's cap
    # first, if anything: one sphere test at the clamped axis point instead of two.
    centre = jnp.stack([jnp.zeros_like(z), jnp.zeros_like(z), jnp.clip(z, -half_length, half_length)], -1)
    cap = _entry(jnp.ones(d.shape[0]), jnp.sum(d * (o - centre), -1), jnp.sum((o - centre) ** 2, -1) - radius**2)
    side_hit = jnp.isfinite(t) & (jnp.abs(z) <= half_length)
    misses_tube = ~jnp.isfinite(t) & (d[:, 0] ** 2 + d[:, 1] ** 2 > 1e-12)  # then it misses the capsule too
    return jnp.where(side_hit, t, jnp.where(misses_tube, INF, cap))


def cylinder(o, d, size):
    radius, half_length = size[0], size[1]
    t, z = _tube(o, d, radius)
    side = jnp.where(jnp.isfinite(t) & (jnp.abs(z) <= half_length), t, INF)
    # Only the disk facing the ray can be entered from outside: the top one for rays going down.
    sign = jnp.where(d[:, 2] < 0, 1.0, -1.0)
    safe = jnp.where(jnp.abs(d[:, 2]) > 1e-12, d[:, 2], -sign * 1e-12)
    t_disk = (sign * half_length - o[..., 2]) / safe
    p = o[..., :2] + t_disk[:, None] * d[:, :2]
    disk = jnp.where((jnp.sum(p * p, -1) <= radius**2) & (t_disk > 0) & (jnp.abs(d[:, 2]) > 1e-12), t_disk, INF)
    return jnp.minimum(side, disk)


def box(o, d, size):
    safe = jnp.where(jnp.abs(d) < 1e-12, 1e-12, d)
    t1, t2 = (-size - o) / safe, (size - o) / safe
    near = jnp.max(jnp.minimum(t1, t2), axis=-1)
    far = jnp.min(jnp.maximum(t1, t2), axis=-1)
    return jnp.where((near <= far) & (near > 0), near, INF)


DISTANCE = {PLANE: plane, ELLIPSOID: ellipsoid, CAPSULE: capsule, CYLINDER: cylinder, BOX: box}


def normal(kind, p, size):
    """Outward unit normal at surface points `p` (R, 3) of objects of kinds `kind` (R,), sizes (R, 3)."""
    safe_size = jnp.maximum(size, 1e-9)
    plane_n = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0]), p.shape)
    ellipsoid_n = p / safe_size**2
    # Capsule: away from the nearest point of its axis segment.
    axis_point = jnp.stack([jnp.zeros_like(p[:, 0]), jnp.zeros_like(p[:, 0]), jnp.clip(p[:, 2], -size[:, 1], size[:, 1])], -1)
    capsule_n = p - axis_point
    # Cylinder: a cap where the point is relatively nearer the cap plane than the tube.
    on_cap = jnp.abs(p[:, 2]) / safe_size[:, 1] >= jnp.linalg.norm(p[:, :2], axis=-1) / safe_size[:, 0]
    cylinder_n = jnp.where(on_cap[:, None], jnp.stack([0 * p[:, 0], 0 * p[:, 0], jnp.sign(p[:, 2])], -1),
                           p * jnp.array([1.0, 1.0, 0.0]))
    # Box: the face whose slab the point is relatively deepest into.
    face = jnp.argmax(jnp.abs(p) / safe_size, axis=-1)
    box_n = jnp.eye(3)[face] * jnp.sign(p)
    n = jnp.select(
        [kind[:, None] == PLANE, kind[:, None] == ELLIPSOID, kind[:, None] == CAPSULE, kind[:, None] == CYLINDER],
        [plane_n, ellipsoid_n, capsule_n, cylinder_n],
        box_n,
    )
    return n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
