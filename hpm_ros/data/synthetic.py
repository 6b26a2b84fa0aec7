"""Synthetic person images with exact 2D/3D ground truth, from 3D motion.

A clip puts one randomly dressed person (:mod:`hpm_ros.data.synth_body`) in front of a random
camera, background, light and occluders (:mod:`hpm_ros.data.synth_scene`) and renders N
consecutive frames. Crops follow the paper: a square box around the 2D joints
(``hpm_ros.crop.box_from_keypoints`` with ``box_margin`` times a per-clip scale in
[0.9, 1.1]), resized to S x S. The crop is rendered directly at S x S through the crop
camera (:func:`crop_intrinsics`), never by resizing a full frame.

Coordinates follow ``hpm_ros.crop``: image and crop pixels have the centre of the top-left
pixel at (0, 0); a box (x0, y0, size) maps crop pixels to image pixels by
``image = (x0, y0) + (crop + 0.5) * size / S``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.crop import box_from_keypoints
from hpm_ros.data.synth_body import Appearance, body_primitives, random_appearance
from hpm_ros.data.synth_raster import prepare, rasterise
from hpm_ros.data.synth_scene import (Background, Camera, Occluders, SceneConfig,
                                      random_camera)
from hpm_ros.geometry import project_points, world_to_camera


@dataclass(frozen=True)
class RenderConfig:
    """Crop settings and scene ranges; ``draw_person=False`` renders the empty scene."""

    box_margin: float = 1.25
    scale_range: tuple = (0.9, 1.1)
    scene: SceneConfig = SceneConfig()
    draw_person: bool = True


@dataclass(frozen=True)
class SyntheticClip:
    """N consecutive rendered frames of one person seen by one camera.

    images ``[N, S, S, 3] uint8`` RGB crops; masks ``[N, S, S] bool`` visible person pixels;
    keypoints2d ``[N, 17, 2] float32`` crop px; keypoints2d_image ``[N, 17, 2] float32`` image
    px; joints3d_camera ``[N, 17, 3] float32`` mm camera frame; joints3d_relative the same minus
    the Hip; visible ``[N, 17] bool`` (inside the image and not under an occluder); boxes
    ``[N, 3] float32`` (x0, y0, size) image px; intrinsics ``[3, 3]``, rotation ``[3, 3]``,
    translation ``[3]`` mm of the full-image camera (``x_cam = R @ x_world + t``);
    image_size (W, H); frames ``[N, H, W, 3] uint8`` full images, or None.
    """

    images: np.ndarray
    masks: np.ndarray
    keypoints2d: np.ndarray
    keypoints2d_image: np.ndarray
    joints3d_camera: np.ndarray
    joints3d_relative: np.ndarray
    visible: np.ndarray
    boxes: np.ndarray
    intrinsics: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    image_size: tuple
    frames: np.ndarray | None = None


@dataclass(frozen=True)
class SyntheticSequence:
    """Full frames of a whole motion seen by one camera.

    frames ``[T, H, W, 3] uint8``; keypoints2d ``[T, 17, 2] float32`` px; joints3d_camera
    ``[T, 17, 3] float32`` mm; visible ``[T, 17] bool``; intrinsics ``[3, 3]``; rotation
    ``[3, 3]`` and translation ``[3]`` mm (``x_cam = R @ x_world + t``).
    """

    frames: np.ndarray
    keypoints2d: np.ndarray
    joints3d_camera: np.ndarray
    visible: np.ndarray
    intrinsics: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray


def crop_intrinsics(intrinsics: np.ndarray, box, crop_size: int) -> np.ndarray:
    """Intrinsics ``[3, 3]`` of the S x S crop of box (x0, y0, size) of an image."""
    x0, y0, size = (float(v) for v in box)
    scale = crop_size / size
    matrix = np.array(intrinsics, dtype=np.float64)
    matrix[:2] *= scale
    matrix[0, 2] -= scale * x0 + 0.5
    matrix[1, 2] -= scale * y0 + 0.5
    return matrix


def image_to_crop(points: np.ndarray, box, crop_size: int) -> np.ndarray:
    """Image pixels ``[..., 2]`` to crop pixels of box (x0, y0, size) resized to S."""
    x0, y0, size = (float(v) for v in box)
    return (np.asarray(points, dtype=np.float64) - (x0, y0)) * (crop_size / size) - 0.5


def crop_to_image(points: np.ndarray, box, crop_size: int) -> np.ndarray:
    """Crop pixels ``[..., 2]`` back to image pixels; inverse of :func:`image_to_crop`."""
    x0, y0, size = (float(v) for v in box)
    return (np.asarray(points, dtype=np.float64) + 0.5) * (size / crop_size) + (x0, y0)


class _Scene:
    """Everything fixed within a clip: camera, look, background, occluders, light, noise."""

    def __init__(self, rng: np.random.Generator, camera: Camera, config: RenderConfig,
                 person_box: np.ndarray) -> None:
        self.rng = rng
        self.camera = camera
        self.look: Appearance = random_appearance(rng)
        self.background = Background(rng, camera.image_size)
        self.occluders = Occluders(rng, person_box, config.scene.occluder_probability)
        azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.4)
        light = np.array([np.cos(azimuth) * np.cos(elevation),
                          np.sin(azimuth) * np.cos(elevation), np.sin(elevation)])
        self.light = camera.rotation @ light
        self.ambient, self.diffuse = rng.uniform(0.3, 0.55), rng.uniform(0.45, 0.8)
        self.gain = np.float32(rng.uniform(0.85, 1.15))
        self.noise_std = np.float32(rng.uniform(*config.scene.noise_std) / 255.0)
        self.noise = None
        self.up = camera.rotation[:, 2]

    def _grain(self, height: int, width: int) -> np.ndarray:
        """Sensor noise ``[H, W, 3]``: a per-clip field, shifted by a random offset per frame."""
        if self.noise is None or self.noise.shape[0] < height or self.noise.shape[1] < width:
            self.noise = self.noise_std * self.rng.standard_normal(
                (height + 32, width + 32, 3), dtype=np.float32)
        i, j = self.rng.integers(0, self.noise.shape[0] - height + 1), self.rng.integers(
            0, self.noise.shape[1] - width + 1)
        return self.noise[i:i + height, j:j + width]

    def render(self, parts: list | None, intrinsics: np.ndarray, xs: np.ndarray,
               ys: np.ndarray) -> tuple:
        """One image ``[len(ys), len(xs), 3] uint8`` and its visible-person mask.

        parts: one frame of :func:`prepare` (None: no person); intrinsics: camera of the
        output pixels; xs, ys: their image pixel coordinates.
        """
        height, width = len(ys), len(xs)
        image = self.background.sample(xs, ys)
        depth = np.full((height, width), np.inf)
        if parts:
            colour = np.zeros((height, width, 3), dtype=np.float32)
            rasterise(parts, intrinsics, depth, colour, self.ambient, self.diffuse,
                      self.look.noise_tile)
            mask = np.isfinite(depth)
            image[mask] = colour[mask]
        else:
            mask = np.zeros((height, width), dtype=bool)
        covered = self.occluders.paint(xs, ys, image)
        image_w, image_h = self.camera.image_size
        cols = (xs >= -0.5) & (xs < image_w - 0.5)
        rows = (ys >= -0.5) & (ys < image_h - 0.5)
        image *= self.gain
        image += self._grain(height, width)
        image[~rows] = 0.0
        image[:, ~cols] = 0.0
        mask &= ~covered & rows[:, None] & cols[None, :]
        np.clip(image, 0.0, 1.0, out=image)
        return (image * 255 + 0.5).astype(np.uint8), mask


def _check_motion(motion: np.ndarray) -> np.ndarray:
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 3 or motion.shape[1:] != (17, 3) or motion.shape[0] == 0:
        raise ValueError(f'motion must be [T, 17, 3] mm world, got {motion.shape}')
    return motion


def _person_box(points: np.ndarray) -> np.ndarray:
    """(x_min, y_min, x_max, y_max) over all frames of ``[N, 17, 2]`` image points."""
    flat = points.reshape(-1, 2)
    return np.concatenate([flat.min(axis=0), flat.max(axis=0)])


def render_clip(motion: np.ndarray, num_frames: int, crop_size: int, seed: int,
                start: int | None = None, full_frames: bool = False,
                config: RenderConfig = RenderConfig()) -> SyntheticClip:
    """Render ``num_frames`` consecutive frames of ``motion`` as S x S crops.

    motion: ``[T, 17, 3]`` mm, world Z up; crop_size: S; start: first frame, None for a
    random one; full_frames: also render the whole images. Deterministic given ``seed``.
    """
    motion = _check_motion(motion)
    if not 1 <= num_frames <= motion.shape[0]:
        raise ValueError(f'num_frames must be in [1, {motion.shape[0]}], got {num_frames}')
    if crop_size < 8:
        raise ValueError(f'crop_size must be at least 8, got {crop_size}')
    rng = np.random.default_rng(seed)
    if start is None:
        start = int(rng.integers(0, motion.shape[0] - num_frames + 1))
    elif not 0 <= start <= motion.shape[0] - num_frames:
        raise ValueError(f'start {start} leaves fewer than {num_frames} frames')
    world = motion[start:start + num_frames]
    camera = random_camera(rng, world.reshape(-1, 3).mean(axis=0), config.scene)
    joints = world_to_camera(world, camera.rotation, camera.translation)
    keypoints = project_points(joints, camera.intrinsics)
    scene = _Scene(rng, camera, config, _person_box(keypoints))
    scale = rng.uniform(*config.scale_range)
    boxes = np.zeros((num_frames, 3))
    for n in range(num_frames):
        box = box_from_keypoints(keypoints[n], np.ones(17), config.box_margin * scale, 0.5)
        boxes[n] = (box.x0, box.y0, box.size)
    crop_cameras = np.stack([crop_intrinsics(camera.intrinsics, box, crop_size) for box in boxes])
    prims = body_primitives(joints, scene.up, scene.look) if config.draw_person else None
    parts = (prepare(prims, crop_cameras, scene.light) if prims is not None
             else [None] * num_frames)
    images = np.zeros((num_frames, crop_size, crop_size, 3), dtype=np.uint8)
    masks = np.zeros((num_frames, crop_size, crop_size), dtype=bool)
    steps = np.arange(crop_size) + 0.5
    for n, (x0, y0, size) in enumerate(boxes):
        images[n], masks[n] = scene.render(parts[n], crop_cameras[n],
                                           x0 + steps * (size / crop_size),
                                           y0 + steps * (size / crop_size))
    frames = _full_frames(scene, prims, num_frames) if full_frames else None
    width, height = camera.image_size
    inside = np.all((keypoints >= -0.5) & (keypoints < (width - 0.5, height - 0.5)), axis=-1)
    crop_points = np.stack([image_to_crop(keypoints[n], boxes[n], crop_size)
                            for n in range(num_frames)])
    return SyntheticClip(
        images=images, masks=masks, keypoints2d=crop_points.astype(np.float32),
        keypoints2d_image=keypoints.astype(np.float32),
        joints3d_camera=joints.astype(np.float32),
        joints3d_relative=(joints - joints[:, :1]).astype(np.float32),
        visible=inside & ~scene.occluders.hides(keypoints), boxes=boxes.astype(np.float32),
        intrinsics=camera.intrinsics, rotation=camera.rotation,
        translation=camera.translation, image_size=camera.image_size, frames=frames)


def _full_frames(scene: _Scene, prims, count: int) -> np.ndarray:
    """Whole images ``[N, H, W, 3] uint8`` of ``count`` frames of ``prims`` (None: nobody)."""
    width, height = scene.camera.image_size
    cameras = np.broadcast_to(scene.camera.intrinsics, (count, 3, 3))
    parts = prepare(prims, cameras, scene.light) if prims is not None else [None] * count
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    return np.stack([scene.render(frame, scene.camera.intrinsics, xs, ys)[0]
                     for frame in parts])


def render_sequence(motion: np.ndarray, image_size: tuple = (640, 480), seed: int = 0,
                    config: RenderConfig = RenderConfig()) -> SyntheticSequence:
    """Render every frame of ``motion`` as full images of ``image_size`` (W, H).

    motion: ``[T, 17, 3]`` mm, world Z up. One random camera, moved back until all joints
    stay in view. Deterministic given ``seed``.
    """
    motion = _check_motion(motion)
    width, height = (int(v) for v in image_size)
    rng = np.random.default_rng(seed)
    target = 0.5 * (motion.reshape(-1, 3).min(axis=0) + motion.reshape(-1, 3).max(axis=0))
    distance_scale = 1.0
    for _ in range(12):
        state = rng.bit_generator.state
        camera = random_camera(rng, target, config.scene, (width, height), distance_scale)
        joints = world_to_camera(motion, camera.rotation, camera.translation)
        keypoints = project_points(joints, camera.intrinsics)
        margin = 0.05 * height
        if (np.all(joints[..., 2] > 500) and np.all(keypoints >= margin)
                and np.all(keypoints < (width - margin, height - margin))):
            break
        rng.bit_generator.state = state
        distance_scale *= 1.25
    scene = _Scene(rng, camera, config, _person_box(keypoints))
    prims = body_primitives(joints, scene.up, scene.look) if config.draw_person else None
    frames = _full_frames(scene, prims, len(motion))
    inside = np.all((keypoints >= -0.5) & (keypoints < (width - 0.5, height - 0.5)), axis=-1)
    return SyntheticSequence(
        frames=frames, keypoints2d=keypoints.astype(np.float32),
        joints3d_camera=joints.astype(np.float32),
        visible=inside & ~scene.occluders.hides(keypoints), intrinsics=camera.intrinsics,
        rotation=camera.rotation, translation=camera.translation)
