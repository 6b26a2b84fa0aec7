"""Banks of rendered training and test clips from procedural motion and CMU motion capture.

Held-out motion never used for training: the BVH trials in :data:`HELD_OUT_TRIALS` and the
procedural/camera seeds of the 'test' split (a disjoint seed range).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpm_ros.data.clips import ClipBank
from hpm_ros.data.motion import ACTION_LABELS, random_motion
from hpm_ros.data.synthetic import render_clip

HELD_OUT_TRIALS = ('cmu/131_03.bvh', 'cmu_iclone/007_12.bvh', 'cmu_salsa/61_13_scaled.bvh')
SPLIT_SEED_OFFSET = {'train': 0, 'test': 10_000_000}
MOCAP_LABEL = 'CMU mocap'


def mocap_trials(mocap_dir: Path, split: str) -> list:
    """Relative paths of the BVH trials of ``split`` ('train' or 'test') under ``mocap_dir``."""
    if mocap_dir is None or not Path(mocap_dir).is_dir():
        return []
    trials = sorted(str(p.relative_to(mocap_dir)) for p in Path(mocap_dir).glob('*/*.bvh'))
    held_out = [t for t in trials if t in HELD_OUT_TRIALS]
    return held_out if split == 'test' else [t for t in trials if t not in HELD_OUT_TRIALS]


@lru_cache(maxsize=None)
def _mocap_motion(path: str, fps: float) -> np.ndarray:
    """[T, 17, 3] mm world Z-up poses of a BVH trial, resampled to about ``fps``."""
    from hpm_ros.data.bvh import bvh_to_h36m

    poses, source_fps = bvh_to_h36m(path)
    stride = max(int(round(source_fps / fps)), 1)
    return poses[::stride]


def _render_one(task: tuple) -> tuple:
    """Render clip ``index`` of a bank (runs in a worker process)."""
    index, split, frames, crop_size, seed, fps, mocap_dir, trials, mocap_fraction, two_d = task
    clip_seed = SPLIT_SEED_OFFSET[split] + seed * 100_003 + index
    rng = np.random.default_rng(clip_seed)
    if trials and rng.uniform() < mocap_fraction:
        trial = trials[int(rng.integers(len(trials)))]
        motion = _mocap_motion(str(Path(mocap_dir) / trial), fps)
        action = MOCAP_LABEL
    else:
        motion, kind = random_motion(max(frames, int(2 * fps)), fps, clip_seed)
        action = ACTION_LABELS[kind]
    clip = render_clip(motion, frames, crop_size, seed=clip_seed)
    pose2d = (clip.keypoints2d + 0.5) / crop_size
    has_3d = bool(rng.uniform() >= two_d)
    return clip.images, pose2d.astype(np.float32), clip.joints3d_relative, has_3d, action


def build_bank(num_clips: int, clip_length: int, crop_size: int, seed: int = 0,
               split: str = 'train', fps: float = 25.0, mocap_dir: Path = None,
               mocap_fraction: float = 0.5, two_d_only_fraction: float = 0.0,
               workers: int = 2, progress: bool = True) -> ClipBank:
    """Render ``num_clips`` clips of ``clip_length`` frames as ``crop_size`` crops.

    Each clip is procedural motion or (with probability ``mocap_fraction``, when
    ``mocap_dir`` holds the BVH trials) a window of a CMU trial of ``split``; a fraction
    ``two_d_only_fraction`` is marked 2D-only. Deterministic in (seed, split), whatever
    ``workers`` is.
    """
    if split not in SPLIT_SEED_OFFSET:
        raise ValueError(f'split must be one of {sorted(SPLIT_SEED_OFFSET)}, got {split!r}')
    trials = tuple(mocap_trials(mocap_dir, split)) if mocap_dir else ()
    tasks = [(i, split, clip_length, crop_size, seed, fps, str(mocap_dir) if mocap_dir else '',
              trials, mocap_fraction, two_d_only_fraction) for i in range(num_clips)]
    description = f'render {split} clips'
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(tqdm(pool.map(_render_one, tasks, chunksize=8), total=len(tasks),
                                desc=description, disable=not progress))
    else:
        results = [_render_one(task) for task in tqdm(tasks, desc=description,
                                                      disable=not progress)]
    images, pose2d, pose3d, has_3d, actions = zip(*results)
    return ClipBank(np.stack(images), np.stack(pose2d), np.stack(pose3d).astype(np.float32),
                    np.array(has_3d, dtype=bool), np.array(actions))
