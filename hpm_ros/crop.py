"""Square person crops: boxes from a region of interest, a previous 2D pose or the whole frame.

Pixel coordinates follow the ROS CameraInfo / OpenCV convention: the centre of the top-left
pixel is (0, 0). Normalised crop coordinates put the crop's outer corners at 0 and 1, so crop
cell i of S has its centre at (i + 0.5) / S.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CropBox:
    """A square box in full-frame pixels: top-left (x0, y0) and side ``size`` (may extend
    past the frame; the outside is filled black)."""

    x0: float
    y0: float
    size: float

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """[..., 2] normalised crop coordinates ([0, 1]) -> [..., 2] full-frame pixels."""
        return np.asarray(points, dtype=np.float64) * self.size + (self.x0, self.y0)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """[..., 2] full-frame pixels -> [..., 2] normalised crop coordinates."""
        return (np.asarray(points, dtype=np.float64) - (self.x0, self.y0)) / self.size


def letterbox_box(width: int, height: int) -> CropBox:
    """The square centred on the frame that holds it whole (the long side), padded black."""
    size = float(max(width, height))
    return CropBox((width - size) / 2.0 - 0.5, (height - size) / 2.0 - 0.5, size)


def box_around(x0: float, y0: float, width: float, height: float, margin: float,
               min_size: float = 16.0) -> CropBox:
    """Square box of side ``margin * max(width, height)`` centred on the given rectangle."""
    if width <= 0 or height <= 0:
        raise ValueError(f'rectangle must have a positive size, got {width}×{height}')
    size = max(margin * max(width, height), min_size)
    centre_x, centre_y = x0 + width / 2.0, y0 + height / 2.0
    return CropBox(centre_x - size / 2.0, centre_y - size / 2.0, size)


def box_from_keypoints(keypoints: np.ndarray, confidence: np.ndarray, margin: float,
                       threshold: float, min_size: float = 16.0) -> CropBox | None:
    """Square box around the joints of ``keypoints`` [K, 2] px whose ``confidence`` [K] is at
    least ``threshold``, enlarged by ``margin``; None when fewer than two joints qualify."""
    keep = np.asarray(confidence) >= threshold
    if keep.sum() < 2:
        return None
    points = np.asarray(keypoints, dtype=np.float64)[keep]
    low, high = points.min(axis=0), points.max(axis=0)
    extent = np.maximum(high - low, min_size / margin)
    return box_around(low[0], low[1], extent[0], extent[1], margin, min_size)


def crop_image(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut ``box`` from ``image`` [H, W, 3] uint8 RGB and resize it (bilinear) to
    [size, size, 3] uint8; pixels outside the frame are black."""
    x0, y0 = box.x0 + 0.5, box.y0 + 0.5
    extent = (x0, y0, x0 + box.size, y0 + box.size)
    cropped = Image.fromarray(image).transform(
        (size, size), Image.Transform.EXTENT, extent, resample=Image.Resampling.BILINEAR,
        fillcolor=(0, 0, 0))
    return np.array(cropped)
