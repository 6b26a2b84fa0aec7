"""Evaluation protocols of the paper (section 4.1) as sample index lists over PoseFrames.

Human3.6M, as the paper states them:

- Protocol #1: train S1, S5, S6, S7, S8; test S9, S11; all four cameras, each a distinct
  sequence; 50 fps downsampled to 2 fps, i.e. every 25th frame, for training and testing.
- Protocol #2: as #1, but the test set is every 5th frame of camera 3 (the paper's frontal
  "cam-3"; camera numbers as in ``cameras.h5``/VideoPose3D, 3 = 58860488), trial 1 of each
  action only.
- Protocol #3: train S1, S5, S6, S7, S8, S9; test every 64th frame of S11, all cameras.
  The paper gives no training frame rate for #3; we keep #1's 2 fps (every 25th frame).

Subsampling keeps the frames whose index in the original sequence is a multiple of the
stride (frame 0 is always kept). "Trial 1" of an action is the first of that subject's
sequences of the action, ordering an unnumbered name ('Walking') before numbered ones
('Walking 1', 'Walking 2') and those by number; Human3.6M file names do not carry the trial
number, so this ordering is a convention.

HumanEva-I: train on the 'Train/S1'..'Train/S3' sequences and test on 'Validate/S1'..'S3'
(VideoPose3D's split of the official training trials), all cameras, every frame.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hpm_ros.data.h36m import PoseFrames, canonical_action


@dataclass(frozen=True)
class Protocol:
    """A train/test split: subjects, frame strides and the test cameras (None = all)."""

    name: str
    train_subjects: tuple
    test_subjects: tuple
    train_stride: int
    test_stride: int
    test_cameras: tuple | None = None
    test_first_trial_only: bool = False

    def __post_init__(self):
        """Strides must be positive integers."""
        for stride in (self.train_stride, self.test_stride):
            if not isinstance(stride, int) or stride < 1:
                raise ValueError(f'protocol {self.name!r}: strides must be ints >= 1, '
                                 f'got {stride!r}')


H36M_PROTOCOLS = {
    1: Protocol('h36m-p1', ('S1', 'S5', 'S6', 'S7', 'S8'), ('S9', 'S11'), 25, 25),
    2: Protocol('h36m-p2', ('S1', 'S5', 'S6', 'S7', 'S8'), ('S9', 'S11'), 25, 5, (3,), True),
    3: Protocol('h36m-p3', ('S1', 'S5', 'S6', 'S7', 'S8', 'S9'), ('S11',), 25, 64),
}
HUMANEVA_SUBJECTS = ('S1', 'S2', 'S3')


def _trial_order(sequence: str) -> int:
    match = re.search(r'\s(\d+)$', re.sub(r' chunk\d+$', '', sequence))
    return int(match.group(1)) if match else 0


def first_trial_mask(frames: PoseFrames) -> np.ndarray:
    """[N] bool: the frame belongs to trial 1 of its (subject, action), see module doc."""
    first = {}
    for subject, sequence in sorted(set(zip(frames.subject, frames.sequence))):
        key = (subject, canonical_action(sequence))
        if key not in first or (_trial_order(sequence), sequence) < first[key]:
            first[key] = (_trial_order(sequence), sequence)
    return np.array([first[(subject, action)][1] == sequence for subject, action, sequence
                     in zip(frames.subject, frames.action, frames.sequence)], dtype=bool)


def protocol_indices(frames: PoseFrames, protocol, split: str) -> np.ndarray:
    """[M] int64 sorted indices of ``frames`` in ``split`` ('train' or 'test').

    ``protocol`` is 1, 2, 3 or a :class:`Protocol`; ``frames.frame`` must hold the original
    (50 fps) frame indices.
    """
    if not isinstance(protocol, Protocol):
        if protocol not in H36M_PROTOCOLS:
            raise ValueError(f'unknown Human3.6M protocol {protocol!r}; use 1, 2 or 3')
        protocol = H36M_PROTOCOLS[protocol]
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    subjects = protocol.train_subjects if split == 'train' else protocol.test_subjects
    stride = protocol.train_stride if split == 'train' else protocol.test_stride
    keep = np.isin(frames.subject, subjects) & (frames.frame % stride == 0)
    if split == 'test' and protocol.test_cameras is not None:
        keep &= np.isin(frames.camera, protocol.test_cameras)
    if split == 'test' and protocol.test_first_trial_only:
        keep &= first_trial_mask(frames)
    return np.flatnonzero(keep).astype(np.int64)


def humaneva_indices(frames: PoseFrames, split: str,
                     subjects: tuple = HUMANEVA_SUBJECTS, stride: int = 1) -> np.ndarray:
    """[M] int64 sorted indices of HumanEva-I frames: 'train' = 'Train/S*' subjects,
    'test' = 'Validate/S*' subjects (VideoPose3D subject keys), every ``stride``-th frame."""
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f'stride must be an int >= 1, got {stride!r}')
    prefix = {'train': 'Train/', 'test': 'Validate/'}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    keep = np.isin(frames.subject, [prefix + s for s in subjects]) & (frames.frame % stride == 0)
    return np.flatnonzero(keep).astype(np.int64)
