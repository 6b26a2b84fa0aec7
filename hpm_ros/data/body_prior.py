"""An adult body prior: stature and bone lengths of H36M-17 skeletons, and re-composed motion.

The mocap skeletons are small (the Daz rig is one Aiko3 figure for every performer, the
cgspeed and salsa files are not metric), so their bone lengths are replaced: each sequence
gets the bones of an adult drawn from this prior, re-composed along the recorded bone
directions (:func:`recompose_bones`), and the procedural body model gets the same bodies
(:func:`adult_body`).

Sources of the numbers:

- stature: ANSUR II (Gordon et al. 2014, "2012 Anthropometric Survey of U.S. Army Personnel",
  summary statistics): men 1756 mm (SD 69), women 1629 mm (SD 64); drawn 50/50.
- proportions: the Human3.6M skeleton of subject S1 (the bone offsets distributed with
  Martinez et al.'s human-motion-prediction and VideoPose3D ``h36m_skeleton``: hip 132.9,
  thigh 442.9, shin 454.2, hip-spine 233.4, spine-thorax 257.1, thorax-neck 121.1, neck-head
  115.0, thorax-shoulder 151.0, upper arm 278.9, forearm 251.7 mm), taken as the bones of a
  :data:`REFERENCE_STATURE_MM` adult and scaled with stature. These are the joint
  definitions the lifter outputs (H36M-17), not surface landmarks.
- spread of one bone at a given stature: ANSUR II segment lengths have coefficients of
  variation of 4-6 % (e.g. acromion-radiale length), most of it explained by stature; the
  residual is taken as 3.5 % per bone, left = right, and 6 % for the hip width (pelvis
  breadth varies more, and between the sexes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.skeleton import H36M17

STATURE_MM = ((1756.0, 69.0), (1629.0, 64.0))
STATURE_RANGE_MM = (1450.0, 2050.0)
REFERENCE_STATURE_MM = 1750.0
BONE_SPREAD = 0.035
HIP_SPREAD = 0.06
# H36M-17 bone (child joint name) -> reference length in mm (S1, see the module docstring).
REFERENCE_BONES_MM = {
    'RHip': 132.9, 'RKnee': 442.9, 'RFoot': 454.2, 'LHip': 132.9, 'LKnee': 442.9,
    'LFoot': 454.2, 'Spine': 233.4, 'Thorax': 257.1, 'Neck': 121.1, 'Head': 115.0,
    'LShoulder': 151.0, 'LElbow': 278.9, 'LWrist': 251.7, 'RShoulder': 151.0,
    'RElbow': 278.9, 'RWrist': 251.7,
}
# Bones that share one draw (left = right).
_PAIRS = (('RHip', 'LHip'), ('RKnee', 'LKnee'), ('RFoot', 'LFoot'),
          ('RShoulder', 'LShoulder'), ('RElbow', 'LElbow'), ('RWrist', 'LWrist'))


@dataclass(frozen=True)
class AdultBody:
    """One drawn adult: stature mm and bones [16] mm in ``H36M17.bones`` order."""

    stature_mm: float
    bones_mm: np.ndarray


def draw_adult(rng: np.random.Generator) -> AdultBody:
    """Draw stature and bone lengths from the prior (see the module docstring)."""
    mean, std = STATURE_MM[int(rng.integers(2))]
    stature = float(np.clip(rng.normal(mean, std), *STATURE_RANGE_MM))
    scale = stature / REFERENCE_STATURE_MM
    factors = {}
    for right, left in _PAIRS:
        spread = HIP_SPREAD if right == 'RHip' else BONE_SPREAD
        factors[right] = factors[left] = float(np.exp(rng.normal(0.0, spread)))
    bones = []
    for _, child in H36M17.bones:
        name = H36M17.joint_names[child]
        factor = factors.get(name)
        if factor is None:
            factor = float(np.exp(rng.normal(0.0, BONE_SPREAD)))
        bones.append(REFERENCE_BONES_MM[name] * scale * factor)
    return AdultBody(stature, np.array(bones))


def recompose_bones(poses: np.ndarray, bones_mm: np.ndarray) -> np.ndarray:
    """Poses [T, 17, 3] mm (any frame) with every H36M-17 bone set to ``bones_mm`` [16] mm
    (``H36M17.bones`` order) along its recorded direction, the root kept in place.
    Returns [T, 17, 3] float64 mm, the same frame."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (17, 3):
        raise ValueError(f'poses must be [T, 17, 3] mm, got {poses.shape}')
    bones_mm = np.asarray(bones_mm, dtype=np.float64)
    if bones_mm.shape != (len(H36M17.bones),) or (bones_mm <= 0).any():
        raise ValueError(f'bones_mm must be [{len(H36M17.bones)}] positive mm')
    out = np.empty_like(poses)
    out[:, H36M17.root] = poses[:, H36M17.root]
    for (parent, child), length in zip(H36M17.bones, bones_mm):
        vector = poses[:, child] - poses[:, parent]
        norm = np.linalg.norm(vector, axis=-1, keepdims=True)
        direction = vector / np.maximum(norm, 1e-9)
        out[:, child] = out[:, parent] + direction * length
    return out


def floor_motion(poses: np.ndarray, ankle_height_mm: float) -> np.ndarray:
    """Shift world Z-up poses [T, 17, 3] mm vertically so that the lowest joint over the
    sequence (2nd percentile of the per-frame minimum) is ``ankle_height_mm`` above z = 0."""
    poses = np.array(poses, dtype=np.float64)
    poses[..., 2] += ankle_height_mm - np.percentile(poses[..., 2].min(axis=1), 2.0)
    return poses


def adult_pose(poses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """World Z-up motion [T, 17, 3] mm re-composed with a drawn adult's bones and put back on
    the floor (lowest joint at 4 % of stature, the ankle height of Winter's proportions)."""
    body = draw_adult(rng)
    return floor_motion(recompose_bones(poses, body.bones_mm), 0.039 * body.stature_mm)
