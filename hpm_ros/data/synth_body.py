"""The synthetic person as shaded ellipsoids: random appearance and per-frame primitives.

Each body part is an ellipsoid (centre, orthonormal axes, semi-axes) built from H36M-17 joints
in the camera frame (mm): spheroids along the limb bones (lengthened to overlap at the
joints), spheres at the shoulders, ellipsoids for chest, belly, pelvis, neck, head, hair,
hands and feet. :func:`body_primitives` returns them for all frames at once; the renderer in
:mod:`hpm_ros.data.synthetic` ray-casts them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTURES = ('plain', 'stripes', 'noise')
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.89, 0.67, 0.53], [0.78, 0.57, 0.44],
                       [0.62, 0.43, 0.30], [0.45, 0.30, 0.20], [0.30, 0.20, 0.14]])
_NOISE_TILE = 16


@dataclass(frozen=True)
class Material:
    """Surface look: two colours (RGB in [0, 1]), a pattern and its period (mm)."""

    colour: np.ndarray
    colour2: np.ndarray
    texture: str
    period: float


@dataclass(frozen=True)
class Appearance:
    """A person's look: materials per garment, limb thickness scale, noise tile."""

    skin: Material
    shirt: Material
    sleeve: Material
    forearm: Material
    pants: Material
    shin: Material
    shoes: Material
    hair: Material | None
    thickness: float
    girth: float
    noise_tile: np.ndarray


@dataclass(frozen=True)
class Primitives:
    """Ellipsoids of one person for N frames, P parts, camera frame, mm.

    centres ``[N, P, 3]``; axes ``[N, P, 3, 3]`` (columns are the unit axes); semi_axes
    ``[N, P, 3]``; materials: P :class:`Material` entries.
    """

    centres: np.ndarray
    axes: np.ndarray
    semi_axes: np.ndarray
    materials: tuple


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """Draw a garment colour: saturated, pastel, dark or grey."""
    hue = rng.uniform(0, 1)
    saturation = rng.choice([0.0, rng.uniform(0.2, 0.5), rng.uniform(0.5, 0.95)])
    value = rng.uniform(0.15, 0.95)
    angle = 2 * np.pi * (hue + np.array([0.0, 1 / 3, 2 / 3]))
    return np.clip(value * (1 - saturation * (0.5 - 0.5 * np.cos(angle))), 0, 1)


def _garment(rng: np.random.Generator) -> Material:
    colour = _random_colour(rng)
    texture = str(rng.choice(TEXTURES, p=[0.5, 0.25, 0.25]))
    second = _random_colour(rng) if rng.random() < 0.6 else colour * rng.uniform(0.5, 0.8)
    return Material(colour, second, texture, rng.uniform(30, 120))


def random_appearance(rng: np.random.Generator) -> Appearance:
    """Skin tone, clothing (sleeves, shorts, patterns), hair and limb thickness."""
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.08, 3)
    skin = Material(np.clip(tone, 0, 1), np.clip(tone * 0.9, 0, 1), 'plain', 50.0)
    shirt, pants = _garment(rng), _garment(rng)
    sleeve = shirt if rng.random() < 0.85 else skin
    forearm = shirt if sleeve is shirt and rng.random() < 0.5 else skin
    shin = pants if rng.random() < 0.8 else skin
    shoes = Material(_random_colour(rng) * 0.6, _random_colour(rng) * 0.5, 'plain', 50.0)
    hair = None
    if rng.random() < 0.85:
        tint = rng.choice([0.08, 0.2, 0.35, 0.6]) * np.array([1.0, 0.85, 0.7])
        hair = Material(tint, tint * 0.8, 'noise', 15.0)
    return Appearance(skin, shirt, sleeve, forearm, pants, shin, shoes, hair,
                      thickness=rng.uniform(0.85, 1.25), girth=rng.uniform(0.85, 1.3),
                      noise_tile=rng.uniform(0.75, 1.25, (_NOISE_TILE, _NOISE_TILE)))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (broadcasting), cheaper than np.cross on small arrays."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def _frame(main: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Orthonormal axes ``[..., 3, 3]`` (columns): main, hint made orthogonal, their cross."""
    first = _unit(main)
    second = hint - np.sum(hint * first, axis=-1, keepdims=True) * first
    small = np.linalg.norm(second, axis=-1, keepdims=True) < 1e-6
    if small.any():
        fallback = _cross(first, np.array([0.3, 0.5, 0.8]))
        second = np.where(small, fallback, second)
    second = _unit(second)
    return np.stack([first, second, _cross(first, second)], axis=-1)


class _Builder:
    """Collects ellipsoids frame-batched, with their materials."""

    def __init__(self, num_frames: int) -> None:
        self.num_frames = num_frames
        self.centres, self.axes, self.semi, self.materials = [], [], [], []

    def add(self, centre, axes, semi, material: Material) -> None:
        self.centres.append(np.broadcast_to(centre, (self.num_frames, 3)))
        self.axes.append(np.broadcast_to(axes, (self.num_frames, 3, 3)))
        self.semi.append(np.broadcast_to(np.asarray(semi, dtype=np.float64).T,
                                         (self.num_frames, 3)))
        self.materials.append(material)

    def limb(self, start, end, radius: float, material: Material, hint, overlap=0.6) -> None:
        """Spheroid from ``start`` to ``end`` [N, 3] lengthened by ``overlap * radius``."""
        half = 0.5 * np.linalg.norm(end - start, axis=-1) + overlap * radius
        thick = np.full_like(half, radius)
        self.add(0.5 * (start + end), _frame(end - start, hint), [half, thick, thick], material)

    def sphere(self, centre, radius: float, material: Material) -> None:
        self.add(centre, np.eye(3), [radius] * 3, material)

    def build(self) -> Primitives:
        return Primitives(np.stack(self.centres, axis=1), np.stack(self.axes, axis=1),
                          np.stack(self.semi, axis=1), tuple(self.materials))


def body_primitives(joints: np.ndarray, up: np.ndarray, look: Appearance) -> Primitives:
    """Ellipsoids of a person posed by ``joints`` ``[N, 17, 3]`` mm, camera frame.

    up: ``[3]`` the world up direction in the camera frame (orients the feet).
    """
    joints = np.asarray(joints, dtype=np.float64)
    up = np.broadcast_to(_unit(np.asarray(up, dtype=np.float64)), joints[:, 0].shape)
    k, g = look.thickness, look.girth
    b = _Builder(joints.shape[0])
    hip, spine, thorax, neck, head = (joints[:, i] for i in (0, 7, 8, 9, 10))
    lateral = joints[:, 11] - joints[:, 14]
    trunk_up = _unit(thorax - hip)
    forward = _unit(_cross(lateral, trunk_up))
    shoulder_half = 0.5 * np.linalg.norm(lateral, axis=-1)
    chest_len = np.linalg.norm(thorax - spine, axis=-1)
    b.add(spine + 0.6 * (thorax - spine), _frame(thorax - spine, lateral),
          [0.7 * chest_len + 30 * g, 0.85 * shoulder_half + 25 * g,
           np.full_like(chest_len, 105 * g)], look.shirt)
    pelvis_lateral = joints[:, 4] - joints[:, 1]
    pelvis_len = np.linalg.norm(spine - hip, axis=-1)
    b.add(hip + 0.4 * (spine - hip), _frame(spine - hip, pelvis_lateral),
          [0.75 * pelvis_len + 40 * g, 0.5 * np.linalg.norm(pelvis_lateral, axis=-1) + 45 * g,
           np.full_like(pelvis_len, 85 * g)], look.pants)
    b.add(spine + 0.1 * (thorax - spine), _frame(thorax - spine, lateral),
          [0.6 * chest_len, 0.7 * shoulder_half + 20 * g, np.full_like(chest_len, 100 * g)],
          look.shirt)
    b.limb(thorax, neck, 45 * k, look.skin, forward, overlap=0.3)
    head_len = np.linalg.norm(head - neck, axis=-1)
    head_axes = _frame(head - neck, lateral)
    head_centre = neck + 0.15 * (head - neck) - 0.25 * head_len[:, None] * forward
    b.add(head_centre, head_axes, [0.9 * head_len, np.full_like(head_len, 78.0),
                                   np.full_like(head_len, 92.0)], look.skin)
    if look.hair is not None:
        b.add(head_centre + 0.3 * (head - neck) - 0.15 * head_len[:, None] * forward, head_axes,
              [0.7 * head_len, np.full_like(head_len, 82.0), np.full_like(head_len, 92.0)],
              look.hair)
    for side in ((1, 2, 3, 14, 15, 16), (4, 5, 6, 11, 12, 13)):
        j = [joints[:, i] for i in side]
        b.limb(j[0], j[1], 72 * k, look.pants, forward)
        b.limb(j[1], j[2], 50 * k, look.shin, forward)
        b.limb(j[2] - 30 * up, j[2] + 130 * _unit(forward - 0.4 * up), 42 * k, look.shoes,
               up, overlap=0.3)
        b.sphere(j[3], 55 * k, look.shirt)
        b.limb(j[3], j[4], 45 * k, look.sleeve, forward)
        b.limb(j[4], j[5], 36 * k, look.forearm, forward)
        hand_dir = _unit(j[5] - j[4])
        b.limb(j[5], j[5] + 90 * hand_dir, 30 * k, look.skin, forward, overlap=0.4)
    return b.build()
