"""What the keypoints front end reads: 2D joints in pixels -> normalised input coordinates.

Two encodings (``ModelConfig.input_encoding``):

- ``crop``: pixels normalised to the square box around the confident joints (margin 1.25);
  where the person is in the image and how the camera looks at them is lost.
- ``rays``: each joint's pixel becomes a ray K⁻¹ (u, v, 1); the rays are rotated by the
  rotation R that takes the ray through the box centre onto the optical axis, and projected
  onto the image plane of that virtual camera (focal length 1) before the same box
  normalisation. The 2D is then what a camera pointed straight at the person would see, so
  perspective (a camera above the person looking down, a person at the image border) shows in
  the 2D the way it does in the 3D. The 3D that goes with it is R · p3d (root-relative,
  virtual camera frame); :func:`to_camera_frame` turns the lifter's output back.
  Without intrinsics the fallback is :func:`nominal_intrinsics`: principal point at the
  image centre and a 70 deg field of view across the longer image side (the middle of the
  camera prior); the rotation is then only approximately right.
"""
from __future__ import annotations

import numpy as np

from hpm_ros.data.keypoint_clips import (CONFIDENCE_THRESHOLD, MIN_BOX_SIZE, keypoint_boxes,
                                         normalise_keypoints)

INPUT_ENCODINGS = ('crop', 'rays')
NOMINAL_FOV_DEG = 70.0


def nominal_intrinsics(image_size: tuple) -> np.ndarray:
    """[3, 3] camera matrix assumed when none is given (see the module docstring)."""
    width, height = (float(v) for v in image_size)
    focal = max(width, height) / 2.0 / np.tan(np.deg2rad(NOMINAL_FOV_DEG) / 2.0)
    return np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def virtual_rotations(centres_px: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotations R that take the ray of each pixel ``centres_px`` [T, 2] onto the
    optical axis (x_virtual = R x_camera): the rotation about ray × z by their angle."""
    rays = np.concatenate([centres_px, np.ones((len(centres_px), 1))], axis=1) @ np.linalg.inv(
        intrinsics).T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    axis = np.stack([rays[:, 1], -rays[:, 0], np.zeros(len(rays))], axis=1)  # ray × z
    sin, cos = np.linalg.norm(axis, axis=1), rays[:, 2]
    k = axis / np.maximum(sin, 1e-12)[:, None]
    cross = np.zeros((len(rays), 3, 3))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    cross = cross - cross.transpose(0, 2, 1)
    return (np.eye(3) + sin[:, None, None] * cross
            + (1 - cos)[:, None, None] * cross @ cross)


def to_virtual_plane(keypoints_px: np.ndarray, intrinsics: np.ndarray,
                     rotations: np.ndarray) -> np.ndarray:
    """Pixels [T, K, 2] -> virtual image plane coordinates [T, K, 2] (focal length 1)."""
    rays = np.concatenate([keypoints_px, np.ones(keypoints_px.shape[:-1] + (1,))], axis=-1)
    rays = np.einsum('tij,tkj->tki', rotations, rays @ np.linalg.inv(intrinsics).T)
    return rays[..., :2] / np.maximum(rays[..., 2:], 1e-6)


def to_camera_frame(pose3d: np.ndarray, rotations: np.ndarray | None) -> np.ndarray:
    """Root-relative 3D [T, K, 3] in the virtual frames -> the camera frame (R^T p); the
    identity where ``rotations`` is None (the crop encoding)."""
    if rotations is None:
        return pose3d
    return np.einsum('tji,tkj->tki', rotations, pose3d)


def encode_keypoints(keypoints_px: np.ndarray, confidence: np.ndarray, encoding: str,
                     image_size: tuple, intrinsics: np.ndarray | None = None,
                     threshold: float = CONFIDENCE_THRESHOLD) -> tuple:
    """H36M-17 joints [T, 17, 2] px and confidences [T, 17] -> (normalised [T, 17, 2], valid
    [T] bool, rotations [T, 3, 3] or None, boxes [T, 3] and joints [T, 17, 2] in the
    encoding's plane: pixels for 'crop', the virtual image plane for 'rays').

    Joints with confidence 0 get position 0.5; frames with fewer than two joints of
    confidence > 0 are invalid (their coordinates 0.5, their rotation the identity).
    """
    if encoding not in INPUT_ENCODINGS:
        raise ValueError(f'input encoding must be one of {INPUT_ENCODINGS}, got {encoding!r}')
    keypoints_px = np.asarray(keypoints_px, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    boxes = keypoint_boxes(keypoints_px, confidence, threshold=threshold)
    valid = np.isfinite(boxes).all(axis=1)
    rotations, plane = None, keypoints_px
    if encoding == 'rays':
        matrix = nominal_intrinsics(image_size) if intrinsics is None else np.asarray(
            intrinsics, dtype=np.float64)
        centres = np.where(valid[:, None], boxes[:, :2] + boxes[:, 2:] / 2.0,
                           matrix[:2, 2])
        rotations = virtual_rotations(centres, matrix)
        plane = to_virtual_plane(keypoints_px, matrix, rotations)
        boxes = keypoint_boxes(plane, confidence, threshold=threshold,
                               min_size=MIN_BOX_SIZE / matrix[0, 0])
    normalised = np.full_like(keypoints_px, 0.5)
    normalised[valid] = normalise_keypoints(plane[valid], boxes[valid])
    normalised[confidence <= 0] = 0.5
    return normalised, valid, rotations, boxes, plane
