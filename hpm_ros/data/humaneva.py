"""HumanEva-I in VideoPose3D's preparation, as per-frame H36M-17 arrays.

``data_3d_humaneva15.npz``: ``positions_3d[subject][sequence]`` = ``[T, 15, 3]`` metres,
world frame, subjects 'Train/S1'..'Validate/S3', sequences such as 'Walking 1 chunk0' (mocap
streams split at dropouts). ``data_2d_humaneva15_gt.npz``: ``positions_2d[subject][sequence]``
= list of 3 cameras (C1, C2, C3) of ``[T, 15, 2]`` pixels, with ``metadata`` naming layout
'humaneva15'.

Joint order and the mapping to H36M-17 are ``hpm_ros.skeleton.HUMANEVA15`` and
``to_h36m(.., 'humaneva15')``. Human3.6M's Spine and Neck have no HumanEva marker and are
interpolated (:data:`INTERPOLATED_JOINTS`): Spine halfway between pelvis and thorax, Neck
halfway between thorax and head (in 2D the same midpoints of the 2D joints).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from hpm_ros.data.h36m import (PoseFrames, build_frames, check_2d_metadata,
                               read_npz_dict, select_subjects)
from hpm_ros.skeleton import H36M17, HUMANEVA15, SYNTHESISED, mapping_status, to_h36m

CAMERA_NAMES = ('C1', 'C2', 'C3')
INTERPOLATED_JOINTS = tuple(
    name for name, status in zip(H36M17.joint_names, mapping_status(HUMANEVA15.name))
    if status == SYNTHESISED)


def humaneva15_to_h36m17(joints: np.ndarray) -> np.ndarray:
    """[..., 15, D] HumanEva-15 joints -> [..., 17, D] H36M-17 (Spine, Neck interpolated)."""
    return to_h36m(joints, HUMANEVA15.name)[0]


def load_humaneva_npz(path_3d, path_2d=None, subjects: Iterable | None = None,
                      cameras: Mapping | None = None) -> PoseFrames:
    """Read VideoPose3D HumanEva-15 files -> :class:`PoseFrames` (mm, H36M-17).

    ``subjects``: VideoPose3D keys to keep ('Train/S1', ...), None = all. World frame unless
    ``cameras`` = ``{('S1', 1): Camera, ...}`` (subject without split prefix, cameras 1..3 =
    C1..C3) is given. With ``path_2d`` there is one run per camera with the file's 2D poses.
    """
    positions = read_npz_dict(path_3d, 'positions_3d')
    if subjects is not None:
        positions = select_subjects(positions, list(subjects), path_3d)
    keypoints = None
    if path_2d is not None:
        keypoints = read_npz_dict(path_2d, 'positions_2d')
        check_2d_metadata(path_2d, read_npz_dict(path_2d, 'metadata'), 'humaneva15', 15)
    return build_frames(positions, 1000.0, humaneva15_to_h36m17, cameras, keypoints,
                        str(path_3d))
