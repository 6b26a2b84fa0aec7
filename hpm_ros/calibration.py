"""Camera calibration files of ``camera_calibration_parsers`` (YAML) and a nominal camera.

The YAML that ROS's ``camera_calibration`` writes and ``camera_info_manager`` reads::

    image_width: 640
    image_height: 480
    camera_name: head_camera
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

Without a file, :func:`nominal_calibration` describes a pinhole camera with a
``NOMINAL_HFOV_DEG`` horizontal field of view (typical of webcams), square pixels, the
principal point at the image centre ``((W - 1) / 2, (H - 1) / 2)`` and no distortion.
ROS-free; pixels, with the centre of the top-left pixel at (0, 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hpm_ros.errors import CalibrationError

NOMINAL_HFOV_DEG = 60.0
_MATRICES = {'camera_matrix': (3, 3), 'rectification_matrix': (3, 3),
             'projection_matrix': (3, 4)}


@dataclass(frozen=True)
class CameraCalibration:
    """One camera's calibration: sizes in pixels, K [3, 3], D [N], R [3, 3], P [3, 4] float64."""

    width: int
    height: int
    camera_name: str
    K: np.ndarray
    distortion_model: str
    D: np.ndarray
    R: np.ndarray
    P: np.ndarray

    def scaled_to(self, width: int, height: int) -> 'CameraCalibration':
        """Return the same camera at another resolution (same aspect ratio within 1 %).

        K and P scale per axis about pixel centres; distortion is unchanged (it is defined on
        normalised coordinates). CalibrationError when the aspect ratio differs.
        """
        if (width, height) == (self.width, self.height):
            return self
        if abs(width / height - self.width / self.height) > 0.01 * self.width / self.height:
            raise CalibrationError(
                f'calibration of {self.camera_name!r} is for {self.width}x{self.height}; '
                f'{width}x{height} has another aspect ratio (recalibrate or publish at '
                f'{self.width}x{self.height})')
        sx, sy = width / self.width, height / self.height
        scale = np.diag([sx, sy, 1.0])
        shift = np.array([[0.0, 0.0, 0.5 * sx - 0.5], [0.0, 0.0, 0.5 * sy - 0.5], [0, 0, 0]])
        K = scale @ self.K + shift @ self.K
        P = scale @ self.P + shift @ self.P
        return replace(self, width=int(width), height=int(height), K=K, P=P)


def nominal_calibration(width: int, height: int, name: str = 'nominal',
                        hfov_deg: float = NOMINAL_HFOV_DEG) -> CameraCalibration:
    """Return a distortion-free pinhole camera of ``hfov_deg`` horizontal field of view (°)."""
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    if not 0.0 < hfov_deg < 180.0:
        raise ValueError(f'hfov_deg must be in (0, 180), got {hfov_deg}')
    focal = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    K = np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0],
                  [0.0, 0.0, 1.0]])
    return CameraCalibration(int(width), int(height), name, K, 'plumb_bob', np.zeros(5),
                             np.eye(3), np.hstack([K, np.zeros((3, 1))]))


def _matrix(data: dict, key: str, path) -> np.ndarray:
    entry = data.get(key)
    if not isinstance(entry, dict) or 'data' not in entry:
        raise CalibrationError(f'{path}: {key} must be a mapping with rows, cols and data')
    values = np.asarray(entry['data'], dtype=np.float64).reshape(-1)
    rows, cols = int(entry.get('rows', 0)), int(entry.get('cols', 0))
    if rows * cols != values.size:
        raise CalibrationError(f'{path}: {key} says {rows}x{cols} but holds {values.size} '
                               'values')
    if not np.isfinite(values).all():
        raise CalibrationError(f'{path}: {key} contains non-finite values')
    expected = _MATRICES.get(key)
    if expected is not None and (rows, cols) != expected:
        raise CalibrationError(f'{path}: {key} must be {expected[0]}x{expected[1]}, got '
                               f'{rows}x{cols}')
    return values.reshape(rows, cols) if expected else values


def load_calibration(path) -> CameraCalibration:
    """Read a ``camera_calibration_parsers`` YAML file; CalibrationError names what is wrong."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise CalibrationError(f'cannot read calibration {path}: {error}') from error
    except yaml.YAMLError as error:
        raise CalibrationError(f'{path} is not valid YAML: {error}') from error
    if not isinstance(data, dict):
        raise CalibrationError(f'{path}: expected a mapping of calibration fields')
    missing = [key for key in ('image_width', 'image_height', 'camera_matrix')
               if key not in data]
    if missing:
        raise CalibrationError(f'{path}: missing {", ".join(missing)}')
    width, height = int(data['image_width']), int(data['image_height'])
    if width <= 0 or height <= 0:
        raise CalibrationError(f'{path}: image size must be positive, got {width}x{height}')
    K = _matrix(data, 'camera_matrix', path)
    if not (K[0, 0] > 0 and K[1, 1] > 0) or not np.allclose(K[2], (0.0, 0.0, 1.0)):
        raise CalibrationError(f'{path}: camera_matrix needs fx, fy > 0 and a last row '
                               f'[0, 0, 1], got {K.tolist()}')
    D = (_matrix(data, 'distortion_coefficients', path) if 'distortion_coefficients' in data
         else np.zeros(5))
    R = _matrix(data, 'rectification_matrix', path) if 'rectification_matrix' in data \
        else np.eye(3)
    P = _matrix(data, 'projection_matrix', path) if 'projection_matrix' in data \
        else np.hstack([K, np.zeros((3, 1))])
    return CameraCalibration(width, height, str(data.get('camera_name', path.stem)), K,
                             str(data.get('distortion_model', 'plumb_bob')), D, R, P)
