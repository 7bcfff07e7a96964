"""Draw a `Scene` at a `Pose`: one ray per pixel, the nearest surface, MuJoCo's lighting.

Shading follows MuJoCo's fixed-function OpenGL model per pixel: emission, then for the
headlight and each model light ambient + Lambert diffuse + Blinn-Phong specular, spot
lights with their cutoff, exponent and attenuation, clipped to [0, 1]. Objects with alpha
below one are blended over what lies behind them (one transparent layer). Not drawn:
shadows, the floor's reflections, fog and anti-aliasing; `benchmarks/pixel_fidelity.py`
measures what that costs in colour against dm_control's frames.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.pixels import intersect
from envs.pixels.pose import Pose
from envs.pixels.scene import KIND_NAMES, SKY_TABLE_SIZE, Scene

# A texture fades into its mean colour as a pixel's footprint grows from 0.1 to 0.5 image widths
# (fitted to dm_control's frames: far-floor colour error 5.0 -> 3.8 humanoid, 6.0 -> 4.4 quadruped).
TEXTURE_FADE = (0.1, 0.5)


def camera_rays(scene: Scene, pose: Pose) -> jax.Array:
    """Unit world directions (H*W, 3) through pixel centres, row 0 at the top (dm_control's order)."""
    half = np.tan(np.deg2rad(scene.fovy) / 2)
    aspect = scene.width / scene.height
    x = ((np.arange(scene.width) + 0.5) / scene.width * 2 - 1) * half * aspect
    y = (1 - (np.arange(scene.height) + 0.5) / scene.height * 2) * half
    grid_x, grid_y = np.meshgrid(x, y)
    local = np.stack([grid_x, grid_y, -np.ones_like(grid_x)], -1).reshape(-1, 3)
    local = jnp.asarray(local / np.linalg.norm(local, axis=-1, keepdims=True), jnp.float32)
    return local @ pose.camera_rotation.T


def _hits(scene: Scene, pose: Pose, origins: jax.Array, directions: jax.Array) -> jax.Array:
    """Distance along each ray to each object (R, N), `inf` for a miss; origins (3,) shared or (R, 3)."""
    columns = [None] * scene.num_objects
    for kind in range(len(KIND_NAMES)):
        members = scene.members(kind)
        if members.size == 0:
            continue
        rotation = pose.rotation[members]
        if origins.ndim == 1:
            local_origin = jnp.einsum("mji,mj->mi", rotation, origins - pose.position[members])
        else:
            local_origin = jnp.einsum("mji,mrj->mri", rotation, origins[None] - pose.position[members][:, None])
        local_directions = jnp.einsum("rj,mji->mri", directions, rotation)
        t = jax.vmap(intersect.DISTANCE[kind])(local_origin, local_directions, pose.size[members])
        for row, obj in enumerate(members):
            columns[obj] = t[row]
    return jnp.stack(columns, axis=-1)


def distances(scene: Scene, pose: Pose, directions: jax.Array) -> jax.Array:
    """Distance along each camera ray to each object (H*W, N); `inf` where it misses or lies outside the clip range."""
    t = _hits(scene, pose, pose.camera_position, directions)
    return jnp.where((t >= scene.near) & (t <= scene.far), t, jnp.inf)


SHADOW_OFFSET = 1e-3  # metres: shadow rays start this far off the surface, so it does not shadow itself


def _light_vectors(pose: Pose, light, i: int, point: jax.Array):
    """Unit direction from points toward light i, its distance (inf for directional) and the spot/attenuation gain."""
    if light.directional:
        return jnp.broadcast_to(-pose.light_direction[i], point.shape), jnp.full(point.shape[:1] + (1,), jnp.inf), 1.0
    offset = pose.light_position[i] - point
    distance = jnp.linalg.norm(offset, axis=-1, keepdims=True)
    light_dir = offset / jnp.maximum(distance, 1e-12)
    spot = jnp.sum(-light_dir * pose.light_direction[i], -1, keepdims=True)
    cone = jnp.where(spot >= light.cutoff_cos, jnp.maximum(spot, 0.0) ** light.exponent, 0.0)
    a = light.attenuation
    return light_dir, distance, cone / (a[0] + a[1] * distance + a[2] * distance**2)


def _lit_fractions(scene: Scene, pose: Pose, point: jax.Array, normal: jax.Array) -> list:
    """Per model light, 1 where nothing lies between a surface point and the light, else 0 (R, 1)."""
    fractions = []
    origins = point + SHADOW_OFFSET * normal
    for i, light in enumerate(scene.lights):
        if not light.castshadow:
            fractions.append(1.0)
            continue
        light_dir, distance, _ = _light_vectors(pose, light, i, point)
        t = _hits(scene, pose, origins, light_dir)
        blocked = jnp.any((t > 0) & (t < distance), axis=-1, keepdims=True)
        fractions.append(1.0 - blocked.astype(jnp.float32))
    return fractions


def _nearest(t: jax.Array, allowed: np.ndarray | jax.Array | None = None):
    if allowed is not None:
        t = jnp.where(allowed, t, jnp.inf)
    index = jnp.argmin(t, axis=-1)
    return index, jnp.take_along_axis(t, index[:, None], axis=-1)[:, 0]


def _sample_texture(scene: Scene, obj, local_point, size, footprint) -> jax.Array:
    """Texture colour (R, 3) at plane points; white where the object has no texture.

    MuJoCo anchors a plane's texture at its (-x, +y) corner: columns run along +x, rows along -y
    (fitted to MuJoCo's own frames of checkered planes of several sizes and repeats).
    `footprint` is each pixel's width on the surface in metres: where a pixel spans a large
    part of the image, OpenGL's mipmaps show its average colour, so the sample fades into
    the texture's mean between TEXTURE_FADE image widths (the checker does not alias to the horizon).
    """
    textures = jnp.asarray(scene.textures)
    height, width = scene.textures.shape[1:3]
    scale = jnp.asarray(scene.texture_scale)[obj]
    u = (local_point[:, 0] + size[:, 0]) * scale[:, 0]
    v = (size[:, 1] - local_point[:, 1]) * scale[:, 1]
    col = jnp.clip(jnp.floor((u - jnp.floor(u)) * width), 0, width - 1).astype(jnp.int32)
    row = jnp.clip(jnp.floor((v - jnp.floor(v)) * height), 0, height - 1).astype(jnp.int32)
    texture = jnp.maximum(jnp.asarray(scene.texture)[obj], 0)
    images = footprint * jnp.max(scale, axis=-1)
    fade = jnp.clip((images - TEXTURE_FADE[0]) / (TEXTURE_FADE[1] - TEXTURE_FADE[0]), 0.0, 1.0)[:, None]
    colour = (1 - fade) * textures[texture, row, col] + fade * jnp.asarray(scene.texture_mean)[texture]
    return jnp.where((jnp.asarray(scene.texture)[obj] >= 0)[:, None], colour, 1.0)


def _light_terms(scene: Scene, pose: Pose, obj, point, normal, view, base) -> list:
    """MuJoCo's lighting of surface points as (R, 3) terms before clipping: emission plus the
    headlight first, then one per model light (so shadows can drop a light's term)."""
    specular = jnp.asarray(scene.specular)[obj][:, None]
    shininess = jnp.asarray(scene.shininess)[obj][:, None]

    def term(light_dir, ambient, diffuse, specular_light, gain):
        cos = jnp.sum(normal * light_dir, -1, keepdims=True)
        half = light_dir + view
        half = half / jnp.maximum(jnp.linalg.norm(half, axis=-1, keepdims=True), 1e-12)
        shine = jnp.where(cos > 0, jnp.maximum(jnp.sum(normal * half, -1, keepdims=True), 0.0) ** shininess, 0.0)
        return gain * (ambient * base + diffuse * base * jnp.maximum(cos, 0.0) + specular_light * specular * shine)

    # The headlight is a directional light shining along the camera's view.
    toward_camera = pose.camera_rotation[:, 2]
    terms = [jnp.asarray(scene.emission)[obj][:, None] * base
             + term(toward_camera, scene.headlight_ambient, scene.headlight_diffuse, scene.headlight_specular, 1.0)]
    for i, light in enumerate(scene.lights):
        light_dir, _, gain = _light_vectors(pose, light, i, point)
        terms.append(term(light_dir, light.ambient, light.diffuse, light.specular, gain))
    return terms


def _combine(terms: list, lit: list) -> jax.Array:
    return terms[0] + sum(fraction * light_term for fraction, light_term in zip(lit, terms[1:]))


def _vertex_terms(scene: Scene, pose: Pose) -> jax.Array:
    """Lighting terms (L+1, V, 3) of the plane grids' vertices, before texturing (OpenGL's order)."""
    owner = jnp.asarray(scene.grid_owner)
    rotation = pose.rotation[owner]
    local = jnp.pad(jnp.asarray(scene.grid_vertices), ((0, 0), (0, 1)))
    point = pose.position[owner] + jnp.einsum("vij,vj->vi", rotation, local)
    view = pose.camera_position - point
    view = view / jnp.maximum(jnp.linalg.norm(view, axis=-1, keepdims=True), 1e-12)
    return jnp.stack(_light_terms(scene, pose, owner, point, rotation[:, :, 2], view, jnp.asarray(scene.rgb)[owner]))


def _gouraud(scene: Scene, pose: Pose, obj, local, vertex_terms):
    """Bilinear interpolation (L+1, R, 3) of the vertex terms of the grid cell each plane point lies in."""
    grid = jnp.asarray(scene.plane_grid)[obj]
    size = pose.size[obj]
    corner = []
    for axis in (0, 1):
        cells, half, spacing = grid[:, axis], size[:, axis], size[:, 2]
        cell = jnp.clip(jnp.floor((local[:, axis] + half) / jnp.maximum(spacing, 1e-9)), 0, jnp.maximum(cells - 1, 0))
        low = -half + cell * spacing
        high = jnp.minimum(low + spacing, half)
        corner.append((cell.astype(jnp.int32), jnp.clip((local[:, axis] - low) / jnp.maximum(high - low, 1e-9), 0.0, 1.0)))
    (i, wx), (j, wy) = corner
    row = grid[:, 0] + 1
    first = grid[:, 2] + j * row + i
    c00, c10 = vertex_terms[:, first], vertex_terms[:, first + 1]
    c01, c11 = vertex_terms[:, first + row], vertex_terms[:, first + row + 1]
    wx, wy = wx[:, None], wy[:, None]
    return (1 - wy) * ((1 - wx) * c00 + wx * c10) + wy * ((1 - wx) * c01 + wx * c11)


def _surface_colour(scene: Scene, pose: Pose, directions, obj, t, vertex_terms):
    """Lit colour (R, 3) of object `obj` where each ray meets it at distance `t` (finite)."""
    point = pose.camera_position + jnp.where(jnp.isfinite(t), t, 0.0)[:, None] * directions
    rotation = pose.rotation[obj]
    local = jnp.einsum("rji,rj->ri", rotation, point - pose.position[obj])
    local_normal = intersect.normal(jnp.asarray(scene.kind)[obj], local, pose.size[obj])
    normal = jnp.einsum("rij,rj->ri", rotation, local_normal)
    # A pixel's width on the surface: the ray's spread at distance t, stretched by the grazing angle.
    pixel_angle = 2 * np.tan(np.deg2rad(scene.fovy) / 2) / scene.height
    grazing = jnp.maximum(jnp.abs(jnp.sum(normal * directions, -1)), 0.05)
    footprint = jnp.where(jnp.isfinite(t), t, 0.0) * pixel_angle / grazing
    texture = _sample_texture(scene, obj, local, pose.size[obj], footprint)
    lit = _lit_fractions(scene, pose, point, normal) if scene.shadows else [1.0] * len(scene.lights)
    colour = _combine(_light_terms(scene, pose, obj, point, normal, -directions, jnp.asarray(scene.rgb)[obj] * texture), lit)
    if scene.grid_owner.size:
        gouraud = jnp.asarray(scene.plane_grid[:, 0] > 0)[obj][:, None]
        # Not clipped before texturing: MuJoCo's floors show lighting above 1 times the texture.
        interpolated = _combine(list(_gouraud(scene, pose, obj, local, vertex_terms)), lit)
        colour = jnp.where(gouraud, interpolated * texture, colour)
    return colour


def _sky(scene: Scene, directions: jax.Array) -> jax.Array:
    band = jnp.clip(((directions[:, 2] + 1) / 2 * SKY_TABLE_SIZE).astype(jnp.int32), 0, SKY_TABLE_SIZE - 1)
    return jnp.asarray(scene.sky)[band]


def render(scene: Scene, pose: Pose) -> jax.Array:
    """The RGB frame (H, W, 3) uint8."""
    directions = camera_rays(scene, pose)
    t = distances(scene, pose, directions)
    opaque = scene.alpha >= 1.0
    solid, solid_t = _nearest(t, opaque)
    vertex_terms = _vertex_terms(scene, pose) if scene.grid_owner.size else None
    surface = _surface_colour(scene, pose, directions, solid, solid_t, vertex_terms)
    colour = jnp.where(jnp.isfinite(solid_t)[:, None], surface, _sky(scene, directions))
    if not opaque.all():
        glass, glass_t = _nearest(t, jnp.asarray(~opaque) & (t < solid_t[:, None]))
        alpha = jnp.where(jnp.isfinite(glass_t), jnp.asarray(scene.alpha)[glass], 0.0)[:, None]
        glass_colour = _surface_colour(scene, pose, directions, glass, glass_t, vertex_terms)
        colour = alpha * jnp.clip(glass_colour, 0, 1) + (1 - alpha) * jnp.clip(colour, 0, 1)
    pixels = jnp.round(jnp.clip(colour, 0.0, 1.0) * 255).astype(jnp.uint8)
    return pixels.reshape(scene.height, scene.width, 3)


def segmentation(scene: Scene, pose: Pose) -> jax.Array:
    """(H, W, 2) int32: the nearest object's (MuJoCo object id, object type) per pixel, -1 for none.

    The channel order is dm_control's `physics.render(segmentation=True)`.
    """
    directions = camera_rays(scene, pose)
    index, nearest = _nearest(distances(scene, pose, directions))
    ids = jnp.asarray(scene.segment_id[:, ::-1])[index]
    ids = jnp.where(jnp.isfinite(nearest)[:, None], ids, -1)
    return ids.reshape(scene.height, scene.width, 2)
