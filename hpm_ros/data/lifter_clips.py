"""Training clips and held-out sequences of the lifter, from 3D motion alone (no images).

3D motion (the mocap folders of :mod:`hpm_ros.data.motion_sources`, Human3.6M-format 3D,
procedural motion of :mod:`hpm_ros.data.motion_families`) → the bones of a drawn adult
(:mod:`hpm_ros.data.body_prior`) → a camera of the robot/room prior
(:mod:`hpm_ros.data.camera_prior`) → a detector model's landmarks and errors
(:mod:`hpm_ros.data.detector_models`) → the input encoding of the model
(:mod:`hpm_ros.data.keypoint_input`, with box jitter) → clips of N frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from hpm_ros.data.body_prior import adult_pose
from hpm_ros.data.camera_prior import draw_camera
from hpm_ros.data.detector_models import get_detector
from hpm_ros.data.keypoint_clips import (KeypointClipBank, input_joint_mask, keypoint_boxes,
                                         normalise_keypoints)
from hpm_ros.data.keypoint_input import encode_keypoints, to_virtual_plane
from hpm_ros.data.keypoint_noise import jitter_boxes
from hpm_ros.data.motion_families import random_procedural
from hpm_ros.data.motion_sources import recorded_motions
from hpm_ros.data.pose_families import classify_poses
from hpm_ros.geometry import world_to_camera

SPLIT_SEEDS = {'train': 0, 'val': 5_000_000, 'test': 10_000_000}
DEFAULT_DETECTORS = {'mocap': 1.0, 'mpii': 1.0, 'coco': 1.0, 'blazepose': 1.0}
RECORDED_LABEL = 'mocap'


def lifter_clip(world: np.ndarray, rng: np.random.Generator, detector: str,
                encoding: str) -> tuple:
    """One clip of world Z-up motion [T, 17, 3] mm (bones already re-composed): (keypoints
    [T, 17, 2] normalised, confidence [T, 17], exact 2D [T, 17, 2] normalised, pose3d
    [T, 17, 3] mm root-relative in the encoding's frame)."""
    model = get_detector(detector)
    camera = draw_camera(rng, world)
    joints = world_to_camera(world, camera.rotation, camera.translation)
    detections, exact = model.detect(joints, camera.intrinsics, camera.image_size, rng)
    mask = input_joint_mask(model.joint_set)
    confidence = detections.confidence * mask
    _, _, rotations, boxes, plane = encode_keypoints(
        detections.keypoints, confidence, encoding, camera.image_size, camera.intrinsics)
    exact_plane = exact if rotations is None else to_virtual_plane(
        exact, camera.intrinsics, rotations)
    if not np.isfinite(boxes).all():
        boxes = keypoint_boxes(exact_plane, np.ones_like(confidence))
    boxes = jitter_boxes(boxes, rng, model.noise)
    keypoints = np.where(mask[:, None], normalise_keypoints(plane, boxes), 0.5)
    keypoints[confidence <= 0] = 0.5
    relative = joints - joints[:, :1]
    if rotations is not None:
        relative = np.einsum('tij,tkj->tki', rotations, relative)
    return (keypoints.astype(np.float32), confidence.astype(np.float32),
            normalise_keypoints(exact_plane, boxes).astype(np.float32),
            relative.astype(np.float32))


def _weights(options: dict) -> tuple:
    names = list(options)
    weights = np.array([float(options[n]) for n in names])
    if not names or weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f'weights must be >= 0 and not all 0, got {options}')
    return names, weights / weights.sum()


def build_lifter_bank(num_clips: int, clip_length: int, seed: int = 0, split: str = 'train',
                      fps: float = 25.0, mocap_dir=None, mocap_fraction: float = 0.5,
                      detectors: dict = None, encoding: str = 'crop',
                      family_share: float = 0.6, extra_motions: list = (),
                      two_d_only_fraction: float = 0.0,
                      progress: bool = True) -> KeypointClipBank:
    """``num_clips`` clips of ``clip_length`` frames; deterministic in (seed, split).

    With probability ``mocap_fraction`` a window of recorded motion (trials of ``split``,
    'val' uses the training trials with other windows, cameras and detections; plus
    ``extra_motions`` (label, [T, 17, 3] mm world) pairs; chosen in proportion to their
    frames), else procedural motion (``family_share`` of it from the thin pose families).
    detectors: {detector model: weight} (default: all four equally). A share
    ``two_d_only_fraction`` of the clips is marked as having no 3D (has_3d False).
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f'split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}')
    names, weights = _weights(detectors or DEFAULT_DETECTORS)
    for name in names:
        get_detector(name)
    recorded = recorded_motions(mocap_dir, 'test' if split == 'test' else 'train', fps) \
        if mocap_dir and mocap_fraction > 0 else []
    recorded = [m for _, m in list(recorded) + list(extra_motions) if len(m) >= clip_length]
    lengths = np.array([len(m) for m in recorded], dtype=np.float64)
    columns = [[] for _ in range(8)]
    for index in tqdm(range(num_clips), desc=f'{split} lifter clips', disable=not progress):
        clip_seed = SPLIT_SEEDS[split] + seed * 100_003 + index
        rng = np.random.default_rng(clip_seed)
        if recorded and rng.uniform() < mocap_fraction:
            motion = recorded[int(rng.choice(len(recorded), p=lengths / lengths.sum()))]
            start = int(rng.integers(0, len(motion) - clip_length + 1))
            motion, action = motion[start:start + clip_length], RECORDED_LABEL
        else:
            # Two seconds of motion and a window of it: the families' keyframes start from a
            # neutral pose, so the first frames alone would under-represent them.
            motion, action = random_procedural(max(clip_length, int(2 * fps)), fps, clip_seed,
                                               family_share)
            start = int(rng.integers(0, len(motion) - clip_length + 1))
            motion = motion[start:start + clip_length]
        world = adult_pose(motion, rng)
        detector = names[int(rng.choice(len(names), p=weights))]
        clip = lifter_clip(world, rng, detector, encoding)
        family = classify_poses(world[clip_length // 2:clip_length // 2 + 1])[0]
        has_3d = rng.uniform() >= two_d_only_fraction
        for column, value in zip(columns, (*clip, has_3d, action, detector, family)):
            column.append(value)
    return KeypointClipBank(*(np.stack(c) for c in columns[:4]), np.array(columns[4], bool),
                            np.array(columns[5]),
                            np.array([get_detector(d).joint_set for d in columns[6]]),
                            families=np.array(columns[7]), detectors=np.array(columns[6]))


@dataclass
class HeldOutSequence:
    """A held-out motion seen by one camera of the prior: exact mocap joints projected,
    keypoints [T, 17, 2] px; joints3d [T, 17, 3] mm camera frame; world [T, 17, 3] mm Z up;
    intrinsics [3, 3]; image_size (W, H); action label; families [T] per frame."""

    name: str
    action: str
    keypoints: np.ndarray
    joints3d: np.ndarray
    world: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple
    families: np.ndarray


def view_motion(name: str, action: str, motion: np.ndarray, seed: int) -> HeldOutSequence:
    """``motion`` [T, 17, 3] mm world with an adult's bones seen by a camera of the prior."""
    from hpm_ros.geometry import project_points

    rng = np.random.default_rng(seed)
    world = adult_pose(motion, rng)
    camera = draw_camera(rng, world)
    joints = world_to_camera(world, camera.rotation, camera.translation)
    return HeldOutSequence(name, action, project_points(joints, camera.intrinsics).astype(
        np.float32), joints.astype(np.float32), world.astype(np.float32), camera.intrinsics,
        camera.image_size, classify_poses(world))


def held_out_sequences(mocap_dir, procedural: int, length: int, fps: float = 25.0,
                       seed: int = 0, max_per_trial: int = 4) -> list:
    """Held-out sequences of ``length`` frames: up to ``max_per_trial`` evenly spaced windows
    of each held-out performer's trial and ``procedural`` sequences of test-split seeds,
    each with its own adult body and camera."""
    sequences = []
    offset = SPLIT_SEEDS['test'] + seed * 100_003
    for trial, motion in (recorded_motions(mocap_dir, 'test', fps) if mocap_dir else []):
        starts = range(0, len(motion) - length + 1, length)
        for start in list(starts)[::max(1, -(-len(starts) // max_per_trial))]:
            sequences.append(view_motion(f'{trial}@{start}', RECORDED_LABEL,
                                         motion[start:start + length], offset + len(sequences)))
    for index in range(procedural):
        motion, action = random_procedural(length, fps, offset + 50_000 + index)
        sequences.append(view_motion(f'procedural/{offset + 50_000 + index}', action, motion,
                                     offset + 60_000 + index))
    return sequences
