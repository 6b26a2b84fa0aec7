"""The synthetic scene around the person: virtual camera, background, occluders, light.

Background and occluders are functions of full-image pixel coordinates (x right, y down, the
centre of the top-left pixel at (0, 0)), so any crop of the image can be rendered directly at
crop resolution and still agree with the full frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.geometry import intrinsics_matrix


@dataclass(frozen=True)
class SceneConfig:
    """Ranges the scene is drawn from (uniform unless stated).

    distance_mm: camera to person centre; camera_height_mm: above the floor; fov_deg:
    horizontal field of view; image_sizes: (width, height) choices; occluder_probability:
    chance of 1-2 boxes in front of the person; noise_std: sensor noise in 8-bit levels.
    """

    distance_mm: tuple = (2500.0, 6000.0)
    camera_height_mm: tuple = (500.0, 2500.0)
    fov_deg: tuple = (45.0, 75.0)
    roll_deg: tuple = (-5.0, 5.0)
    image_sizes: tuple = ((640, 480), (800, 600), (960, 540), (1280, 720))
    occluder_probability: float = 0.35
    noise_std: tuple = (0.0, 5.0)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: ``x_cam = rotation @ x_world + translation`` (mm), image (W, H) px."""

    intrinsics: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    image_size: tuple


def look_at(position: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """Return the world-to-camera rotation ``[3, 3]`` of a camera facing ``target``.

    The optical frame (x right, y down, z forward) sits at ``position`` (world, Z up) and is
    rolled by ``roll_deg`` about its optical axis.
    """
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise ValueError('camera looks straight up or down; look_at is undefined')
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    angle = np.deg2rad(roll_deg)
    roll = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                     [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    return roll @ rotation


def random_camera(rng: np.random.Generator, target: np.ndarray, config: SceneConfig,
                  image_size: tuple | None = None, distance_scale: float = 1.0) -> Camera:
    """Draw a camera at random height, distance and azimuth, facing ``target`` (mm, world)."""
    width, height = (image_size if image_size is not None
                     else config.image_sizes[rng.integers(len(config.image_sizes))])
    distance = rng.uniform(*config.distance_mm) * distance_scale
    camera_z = rng.uniform(*config.camera_height_mm)
    rise = np.clip(camera_z - target[2], -0.8 * distance, 0.8 * distance)
    ground = np.sqrt(distance ** 2 - rise ** 2)
    azimuth = rng.uniform(0, 2 * np.pi)
    position = np.array([target[0] + ground * np.cos(azimuth),
                         target[1] + ground * np.sin(azimuth), target[2] + rise])
    aim = target + rng.uniform(-100, 100, 3)
    rotation = look_at(position, aim, rng.uniform(*config.roll_deg))
    focal = width / 2.0 / np.tan(np.deg2rad(rng.uniform(*config.fov_deg)) / 2.0)
    centre = (np.array([width, height]) - 1) / 2.0 + rng.uniform(-0.02, 0.02, 2) * width
    return Camera(intrinsics_matrix(focal, focal, centre[0], centre[1]), rotation,
                  -rotation @ position, (int(width), int(height)))


class Background:
    """A random image-space background.

    A colour gradient with blotches (bilinear in a coarse grid of colours), rectangles and a
    fine grain.
    """

    def __init__(self, rng: np.random.Generator, image_size: tuple) -> None:
        self.width, self.height = image_size
        colours = rng.uniform(0.05, 0.95, (2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        rows, cols = np.meshgrid(np.linspace(-0.5, 0.5, 6), np.linspace(-0.5, 0.5, 8),
                                 indexing='ij')
        ramp = 0.5 + np.cos(angle) * cols + np.sin(angle) * rows
        blotch = 1.0 + rng.uniform(-0.25, 0.25, (6, 8, 1))
        self.grid = (colours[0] + ramp[..., None] * (colours[1] - colours[0])) * blotch
        count = rng.integers(2, 9)
        corners = rng.uniform(0, 1, (count, 2, 2)) * image_size
        self.rects = np.sort(corners, axis=1)
        self.rect_colours = rng.uniform(0.05, 0.95, (count, 3))
        self.grain = (rng.uniform(-1, 1, (64, 64)) * rng.uniform(0.0, 0.06)).astype(np.float32)

    def sample(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Colours ``[len(ys), len(xs), 3] float32`` at image pixel coordinates (ascending)."""
        per_column = _lerp(self.grid.transpose(1, 0, 2), xs / self.width)
        image = _lerp(per_column.transpose(1, 0, 2).astype(np.float32), ys / self.height)
        _paint_rects(image, xs, ys, self.rects, self.rect_colours)
        image += self.grain[ys.astype(int) % 64][:, xs.astype(int) % 64][..., None]
        return image


def _lerp(grid: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Linear interpolation along the first axis of ``grid`` (spanning [0, 1]) at ``coords``.

    No matrix products: BLAS threads would fight the other processes of a data loader.
    """
    position = np.clip(coords, 0, 1) * (len(grid) - 1)
    low = np.minimum(position.astype(int), len(grid) - 2)
    frac = (position - low).astype(grid.dtype).reshape((-1,) + (1,) * (grid.ndim - 1))
    return grid[low] * (1 - frac) + grid[low + 1] * frac


def _paint_rects(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, rects: np.ndarray,
                 colours: np.ndarray) -> np.ndarray:
    """Fill axis-aligned image rectangles ``[R, 2, 2]`` (low, high corners, px) in place.

    xs, ys: ascending image coordinates of the columns and rows of ``image``. Returns the
    covered ``[H, W]`` bool mask.
    """
    covered = np.zeros(image.shape[:2], dtype=bool)
    for (low, high), colour in zip(rects, colours):
        j0, j1 = np.searchsorted(xs, [low[0], high[0]])
        i0, i1 = np.searchsorted(ys, [low[1], high[1]])
        image[i0:i1, j0:j1] = colour
        covered[i0:i1, j0:j1] = True
    return covered


class Occluders:
    """0-2 textured boxes, fixed in the image, drawn in front of the person."""

    def __init__(self, rng: np.random.Generator, person_box: np.ndarray,
                 probability: float) -> None:
        """person_box: ``[4]`` (x_min, y_min, x_max, y_max) image px of the person."""
        count = rng.integers(1, 3) if rng.random() < probability else 0
        low, high = person_box[:2], person_box[2:]
        extent = max(float(np.max(high - low)), 1.0)
        centres = rng.uniform(low, high, (count, 2))
        sizes = rng.uniform(0.12, 0.4, (count, 2)) * extent
        self.rects = np.stack([centres - sizes / 2, centres + sizes / 2], axis=1)
        self.colours = rng.uniform(0.05, 0.95, (count, 3))

    def paint(self, xs: np.ndarray, ys: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Draw the boxes over ``image`` ``[len(ys), len(xs), 3]`` (in place); covered mask."""
        return _paint_rects(image, xs, ys, self.rects, self.colours)

    def hides(self, points: np.ndarray) -> np.ndarray:
        """Which image points ``[..., 2]`` px lie under an occluder: ``[...]`` bool."""
        hidden = np.zeros(points.shape[:-1], dtype=bool)
        for low, high in self.rects:
            hidden |= np.all((points >= low) & (points < high), axis=-1)
        return hidden
