"""A camera prior for robots and rooms: where cameras that look at people actually are.

- height above the floor: uniform 0.2-2.6 m (a low mobile base to a ceiling-high corner);
- horizontal distance to the person: log-uniform 1.5-8 m;
- so pitch follows from height and distance: from about 25 deg looking up to about 50 deg
  looking down; roll N(0, 3 deg);
- horizontal field of view: uniform 40-110 deg (narrow lenses to wide robot cameras);
- image sizes: 640x480, 640x360, 848x480, 1280x720, 1920x1080, 1000x1000;
- the person anywhere in the frame: their centre projects to a uniform point of the central
  80 % of the image (the camera's yaw and pitch are offset by that angle), and a draw is
  repeated (up to 8 times) while more than 30 % of the joints fall outside the image;
- a camera that a long motion would pass steps back until every joint is 0.3 m in front.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.data.synth_scene import Camera, look_at
from hpm_ros.geometry import intrinsics_matrix, project_points, world_to_camera


MIN_DEPTH_MM = 300.0


@dataclass(frozen=True)
class CameraPrior:
    """Ranges of :func:`draw_camera` (mm, degrees, px); see the module docstring."""

    height_mm: tuple = (200.0, 2600.0)
    distance_mm: tuple = (1500.0, 8000.0)
    fov_deg: tuple = (40.0, 110.0)
    roll_std_deg: float = 3.0
    image_sizes: tuple = ((640, 480), (640, 360), (848, 480), (1280, 720), (1920, 1080),
                          (1000, 1000))
    frame_fraction: float = 0.8
    max_outside: float = 0.3
    attempts: int = 8


def _rotation_to(direction: np.ndarray) -> np.ndarray:
    """Rotation [3, 3] that takes the optical axis (0, 0, 1) onto unit ``direction``."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, direction)
    sin, cos = np.linalg.norm(axis), float(z @ direction)
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def _draw_once(rng: np.random.Generator, centre: np.ndarray, prior: CameraPrior) -> Camera:
    width, height = prior.image_sizes[int(rng.integers(len(prior.image_sizes)))]
    focal = width / 2.0 / np.tan(np.deg2rad(rng.uniform(*prior.fov_deg)) / 2.0)
    principal = (np.array([width, height]) - 1) / 2.0
    intrinsics = intrinsics_matrix(focal, focal, principal[0], principal[1])
    ground = np.exp(rng.uniform(*np.log(prior.distance_mm)))
    azimuth = rng.uniform(0, 2 * np.pi)
    position = np.array([centre[0] + ground * np.cos(azimuth),
                         centre[1] + ground * np.sin(azimuth), rng.uniform(*prior.height_mm)])
    aim = look_at(position, centre, rng.normal(0.0, prior.roll_std_deg))
    pixel = principal + (rng.uniform(-0.5, 0.5, 2) * prior.frame_fraction) * (width, height)
    ray = np.linalg.solve(intrinsics, np.r_[pixel, 1.0])
    # The person's centre, on the optical axis after `aim`, moves onto the ray of `pixel`.
    rotation = _rotation_to(ray / np.linalg.norm(ray)) @ aim
    return Camera(intrinsics, rotation, -rotation @ position, (int(width), int(height)))


def draw_camera(rng: np.random.Generator, world: np.ndarray,
                prior: CameraPrior = CameraPrior()) -> Camera:
    """A camera of the prior looking at the motion ``world`` [T, 17, 3] mm (Z up)."""
    world = np.asarray(world, dtype=np.float64)
    centre = world.reshape(-1, 3).mean(axis=0)
    for _ in range(prior.attempts):
        camera = _draw_once(rng, centre, prior)
        joints = world_to_camera(world, camera.rotation, camera.translation)
        pixels = project_points(joints, camera.intrinsics)
        inside = (joints[..., 2] > 100.0) & np.all(
            (pixels >= 0) & (pixels < camera.image_size), axis=-1)
        if 1.0 - inside.mean() <= prior.max_outside:
            break
    nearest = joints[..., 2].min()
    if nearest < MIN_DEPTH_MM:
        # A long motion can pass the camera: step back along the optical axis until every
        # joint is in front of it.
        position = -camera.rotation.T @ camera.translation - camera.rotation[2] * (
            MIN_DEPTH_MM - nearest)
        camera = Camera(camera.intrinsics, camera.rotation, -camera.rotation @ position,
                        camera.image_size)
    return camera
