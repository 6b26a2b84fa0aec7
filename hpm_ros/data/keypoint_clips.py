"""The keypoints front end's data layout: input joint sets, crop boxes, the clip bank.

An input joint set (h36m17, mpii16, coco17, blazepose33) gives the H36M-17 joints it has
exactly (the others get confidence 0); joints are normalised to the square box around the
confident joints (margin 1.25, as the image pipeline crops). The clips themselves are built
by :mod:`hpm_ros.data.lifter_clips`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hpm_ros.skeleton import H36M17, from_h36m, get_joint_set, to_h36m

INPUT_JOINT_SETS = ('h36m17', 'mpii16', 'coco17', 'blazepose33')
BOX_MARGIN = 1.25
CONFIDENCE_THRESHOLD = 0.2
MIN_BOX_SIZE = 16.0
H36M_FPS = 50.0
H36M_LABEL = 'Human3.6M 3D'


def input_joint_mask(joint_set: str) -> np.ndarray:
    """[17] bool: the H36M-17 joints that ``joint_set`` provides exactly (the front end gets
    the others with confidence 0; synthesised approximations are not used)."""
    mask = np.zeros(H36M17.num_joints, dtype=bool)
    mask[_exact_indices(joint_set)[0]] = True
    return mask


@functools.lru_cache(maxsize=None)
def _exact_indices(joint_set: str) -> tuple:
    """(H36M-17 indices, ``joint_set`` indices) of the joints the set provides exactly;
    ValueError for a set the front end does not read."""
    if joint_set not in INPUT_JOINT_SETS:
        raise ValueError(f'unknown input joint set {joint_set!r}; choose from '
                         f'{list(INPUT_JOINT_SETS)}')
    count = get_joint_set(joint_set).num_joints
    mapped, valid = to_h36m(np.arange(count, dtype=np.float64)[:, None], joint_set,
                            synthesise=False)
    targets = np.flatnonzero(valid)
    return targets, mapped[targets, 0].astype(np.intp)


def to_front_end(keypoints: np.ndarray, confidence: np.ndarray, joint_set: str) -> tuple:
    """Joints [..., J, 2] and confidences [..., J] of ``joint_set`` -> H36M-17 joints
    [..., 17, 2] float64 and confidences [..., 17] float64 (0 and position 0 where the set
    lacks the joint; NaN inputs become 0)."""
    targets, sources = _exact_indices(joint_set)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    count = get_joint_set(joint_set).num_joints
    if keypoints.shape[-2:] != (count, 2) or confidence.shape != keypoints.shape[:-1]:
        raise ValueError(f'{joint_set} joints must be [..., {count}, 2] with confidences '
                         f'[..., {count}], got {keypoints.shape} and {confidence.shape}')
    mapped = np.zeros(keypoints.shape[:-2] + (H36M17.num_joints, 2))
    weights = np.zeros(keypoints.shape[:-2] + (H36M17.num_joints,))
    mapped[..., targets, :] = keypoints[..., sources, :]
    weights[..., targets] = confidence[..., sources]
    return np.nan_to_num(mapped), np.nan_to_num(weights)


def from_front_end(keypoints: np.ndarray, confidence: np.ndarray, joint_set: str) -> tuple:
    """H36M-17 joints [..., 17, 2] and confidences [..., 17] -> the layout of ``joint_set``
    ([..., J, 2] float32, [..., J] float32); joints it has no H36M-17 counterpart for (COCO's
    face) get position 0 and confidence 0."""
    points = from_h36m(keypoints, joint_set)
    weights = from_h36m(np.asarray(confidence)[..., None], joint_set)[..., 0]
    absent = ~np.isfinite(weights)
    return (np.where(absent[..., None], 0.0, points).astype(np.float32),
            np.where(absent, 0.0, weights).astype(np.float32))


def keypoint_boxes(keypoints: np.ndarray, confidence: np.ndarray, margin: float = BOX_MARGIN,
                   threshold: float = CONFIDENCE_THRESHOLD,
                   min_size: float = MIN_BOX_SIZE) -> np.ndarray:
    """Square boxes [..., 3] (x0, y0, side) px around keypoints [..., K, 2] px: the box of
    :func:`hpm_ros.crop.box_from_keypoints` over the joints with confidence >= threshold, or
    over all joints with confidence > 0 where fewer than two pass; NaN where fewer than two
    joints have confidence > 0."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    keep = confidence >= threshold
    keep = np.where((keep.sum(-1) < 2)[..., None], confidence > 0, keep)
    low = np.where(keep[..., None], keypoints, np.inf).min(axis=-2)
    high = np.where(keep[..., None], keypoints, -np.inf).max(axis=-2)
    with np.errstate(invalid='ignore'):
        extent = np.maximum(high - low, min_size / margin)
        side = np.maximum(margin * extent.max(axis=-1), min_size)
        corner = low + extent / 2.0 - side[..., None] / 2.0
    boxes = np.concatenate([corner, side[..., None]], axis=-1)
    boxes[keep.sum(-1) < 2] = np.nan
    return boxes


def normalise_keypoints(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Pixels [..., K, 2] -> normalised crop coordinates of boxes [..., 3] (x0, y0, side)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (np.asarray(keypoints, dtype=np.float64) - boxes[..., None, :2]) / boxes[..., None, 2:]


@dataclass
class KeypointClipBank:
    """N clips of T frames of detections and their 3D, the keypoints analogue of ClipBank.

    keypoints [N, T, K, 2] float32 normalised crop coordinates of the detections (what the
    front end sees); confidence [N, T, K] float32 (0 for joints the input set lacks);
    pose2d [N, T, K, 2] float32 exact 2D in the same crop coordinates (the 2D ground truth);
    pose3d [N, T, K, 3] float32 mm root-relative camera frame (the virtual camera's for the
    'rays' encoding); has_3d [N] bool; actions [N] str; joint_sets [N] str, the input joint
    set each clip simulates; families [N] str, the pose family of each clip's middle frame
    and detectors [N] str, its detector model (both optional).
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    pose2d: np.ndarray
    pose3d: np.ndarray
    has_3d: np.ndarray
    actions: np.ndarray
    joint_sets: np.ndarray
    families: Optional[np.ndarray] = None
    detectors: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        count, frames = self.keypoints.shape[:2]
        for name in ('confidence', 'pose2d', 'pose3d'):
            if getattr(self, name).shape[:2] != (count, frames):
                raise ValueError(f'{name} must start with [{count}, {frames}], got '
                                 f'{getattr(self, name).shape}')
        if self.has_3d.shape != (count,) or len(self.actions) != count \
                or len(self.joint_sets) != count:
            raise ValueError('has_3d, actions and joint_sets need one entry per clip')

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    def indices(self, only_3d: bool) -> np.ndarray:
        """Clip indices, all of them or only those with 3D ground truth."""
        return np.flatnonzero(self.has_3d) if only_3d else np.arange(len(self))

    def batch(self, indices: np.ndarray, normalise_3d, device: torch.device,
              with_inputs: bool = True) -> dict:
        """Tensors of the clips at ``indices``: keypoints and confidence (left out with
        ``with_inputs=False``), pose2d, pose3d (through ``normalise_3d``, mm -> normalised)
        and has_3d, as StageLoss takes them."""
        def tensor(array):
            return torch.from_numpy(np.ascontiguousarray(array[indices])).to(device)

        batch = {'pose2d': tensor(self.pose2d), 'pose3d': normalise_3d(tensor(self.pose3d)),
                 'has_3d': tensor(self.has_3d)}
        if with_inputs:
            batch.update(keypoints=tensor(self.keypoints), confidence=tensor(self.confidence))
        return batch


def h36m_motions(path, subjects, fps: float) -> list:
    """(label, [T, 17, 3] mm world) per sequence of Human3.6M-format 3D: a VideoPose3D
    ``data_3d_h36m.npz`` file or a 3d-pose-baseline folder (hpm_ros.data.h36m), 50 fps
    resampled to about ``fps``."""
    from hpm_ros.data.h36m import load_h36m_h5, load_h36m_npz

    path = Path(path)
    frames = load_h36m_npz(path, subjects=subjects) if path.is_file() else load_h36m_h5(
        path, subjects)
    stride = max(int(round(H36M_FPS / fps)), 1)
    return [(f'{frames.subject[a]}/{frames.sequence[a]}', frames.poses_3d[a:b:stride])
            for a, b in frames.segments()]
