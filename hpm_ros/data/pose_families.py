"""Pose families of single frames, from geometry alone: the coverage report and the per-family
evaluation use them for recorded and procedural motion alike.

Rules on world Z-up H36M-17 poses (mm), first match wins; L is the mean thigh + shin length:

- ``lying``: the Hip-to-Thorax axis over 50 deg from vertical, pelvis below 0.5 L and thorax
  below 0.6 L above the floor (z = 0);
- ``crouching``: pelvis below 0.5 L above the lower ankle, both knees bent over 100 deg;
- ``sitting``: pelvis 0.35-0.8 L above the lower ankle, a thigh within 35 deg of
  horizontal, trunk within 45 deg of vertical;
- ``bending``: the Hip-to-Thorax axis over 40 deg from vertical;
- ``hands at face``: a wrist within 200 mm of the Neck (nose-level) joint;
- ``arms out``: a wrist over 0.9 of an arm's length from its shoulder, within 25 deg of the
  horizontal plane through the shoulder;
- ``upright``: everything else (standing, walking, gestures below the face).
"""
from __future__ import annotations

import numpy as np

POSE_FAMILIES = ('upright', 'arms out', 'hands at face', 'bending', 'sitting', 'crouching',
                 'lying')


def _angle_from_vertical(vector: np.ndarray) -> np.ndarray:
    norm = np.maximum(np.linalg.norm(vector, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(vector[..., 2] / norm, -1.0, 1.0)))


def classify_poses(poses: np.ndarray) -> np.ndarray:
    """Family name per frame [T] (str) of poses [T, 17, 3] mm, world Z up."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (17, 3):
        raise ValueError(f'poses must be [T, 17, 3] mm world Z up, got {poses.shape}')
    hip, thorax, neck = poses[:, 0], poses[:, 8], poses[:, 9]
    leg = np.mean([np.linalg.norm(poses[:, a] - poses[:, b], axis=-1)
                   for a, b in ((1, 2), (2, 3), (4, 5), (5, 6))], axis=0) * 2
    trunk = _angle_from_vertical(thorax - hip)
    pelvis_height = hip[:, 2] - np.minimum(poses[:, 3, 2], poses[:, 6, 2])
    knees = []
    for h, k, a in ((1, 2, 3), (4, 5, 6)):
        upper, lower = poses[:, k] - poses[:, h], poses[:, a] - poses[:, k]
        cos = (upper * lower).sum(-1) / np.maximum(
            np.linalg.norm(upper, axis=-1) * np.linalg.norm(lower, axis=-1), 1e-9)
        knees.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    thigh_flat = np.min([np.abs(90.0 - _angle_from_vertical(poses[:, k] - poses[:, h]))
                         for h, k in ((1, 2), (4, 5))], axis=0)
    near_face = np.min([np.linalg.norm(poses[:, w] - neck, axis=-1) for w in (13, 16)], axis=0)
    arms_out = np.zeros(len(poses), dtype=bool)
    for s, e, w in ((11, 12, 13), (14, 15, 16)):
        reach = poses[:, w] - poses[:, s]
        arm = np.linalg.norm(poses[:, e] - poses[:, s], axis=-1) + np.linalg.norm(
            poses[:, w] - poses[:, e], axis=-1)
        level = np.abs(90.0 - _angle_from_vertical(reach)) < 25.0
        arms_out |= level & (np.linalg.norm(reach, axis=-1) > 0.9 * arm)
    rules = [
        ('lying', (trunk > 50.0) & (hip[:, 2] < 0.5 * leg) & (thorax[:, 2] < 0.6 * leg)),
        ('crouching', (pelvis_height < 0.5 * leg) & (np.minimum(*knees) > 100.0)),
        ('sitting', (pelvis_height >= 0.35 * leg) & (pelvis_height < 0.8 * leg)
         & (thigh_flat < 35.0) & (trunk < 45.0)),
        ('bending', trunk > 40.0),
        ('hands at face', near_face < 200.0),
        ('arms out', arms_out),
    ]
    labels = np.full(len(poses), 'upright', dtype=object)
    decided = np.zeros(len(poses), dtype=bool)
    for name, mask in rules:
        labels[mask & ~decided] = name
        decided |= mask
    return labels.astype(str)
