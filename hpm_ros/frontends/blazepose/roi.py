"""Rotated square regions of interest and the crops they define.

An :class:`Roi` is a square in full-frame pixels (OpenCV convention: the centre of the
top-left pixel is (0, 0), x right, y down), rotated by ``rotation`` radians (positive turns
the crop's x axis toward +y). The crop maps the ROI's corners onto the output's corners the
way mediapipe's ``ImageToTensorCalculator`` does on the CPU (``cv::boxPoints`` corner k ->
output corner k, bilinear sampling): output pixel (u, v) samples the frame at
``centre + R(rotation) @ ((u / size - 0.5) * side, (v / size - 0.5) * side)``, and
:func:`to_frame` is its exact inverse (mediapipe's ``LandmarkProjectionCalculator``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROI_SCALE = 1.25


@dataclass(frozen=True)
class Roi:
    """centre (x, y) px, full frame; side px (square in pixels); rotation rad."""

    x: float
    y: float
    side: float
    rotation: float = 0.0

    def as_dict(self) -> dict:
        """{'centre': (x, y) px, 'size': side px, 'rotation': rad} (plain floats)."""
        return {'centre': (float(self.x), float(self.y)), 'size': float(self.side),
                'rotation': float(self.rotation)}


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi), as mediapipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray,
                    scale: float = ROI_SCALE) -> Roi:
    """Make the ROI of two alignment points [2] px (full frame), as mediapipe does.

    ``AlignmentPointsRectsCalculator`` (box side 2 |scale_point - centre|, rotation
    pi/2 - atan2(-(y1 - y0), x1 - x0): the centre -> scale point vector points up in the crop)
    then ``RectTransformationCalculator`` (square_long, x ``scale``): side = 2.5 |p1 - p0|.
    """
    x0, y0 = float(centre[0]), float(centre[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rotation = normalize_radians(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0, y0, side, rotation)


def roi_from_box(box: tuple, scale: float = ROI_SCALE) -> Roi:
    """Make an upright square ROI around box (x0, y0, width, height) px.

    Its side is ``scale`` x the box's long side.
    """
    x0, y0, width, height = (float(v) for v in box)
    return Roi(x0 + width / 2, y0 + height / 2, max(width, height) * scale, 0.0)


def crop_matrix(roi: Roi, size: int) -> np.ndarray:
    """[2, 3] float64 affine map, full-frame px -> crop px of a ``size`` x ``size`` crop."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    k = size / roi.side
    # Inverse of to_frame: q = R^T (p - centre) * size / side + size / 2.
    return np.array([[c * k, s * k, size / 2 - k * (c * roi.x + s * roi.y)],
                     [-s * k, c * k, size / 2 - k * (-s * roi.x + c * roi.y)]])


def crop(image: np.ndarray, roi: Roi, size: int, border_zero: bool = False) -> np.ndarray:
    """Cut the ROI of ``image`` [H, W, 3] uint8 as [size, size, 3] uint8 (bilinear).

    Outside the frame the border pixels repeat (mediapipe's default BORDER_REPLICATE), or are
    black with ``border_zero`` (BORDER_ZERO, the detector's letterbox).
    """
    import cv2

    border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
    return cv2.warpAffine(image, crop_matrix(roi, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=(0, 0, 0))


def to_frame(points: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    """Crop px [..., 2] of a ``size`` crop of ``roi`` -> full-frame px [..., 2] float32."""
    points = np.asarray(points, dtype=np.float64)
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    u = (points[..., 0] / size - 0.5) * roi.side
    v = (points[..., 1] / size - 0.5) * roi.side
    return np.stack([roi.x + c * u - s * v, roi.y + s * u + c * v], axis=-1).astype(np.float32)


def roi_is_sane(roi: Roi, width: int, height: int, min_side: float = 8.0) -> bool:
    """Finite, at least ``min_side`` px, no larger than 4x the frame, centre near the frame."""
    values = (roi.x, roi.y, roi.side, roi.rotation)
    if not all(math.isfinite(v) for v in values):
        return False
    if roi.side < min_side or roi.side > 4.0 * max(width, height):
        return False
    half = roi.side / 2
    return -half <= roi.x <= width + half and -half <= roi.y <= height + half
