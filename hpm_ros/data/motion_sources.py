"""Recorded motion for the lifter: the five mocap folders, whole performers held out.

Every BVH file under ``mocap_dir/<folder>/`` is read with its rig map
(:func:`hpm_ros.data.bvh.bvh_to_h36m`); a file belongs to the 'test' split when its performer
is in :data:`HELD_OUT_PERFORMERS` (by file-name prefix), else to 'train'. The held-out
performers: CMU subject 131 (``cmu/``), CMU subject 2 (``cmu_iclone/``: walk, run, jump,
punch, bend over, swordplay, wash), the salsa follow (subject 61), CMU subject 13
(``cmu_daz_10_14/``: sitting on a stool and standing up, drinking, squats, waving) and ACCAD
Male1 (crouching, lying down and getting up, crawling, picking up a box).
ACCAD motion: "Motion capture data from ACCAD, The Ohio State University (CC BY 3.0)".
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

HELD_OUT_PERFORMERS = {'cmu': ('131_',), 'cmu_iclone': ('002_',), 'cmu_salsa': ('61_',),
                       'cmu_daz_10_14': ('13_',), 'accad': ('Male1_',)}
SPLITS = ('train', 'test')


def is_held_out(trial: str) -> bool:
    """True for a trial path ``folder/file.bvh`` of a held-out performer."""
    folder, _, name = trial.partition('/')
    return name.startswith(HELD_OUT_PERFORMERS.get(folder, ()))


def lifter_trials(mocap_dir, split: str) -> list:
    """Relative paths ``folder/file.bvh`` of the trials of ``split`` under ``mocap_dir``
    (sorted; [] when the folder is absent)."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    if mocap_dir is None or not Path(mocap_dir).is_dir():
        return []
    trials = sorted(str(p.relative_to(mocap_dir)) for p in Path(mocap_dir).glob('*/*.bvh'))
    return [t for t in trials if is_held_out(t) == (split == 'test')]


@lru_cache(maxsize=None)
def _trial_motion(path: str, fps: float) -> np.ndarray:
    from hpm_ros.data.bvh import bvh_to_h36m

    poses, source_fps = bvh_to_h36m(path)
    return poses[::max(int(round(source_fps / fps)), 1)]


def recorded_motions(mocap_dir, split: str, fps: float) -> list:
    """(trial, [T, 17, 3] float32 mm world Z up at about ``fps``) per trial of ``split``."""
    return [(trial, _trial_motion(str(Path(mocap_dir) / trial), fps))
            for trial in lifter_trials(mocap_dir, split)]
