"""Sanity checks of H36M-17 motion (bone lengths, upright, feet on the floor, not mirrored).

Run over the BVH files of a mocap folder::

    python -m hpm_ros.data.mocap_check [MOCAP_DIR]

MOCAP_DIR defaults to ``shared/data/mocap`` beside the repository (see
:func:`find_mocap_root`). Prints one line per file and exits 1 if any file fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import sys

import numpy as np

from hpm_ros.skeleton import H36M17

BONE_RANGE_MM = (40.0, 600.0)
FOOT_HEIGHT_RANGE_MM = (0.0, 250.0)


@dataclass(frozen=True)
class MotionSanity:
    """Summary of one H36M-17 sequence; ``ok`` when every check passes."""

    bone_mean_mm: np.ndarray
    bone_std_mm: np.ndarray
    height_mm: float
    foot_height_mm: float
    upright_fraction: float
    knee_forward_fraction: float
    problems: tuple

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.problems


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    """H36M-17 bone lengths ``[T, 16]`` (bone order of ``H36M17.bones``) of ``[T, 17, 3]``."""
    parents, children = np.array(H36M17.bones).T
    return np.linalg.norm(poses[:, children] - poses[:, parents], axis=-1)


def motion_sanity(poses: np.ndarray) -> MotionSanity:
    """Check ``[T, 17, 3]`` mm, world Z up poses of one person.

    Checks: bone lengths in :data:`BONE_RANGE_MM` and constant within 15 % (std / mean);
    upright (Head above Hip with the Hip-to-Thorax axis within 45 deg of vertical) in at
    least 70 % of frames; median lowest-ankle height in :data:`FOOT_HEIGHT_RANGE_MM`;
    not mirrored (in frames with a bent knee the knee points forward, forward being
    (LHip - RHip) x up, in at least 70 % of them).
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (17, 3):
        raise ValueError(f'poses must be [T, 17, 3], got {poses.shape}')
    problems = []
    lengths = bone_lengths(poses)
    mean, std = lengths.mean(axis=0), lengths.std(axis=0)
    names = [H36M17.joint_names[c] for _, c in H36M17.bones]
    for name, length, spread in zip(names, mean, std):
        if not BONE_RANGE_MM[0] <= length <= BONE_RANGE_MM[1]:
            problems.append(f'bone to {name} {length:.0f} mm')
        if spread > 0.15 * length:
            problems.append(f'bone to {name} varies by {spread:.0f} mm')
    up = poses[:, 8] - poses[:, 0]
    cos_tilt = up[:, 2] / np.maximum(np.linalg.norm(up, axis=-1), 1e-9)
    upright = np.mean((poses[:, 10, 2] > poses[:, 0, 2]) & (cos_tilt > np.cos(np.pi / 4)))
    if upright < 0.7:
        problems.append(f'upright in only {upright:.0%} of frames')
    foot = float(np.median(poses[:, [3, 6], 2].min(axis=1)))
    if not FOOT_HEIGHT_RANGE_MM[0] <= foot <= FOOT_HEIGHT_RANGE_MM[1]:
        problems.append(f'median foot height {foot:.0f} mm')
    forward = np.cross(poses[:, 4] - poses[:, 1], [0.0, 0.0, 1.0])
    knee_votes = []
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        bend = poses[:, knee] - 0.5 * (poses[:, hip] + poses[:, ankle])
        bent = np.linalg.norm(bend, axis=-1) > 40.0
        knee_votes.append(np.sum(bend * forward, axis=-1)[bent] > 0)
    votes = np.concatenate(knee_votes)
    knee_forward = float(votes.mean()) if votes.size else 1.0
    if knee_forward < 0.7:
        problems.append(f'knees point forward in only {knee_forward:.0%} of bent frames')
    height = float(np.median(poses[:, 10, 2] - poses[:, [3, 6], 2].min(axis=1)))
    return MotionSanity(mean, std, height, foot, float(upright), knee_forward, tuple(problems))


def find_mocap_root() -> Path | None:
    """``shared/data/mocap`` beside the repository root, or None when it is absent."""
    root = Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'mocap'
    return root if root.is_dir() else None


def main(argv: list | None = None) -> int:
    """Check every BVH file under a folder; print a table; 0 when all pass."""
    from hpm_ros.data.bvh import bvh_to_h36m
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else find_mocap_root()
    if root is None or not root.is_dir():
        print('no mocap folder found; pass one as argument', file=sys.stderr)
        return 2
    failures = 0
    for path in sorted(root.rglob('*.bvh')):
        poses, fps = bvh_to_h36m(path)
        report = motion_sanity(poses)
        failures += not report.ok
        print(f'{path.relative_to(root)!s:32} T={len(poses):5d} {fps:5.0f} fps '
              f'height {report.height_mm:5.0f} foot {report.foot_height_mm:4.0f} '
              f'upright {report.upright_fraction:4.0%} '
              f'knee-fwd {report.knee_forward_fraction:4.0%} '
              f'bones {report.bone_mean_mm.min():3.0f}..{report.bone_mean_mm.max():3.0f} mm '
              f'{"ok" if report.ok else "; ".join(report.problems)}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
