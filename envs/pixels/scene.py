"""What a frame is drawn from: the static part of a MuJoCo scene, read once with numpy.

Objects are what MuJoCo's default visual options draw: geoms, sites and spatial tendons in
groups 0-2 (`mjvOption`'s default `geomgroup`/`sitegroup`/`tendongroup`). A tendon is drawn
as one capsule per straight segment between consecutive sites (MuJoCo draws them the same
way). Meshes, height fields, flexes and skins are not supported: `from_model` refuses them
if visible, so a scene never silently misses an object.

Colours follow MuJoCo: an object's material, when it has one, gives its rgba, specular,
shininess and emission; the material's RGB texture is sampled on planes (the checkered
floor); a skybox texture becomes the background as a table of colour against elevation.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

# Primitive kinds the ray caster intersects (spheres are ellipsoids with equal radii).
PLANE, ELLIPSOID, CAPSULE, CYLINDER, BOX = range(5)
KIND_NAMES = ("plane", "ellipsoid", "capsule", "cylinder", "box")
_KIND_OF_GEOM = {
    int(mujoco.mjtGeom.mjGEOM_PLANE): PLANE,
    int(mujoco.mjtGeom.mjGEOM_SPHERE): ELLIPSOID,
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): ELLIPSOID,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): CAPSULE,
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): CYLINDER,
    int(mujoco.mjtGeom.mjGEOM_BOX): BOX,
}
VISIBLE_GROUPS = 3  # mjvOption's defaults show groups 0, 1 and 2
SKY_TABLE_SIZE = 256  # background colour samples over sin(elevation) in [-1, 1]
# Pose sources: where an object's position and orientation come from in mjx.Data.
FROM_GEOM, FROM_SITE, FROM_SEGMENT = range(3)
_OBJ_GEOM, _OBJ_SITE, _OBJ_TENDON = (int(t) for t in (mujoco.mjtObj.mjOBJ_GEOM, mujoco.mjtObj.mjOBJ_SITE, mujoco.mjtObj.mjOBJ_TENDON))


@dataclasses.dataclass(frozen=True)
class Light:
    """A model light (MuJoCo's mjtLightType: spot or directional) and how its pose follows the model."""

    mode: int  # mjtCamLight: fixed, track, trackcom (others are treated as fixed)
    body: int
    pos: np.ndarray  # local position (fixed) or offset (track modes, from light_pos0/poscom0)
    dir: np.ndarray
    directional: bool
    ambient: np.ndarray
    diffuse: np.ndarray
    specular: np.ndarray
    attenuation: np.ndarray
    cutoff_cos: float
    exponent: float
    castshadow: bool


@dataclasses.dataclass(frozen=True)
class Scene:
    """Everything static about a frame. Arrays are per object (N) unless said otherwise."""

    height: int
    width: int
    camera: int  # camera id in the model
    fovy: float  # degrees, vertical
    near: float  # clip distances in metres (MuJoCo's znear/zfar times the model's extent)
    far: float
    kind: np.ndarray  # int (N,): PLANE..BOX
    segment_id: np.ndarray  # int (N, 2): (MuJoCo object type, object id), as segmentation renders
    pose_source: np.ndarray  # int (N,): FROM_GEOM / FROM_SITE / FROM_SEGMENT
    pose_index: np.ndarray  # int (N, 2): geom or site id in column 0; a segment's two site ids
    size: np.ndarray  # float (N, 3): MuJoCo's size; a segment's half length is set per frame
    rgb: np.ndarray  # float (N, 3)
    alpha: np.ndarray  # float (N,)
    specular: np.ndarray  # float (N,)
    shininess: np.ndarray  # float (N,): OpenGL exponent (MuJoCo's shininess times 128)
    emission: np.ndarray  # float (N,)
    texture: np.ndarray  # int (N,): row of `textures`, -1 for none (planes only)
    texture_scale: np.ndarray  # float (N, 2): texture images per metre along a plane's x and y, from its corner
    textures: np.ndarray  # float (T, H, W, 3) in [0, 1]
    texture_mean: np.ndarray  # float (T, 3): each texture's mean colour (what a distant texture fades to)
    # MuJoCo lights a plane per vertex of a grid whose cells are size[2] metres (Gouraud shading):
    # (cells along x, cells along y, first vertex row) per object, 0 cells for per-pixel lighting.
    plane_grid: np.ndarray  # int (N, 3)
    grid_vertices: np.ndarray  # float (V, 2): the vertices' local (x, y), planes one after another
    grid_owner: np.ndarray  # int (V,): the plane each vertex belongs to
    sky: np.ndarray  # float (SKY_TABLE_SIZE, 3): background colour against sin(elevation)
    headlight_ambient: np.ndarray
    headlight_diffuse: np.ndarray
    headlight_specular: np.ndarray
    lights: tuple[Light, ...]
    shadows: bool = True  # cast a shadow ray per pixel toward each shadow-casting light (MuJoCo's default)

    @property
    def num_objects(self) -> int:
        return int(self.kind.shape[0])

    def members(self, kind: int) -> np.ndarray:
        """Indices of the objects of one primitive kind (static: the ray caster groups by kind)."""
        return np.flatnonzero(self.kind == kind)

    @classmethod
    def from_model(cls, model: mujoco.MjModel, camera: int | str, size: int | tuple[int, int], shadows: bool = True) -> "Scene":
        height, width = (size, size) if isinstance(size, int) else size
        camera_id = _camera_id(model, camera)
        _refuse_unsupported(model)
        rows = _geom_rows(model) + _site_rows(model) + _tendon_rows(model)
        if not rows:
            raise ValueError("the model has no visible geom, site or tendon to render")
        textures, texture_rows = _plane_textures(model)
        columns = {key: np.array([row[key] for row in rows]) for key in rows[0]}
        material = columns.pop("material")
        texture = np.array([texture_rows.get(int(m), -1) if k == PLANE else -1 for m, k in zip(material, columns["kind"])])
        extent = float(model.stat.extent)
        plane_grid, grid_vertices, grid_owner = _plane_grids(columns["kind"], columns["size"])
        return cls(
            plane_grid=plane_grid,
            grid_vertices=grid_vertices,
            grid_owner=grid_owner,
            height=int(height),
            width=int(width),
            camera=camera_id,
            fovy=float(model.cam_fovy[camera_id]),
            near=float(model.vis.map.znear) * extent,
            far=float(model.vis.map.zfar) * extent,
            texture=texture.astype(np.int32),
            textures=textures,
            texture_mean=textures.mean(axis=(1, 2)),
            sky=_sky_table(model),
            headlight_ambient=np.asarray(model.vis.headlight.ambient, np.float32) * bool(model.vis.headlight.active),
            headlight_diffuse=np.asarray(model.vis.headlight.diffuse, np.float32) * bool(model.vis.headlight.active),
            headlight_specular=np.asarray(model.vis.headlight.specular, np.float32) * bool(model.vis.headlight.active),
            lights=tuple(_light(model, i) for i in range(model.nlight) if model.light_active[i]),
            shadows=shadows,
            **columns,
        )


def _camera_id(model: mujoco.MjModel, camera: int | str) -> int:
    if isinstance(camera, str):
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if index < 0:
            raise ValueError(f"the model has no camera named {camera!r}")
        return int(index)
    if not 0 <= camera < model.ncam:
        raise ValueError(f"camera id {camera} out of range: the model has {model.ncam} cameras")
    return int(camera)


MAX_GRID_VERTICES = 256  # larger grids (a 200 m floor in 0.5 m cells) are lit per pixel: cells span many pixels only on small planes


def _plane_grids(kind: np.ndarray, size: np.ndarray):
    """Per-vertex lighting grids of the finite planes, as MuJoCo tessellates them for drawing."""
    grid, vertices, owners = np.zeros((len(kind), 3), np.int32), [], []
    for obj in np.flatnonzero(kind == PLANE):
        half_x, half_y, spacing = (float(v) for v in size[obj])
        if half_x <= 0 or half_y <= 0 or spacing <= 0:
            continue
        cells = [int(np.ceil(2 * half / spacing - 1e-6)) for half in (half_x, half_y)]
        if (cells[0] + 1) * (cells[1] + 1) > MAX_GRID_VERTICES:
            continue
        xs = np.minimum(-half_x + spacing * np.arange(cells[0] + 1), half_x)
        ys = np.minimum(-half_y + spacing * np.arange(cells[1] + 1), half_y)
        grid[obj] = (cells[0], cells[1], sum(len(v) for v in vertices))
        vertices.append(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))  # row-major in y, then x
        owners.append(np.full(len(xs) * len(ys), obj))
    if not vertices:
        return grid, np.zeros((0, 2), np.float32), np.zeros((0,), np.int32)
    return grid, np.concatenate(vertices).astype(np.float32), np.concatenate(owners).astype(np.int32)


def _refuse_unsupported(model: mujoco.MjModel) -> None:
    for i in range(model.ngeom):
        if model.geom_group[i] < VISIBLE_GROUPS and model.geom_rgba[i, 3] > 0 and int(model.geom_type[i]) not in _KIND_OF_GEOM:
            kind = mujoco.mjtGeom(model.geom_type[i]).name.removeprefix("mjGEOM_").lower()
            raise ValueError(f"geom {i} ({model.geom(i).name or 'unnamed'}) is a visible {kind}: the ray caster draws primitives only")
    if model.nskin or model.nflex:
        raise ValueError("the model has skins or flexes: the ray caster draws primitives only")


def _appearance(model: mujoco.MjModel, material: int, rgba: np.ndarray) -> dict:
    """MuJoCo's rule: a material, when given, overrides the object's own rgba."""
    if material >= 0:
        rgba = model.mat_rgba[material]
        return dict(
            rgb=rgba[:3].astype(np.float32),
            alpha=np.float32(rgba[3]),
            specular=np.float32(model.mat_specular[material]),
            shininess=np.float32(model.mat_shininess[material] * 128.0),
            emission=np.float32(model.mat_emission[material]),
            material=int(material),
        )
    # MuJoCo's defaults for an object without a material.
    return dict(rgb=rgba[:3].astype(np.float32), alpha=np.float32(rgba[3]), specular=np.float32(0.5),
                shininess=np.float32(0.5 * 128.0), emission=np.float32(0.0), material=-1)


def _row(kind, obj_type, obj_id, source, index, size, appearance, texture_scale=(0.0, 0.0)) -> dict:
    return dict(
        kind=kind,
        segment_id=np.array([obj_type, obj_id], np.int32),
        pose_source=source,
        pose_index=np.array(index, np.int32),
        size=np.asarray(size, np.float32),
        texture_scale=np.asarray(texture_scale, np.float32),
        **appearance,
    )


def _plane_texture_scale(model: mujoco.MjModel, material: int, size: np.ndarray) -> tuple[float, float]:
    """Texture repeats per metre on a plane, measured on MuJoCo's renderer: one image per
    2/texrepeat metres when `texuniform`, else texrepeat images across the plane."""
    if material < 0:
        return (0.0, 0.0)
    repeat = model.mat_texrepeat[material]
    if model.mat_texuniform[material]:
        return (float(repeat[0] / 2), float(repeat[1] / 2))
    return tuple(float(r / (2 * s)) if s > 0 else float(r / 2) for r, s in zip(repeat, size[:2]))


def _primitive_rows(model: mujoco.MjModel, obj_type: int, source: int, types, groups, matids, rgbas, sizes) -> list[dict]:
    """Rows of the visible geoms or sites (MuJoCo allows sites primitive types only; visible geoms
    of other types were refused by `_refuse_unsupported`, invisible ones are skipped here)."""
    rows = []
    for i, (geom_type, group, material, rgba, size) in enumerate(zip(types, groups, matids, rgbas, sizes)):
        if group >= VISIBLE_GROUPS or int(geom_type) not in _KIND_OF_GEOM:
            continue
        look = _appearance(model, int(material), rgba)
        if look["alpha"] <= 0:
            continue
        kind = _KIND_OF_GEOM[int(geom_type)]
        size = np.array(size, np.float32)
        if geom_type == mujoco.mjtGeom.mjGEOM_SPHERE:
            size[:] = size[0]
        scale = _plane_texture_scale(model, look["material"], size) if kind == PLANE else (0.0, 0.0)
        rows.append(_row(kind, obj_type, i, source, (i, -1), size, look, scale))
    return rows


def _geom_rows(model: mujoco.MjModel) -> list[dict]:
    return _primitive_rows(model, _OBJ_GEOM, FROM_GEOM, model.geom_type, model.geom_group, model.geom_matid,
                           model.geom_rgba, model.geom_size)


def _site_rows(model: mujoco.MjModel) -> list[dict]:
    return _primitive_rows(model, _OBJ_SITE, FROM_SITE, model.site_type, model.site_group, model.site_matid,
                           model.site_rgba, model.site_size)


def _tendon_rows(model: mujoco.MjModel) -> list[dict]:
    """Visible spatial tendons through sites only, one capsule per segment."""
    rows = []
    for t in range(model.ntendon):
        if model.tendon_group[t] >= VISIBLE_GROUPS:
            continue
        start, count = int(model.tendon_adr[t]), int(model.tendon_num[t])
        types = model.wrap_type[start : start + count]
        if np.all(types == mujoco.mjtWrap.mjWRAP_JOINT):
            continue  # fixed tendons are not drawn
        if not np.all(types == mujoco.mjtWrap.mjWRAP_SITE):
            raise ValueError(f"tendon {t} wraps around geoms or pulleys: the ray caster draws site-to-site tendons only")
        look = _appearance(model, int(model.tendon_matid[t]), model.tendon_rgba[t])
        sites = model.wrap_objid[start : start + count]
        width = float(model.tendon_width[t])
        for a, b in zip(sites[:-1], sites[1:]):
            rows.append(_row(CAPSULE, _OBJ_TENDON, t, FROM_SEGMENT, (a, b), (width, 0.0, 0.0), look))
    return rows


def _plane_textures(model: mujoco.MjModel) -> tuple[np.ndarray, dict[int, int]]:
    """The 2D RGB textures of materials used by planes, padded to one array; material -> row."""
    used: dict[int, int] = {}
    for i in range(model.ngeom):
        material = int(model.geom_matid[i])
        if model.geom_type[i] == mujoco.mjtGeom.mjGEOM_PLANE and material >= 0:
            texture = int(model.mat_texid[material, mujoco.mjtTextureRole.mjTEXROLE_RGB])
            if texture >= 0 and model.tex_type[texture] == mujoco.mjtTexture.mjTEXTURE_2D:
                used[material] = texture
    images = [_texture_image(model, t) for t in dict.fromkeys(used.values())]
    if not images:
        return np.zeros((1, 1, 1, 3), np.float32), {}
    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    padded = np.zeros((len(images), height, width, 3), np.float32)
    for k, image in enumerate(images):  # repeat-pad so a sample never reads padding
        padded[k] = np.tile(image, (height // image.shape[0] + 1, width // image.shape[1] + 1, 1))[:height, :width]
    order = {t: k for k, t in enumerate(dict.fromkeys(used.values()))}
    return padded, {m: order[t] for m, t in used.items()}


def _texture_image(model: mujoco.MjModel, texture: int) -> np.ndarray:
    width, height, channels = int(model.tex_width[texture]), int(model.tex_height[texture]), int(model.tex_nchannel[texture])
    start = int(model.tex_adr[texture])
    data = np.asarray(model.tex_data[start : start + width * height * channels], np.float32) / 255.0
    image = data.reshape(height, width, channels)
    return image[..., :3] if channels >= 3 else np.repeat(image[..., :1], 3, axis=-1)


def _sky_table(model: mujoco.MjModel) -> np.ndarray:
    """Background colour against sin(elevation), from the skybox's cube faces (black without one).

    dm_control's skyboxes are vertical gradients with random star marks; the median of each
    elevation band keeps the gradient and drops the stars. Face order is OpenGL's with y up:
    +x, -x, +y (top), -y (bottom), +z, -z; the four side faces are symmetric about the vertical.
    """
    skies = [t for t in range(model.ntex) if model.tex_type[t] == mujoco.mjtTexture.mjTEXTURE_SKYBOX]
    if not skies:
        return np.zeros((SKY_TABLE_SIZE, 3), np.float32)
    image = _texture_image(model, skies[0])
    side = image.shape[1]
    stride = max(1, side // 200)  # every stride-th row and column: ample samples per band, and fast
    faces = image.reshape(6, side, side, 3)[:, stride // 2 :: stride, stride // 2 :: stride]
    coords = ((np.arange(side) + 0.5) / side * 2.0 - 1.0)[stride // 2 :: stride]  # face coordinate of each row / column
    across, down = np.meshgrid(coords, coords)  # down: +1 at the bottom row
    norm = np.sqrt(1.0 + across**2 + down**2)
    elevation = {0: -down / norm, 1: -down / norm, 4: -down / norm, 5: -down / norm, 2: 1.0 / norm, 3: -1.0 / norm}
    bins = np.clip(((np.concatenate([elevation[f].ravel() for f in range(6)]) + 1) / 2 * SKY_TABLE_SIZE).astype(int), 0, SKY_TABLE_SIZE - 1)
    colours = faces.reshape(-1, 3)
    table = np.zeros((SKY_TABLE_SIZE, 3), np.float32)
    filled = np.zeros(SKY_TABLE_SIZE, bool)
    for b in range(SKY_TABLE_SIZE):
        members = colours[bins == b]
        if len(members):
            table[b], filled[b] = np.median(members, axis=0), True
    # Bands no face pixel falls in take the nearest filled band's colour.
    nearest = np.flatnonzero(filled)[np.abs(np.flatnonzero(filled)[None, :] - np.arange(SKY_TABLE_SIZE)[:, None]).argmin(1)]
    return table[nearest]


def _light(model: mujoco.MjModel, i: int) -> Light:
    mode = int(model.light_mode[i])
    track = mode in (int(mujoco.mjtCamLight.mjCAMLIGHT_TRACK), int(mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM))
    if mode == int(mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM):
        pos = model.light_poscom0[i]
    elif mode == int(mujoco.mjtCamLight.mjCAMLIGHT_TRACK):
        pos = model.light_pos0[i]
    else:
        pos, mode = model.light_pos[i], int(mujoco.mjtCamLight.mjCAMLIGHT_FIXED)
    return Light(
        mode=mode,
        body=int(model.light_bodyid[i]),
        pos=np.asarray(pos, np.float32),
        dir=np.asarray(model.light_dir0[i] if track else model.light_dir[i], np.float32),
        directional=int(model.light_type[i]) == int(mujoco.mjtLightType.mjLIGHT_DIRECTIONAL),
        ambient=np.asarray(model.light_ambient[i], np.float32),
        diffuse=np.asarray(model.light_diffuse[i], np.float32),
        specular=np.asarray(model.light_specular[i], np.float32),
        attenuation=np.asarray(model.light_attenuation[i], np.float32),
        cutoff_cos=float(np.cos(np.deg2rad(model.light_cutoff[i]))),
        exponent=float(model.light_exponent[i]),
        castshadow=bool(model.light_castshadow[i]),
    )
