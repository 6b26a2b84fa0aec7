"""Training clips for the keypoints front end, from 3D motion alone (no images).

3D motion (CMU BVH trials, procedural motion, Human3.6M-format 3D) → a random virtual camera
per clip (:func:`hpm_ros.data.synth_scene.random_camera`) → exact 2D joints → a detector's
errors (:mod:`hpm_ros.data.keypoint_noise`) → the joints an input joint set provides
(h36m17, mpii16 or coco17; the others get confidence 0) → normalised crop coordinates of the
square box around the confident joints (margin 1.25, as the image pipeline crops) → clips of
N frames. Also the held-out sequences that the model card is measured on.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hpm_ros.data.keypoint_noise import KeypointNoise, jitter_boxes, simulate_detections
from hpm_ros.data.motion import ACTION_LABELS, random_motion
from hpm_ros.data.synth_scene import SceneConfig, random_camera
from hpm_ros.data.synthetic_bank import MOCAP_LABEL, SPLIT_SEED_OFFSET, mocap_trials
from hpm_ros.geometry import project_points, world_to_camera
from hpm_ros.skeleton import from_h36m, get_joint_set, to_h36m

INPUT_JOINT_SETS = ('h36m17', 'mpii16', 'coco17')
BOX_MARGIN = 1.25
CONFIDENCE_THRESHOLD = 0.2
MIN_BOX_SIZE = 16.0
H36M_FPS = 50.0
H36M_LABEL = 'Human3.6M 3D'


def input_joint_mask(joint_set: str) -> np.ndarray:
    """[17] bool: the H36M-17 joints that ``joint_set`` provides exactly (the front end gets
    the others with confidence 0; synthesised approximations are not used)."""
    if joint_set not in INPUT_JOINT_SETS:
        raise ValueError(f'unknown input joint set {joint_set!r}; choose from '
                         f'{list(INPUT_JOINT_SETS)}')
    count = get_joint_set(joint_set).num_joints
    return to_h36m(np.zeros((count, 2)), joint_set, synthesise=False)[1]


def to_front_end(keypoints: np.ndarray, confidence: np.ndarray, joint_set: str) -> tuple:
    """Joints [..., J, 2] and confidences [..., J] of ``joint_set`` -> H36M-17 joints
    [..., 17, 2] float64 and confidences [..., 17] float64 (0 and position 0 where the set
    lacks the joint)."""
    mask = input_joint_mask(joint_set)
    mapped = np.nan_to_num(to_h36m(keypoints, joint_set, synthesise=False)[0])
    weights = np.nan_to_num(to_h36m(np.asarray(confidence)[..., None], joint_set,
                                    synthesise=False)[0][..., 0])
    return mapped, np.where(mask, weights, 0.0)


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
    pose3d [N, T, K, 3] float32 mm root-relative camera frame; has_3d [N] bool; actions [N]
    str; joint_sets [N] str, the input joint set each clip simulates.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    pose2d: np.ndarray
    pose3d: np.ndarray
    has_3d: np.ndarray
    actions: np.ndarray
    joint_sets: np.ndarray

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


@lru_cache(maxsize=None)
def _bvh_motion(path: str, fps: float) -> np.ndarray:
    from hpm_ros.data.bvh import bvh_to_h36m

    poses, source_fps = bvh_to_h36m(path)
    return poses[::max(int(round(source_fps / fps)), 1)]


def mocap_motions(mocap_dir, split: str, fps: float) -> list:
    """(label, [T, 17, 3] mm world Z up) of the BVH trials of ``split`` under ``mocap_dir``
    (the held-out trials of synthetic_bank.HELD_OUT_TRIALS for 'test'), about ``fps``."""
    return [(trial, _bvh_motion(str(Path(mocap_dir) / trial), fps))
            for trial in mocap_trials(mocap_dir, split)]


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


def clip_from_motion(motion: np.ndarray, frames: int, rng: np.random.Generator,
                     noise: KeypointNoise, joint_set: str,
                     scene: SceneConfig = SceneConfig()) -> tuple:
    """One training clip from ``motion`` [T0, 17, 3] mm world (T0 >= frames): (keypoints,
    confidence, pose2d, pose3d) as in :class:`KeypointClipBank`, for one clip."""
    start = int(rng.integers(0, len(motion) - frames + 1))
    world = np.asarray(motion[start:start + frames], dtype=np.float64)
    camera = random_camera(rng, world.reshape(-1, 3).mean(axis=0), scene)
    joints = world_to_camera(world, camera.rotation, camera.translation)
    exact = project_points(joints, camera.intrinsics)
    detections = simulate_detections(exact, rng, noise, camera.image_size)
    mask = input_joint_mask(joint_set)
    confidence = detections.confidence * mask
    boxes = jitter_boxes(keypoint_boxes(detections.keypoints, confidence), rng, noise)
    keypoints = np.where(mask[:, None], normalise_keypoints(detections.keypoints, boxes), 0.5)
    return (keypoints.astype(np.float32), confidence.astype(np.float32),
            normalise_keypoints(exact, boxes).astype(np.float32),
            (joints - joints[:, :1]).astype(np.float32))


def build_keypoint_bank(num_clips: int, clip_length: int, seed: int = 0, split: str = 'train',
                        fps: float = 25.0, mocap_dir=None, mocap_fraction: float = 0.5,
                        noise: KeypointNoise = KeypointNoise(), joint_sets: dict = None,
                        extra_motions: list = (), two_d_only_fraction: float = 0.0,
                        progress: bool = True) -> KeypointClipBank:
    """``num_clips`` clips of ``clip_length`` frames.

    With probability ``mocap_fraction`` a clip is a window of recorded motion (the BVH trials
    of ``split`` under ``mocap_dir`` and ``extra_motions``, (label, [T, 17, 3] mm world) pairs
    labelled Human3.6M, chosen in proportion to their frames), else procedural motion.
    joint_sets: {input joint set: weight} (default: h36m17, mpii16, coco17 equally).
    Deterministic in (seed, split).
    """
    if split not in SPLIT_SEED_OFFSET:
        raise ValueError(f'split must be one of {sorted(SPLIT_SEED_OFFSET)}, got {split!r}')
    joint_sets = dict(joint_sets or {name: 1.0 for name in INPUT_JOINT_SETS})
    for name in joint_sets:
        input_joint_mask(name)
    names = list(joint_sets)
    weights = np.array([float(joint_sets[n]) for n in names])
    if weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f'joint set weights must be >= 0 and not all 0, got {joint_sets}')
    recorded = [(MOCAP_LABEL, m) for _, m in (
        mocap_motions(mocap_dir, split, fps) if mocap_dir else [])]
    recorded += [(H36M_LABEL, m) for _, m in extra_motions]
    recorded = [(action, m) for action, m in recorded if len(m) >= clip_length]
    lengths = np.array([len(m) for _, m in recorded], dtype=np.float64)
    columns = [[] for _ in range(7)]
    for index in tqdm(range(num_clips), desc=f'{split} keypoint clips', disable=not progress):
        clip_seed = SPLIT_SEED_OFFSET[split] + seed * 100_003 + index
        rng = np.random.default_rng(clip_seed)
        if recorded and rng.uniform() < mocap_fraction:
            action, motion = recorded[int(rng.choice(len(recorded), p=lengths / lengths.sum()))]
        else:
            motion, kind = random_motion(max(clip_length, int(2 * fps)), fps, clip_seed)
            action = ACTION_LABELS[kind]
        joint_set = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        clip = clip_from_motion(motion, clip_length, rng, noise, joint_set)
        for column, value in zip(columns, (*clip, rng.uniform() >= two_d_only_fraction,
                                           action, joint_set)):
            column.append(value)
    return KeypointClipBank(*(np.stack(c) for c in columns[:4]), np.array(columns[4], bool),
                            np.array(columns[5]), np.array(columns[6]))


@dataclass
class HeldOutSequence:
    """A held-out motion seen by one camera: exact keypoints [T, 17, 2] px, joints3d
    [T, 17, 3] mm camera frame, intrinsics [3, 3], image_size (W, H), action label."""

    name: str
    action: str
    keypoints: np.ndarray
    joints3d: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple


def view_motion(name: str, action: str, motion: np.ndarray, seed: int) -> HeldOutSequence:
    """``motion`` [T, 17, 3] mm world seen by a random camera (seeded) aimed at its middle."""
    rng = np.random.default_rng(seed)
    world = np.asarray(motion, dtype=np.float64)
    camera = random_camera(rng, world.reshape(-1, 3).mean(axis=0), SceneConfig())
    joints = world_to_camera(world, camera.rotation, camera.translation)
    return HeldOutSequence(name, action, project_points(joints, camera.intrinsics).astype(
        np.float32), joints.astype(np.float32), camera.intrinsics, camera.image_size)


def held_out_sequences(mocap_dir, procedural: int, length: int, fps: float = 25.0,
                       seed: int = 0) -> list:
    """Held-out evaluation sequences of ``length`` frames: consecutive windows of the
    held-out BVH trials (synthetic_bank.HELD_OUT_TRIALS) and ``procedural`` sequences of
    test-split seeds (never used for training), each seen by its own seeded camera."""
    sequences = []
    offset = SPLIT_SEED_OFFSET['test'] + seed * 100_003
    for trial, motion in (mocap_motions(mocap_dir, 'test', fps) if mocap_dir else []):
        for start in range(0, len(motion) - length + 1, length):
            sequences.append(view_motion(f'{trial}@{start}', MOCAP_LABEL,
                                         motion[start:start + length], offset + len(sequences)))
    for index in range(procedural):
        motion, kind = random_motion(length, fps, offset + 50_000 + index)
        sequences.append(view_motion(f'procedural/{offset + 50_000 + index}',
                                     ACTION_LABELS[kind], motion, offset + 60_000 + index))
    return sequences
