"""Joint sets as data: the internal Human3.6M-17 skeleton and mappings to other sets.

Joint sets besides H36M-17 (the internal skeleton):

- ``humaneva15``: the 15-joint HumanEva-I skeleton of VideoPose3D
  (``facebookresearch/VideoPose3D``, ``data/tools/ConvertHumanEva.m`` and
  ``common/humaneva_dataset.py``), in its order: Pelvis, Thorax, LShoulder, LElbow, LWrist,
  RShoulder, RElbow, RWrist, LHip, LKnee, LAnkle, RHip, RKnee, RAnkle, Head. Its 'Thorax' is the
  neck (mean of the torso's and the head's proximal ends) and 'Head' the head top.
- ``humaneva14``: ``humaneva15`` without Pelvis: the 14 joints the paper evaluates on HumanEva-I
  (shoulders, elbows, wrists, hips, knees, ankles, head top and neck, as Yasin et al.). The hips
  hang from Thorax in its tree.
- ``mpii16``: MPII Human Pose order (r_ankle ... l_wrist), rooted at the pelvis.
- ``coco17``: COCO keypoints. COCO has no kinematic tree; ours is rooted at the nose: eyes and
  shoulders hang from the nose, ears from the eyes, hips from the shoulder of the same side.
- ``paper16``: H36M-17 without 'Neck' (the Neck/Nose joint), i.e. the 16-joint Human3.6M
  variant of 3d-pose-baseline (Martinez et al. 2017), the usual 16-joint H36M evaluation set.
- ``blazepose33``: the 33 BlazePose / MediaPipe Pose landmarks in their standard order (nose,
  eyes, ears, mouth, shoulders ... foot indices). No kinematic tree of its own; ours is rooted
  at the nose like COCO's, the feet's heel and foot index hang from the ankle.
  Its shoulders, elbows, wrists, knees and ankles correspond exactly; its hips are *offset*
  (:data:`LANDMARK_OFFSETS`): BlazePose's hip landmarks lie inside the mocap hip centres
  (about 20 px on 1000-px frames of a standing adult, i.e. about 35 % of the way to the
  pelvis centre); the lifter takes them as its hips and learns the offset from the detector
  model (:mod:`hpm_ros.data.detector_models`).

Correspondences with H36M-17 are 'exact' where both sets name the same landmark (with the usual
dataset conventions: H36M 'Foot' is the ankle, H36M 'Neck' is MPII's upper neck). Joints that a
set lacks are 'synthesised' by these rules, applied in this order:

- Hip (pelvis) = mean of LHip and RHip                       (humaneva14, coco17)
- Thorax = mean of LShoulder and RShoulder                   (coco17)
- Spine = mean of Hip and Thorax                             (humaneva14/15, mpii16, coco17)
- Neck = mean of Thorax and Head (approximate)               (humaneva14/15, paper16)
- Neck = COCO nose (H36M's joint is 'Neck/Nose')             (coco17)
- Head = mean of COCO left_eye and right_eye (approximate)   (coco17)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointSet:
    """A named joint order with its kinematic tree.

    ``parents[j]`` is the index of joint ``j``'s parent, -1 for the root. ``left_joints[i]``
    and ``right_joints[i]`` are mirror images of each other (empty when not given).
    """

    name: str
    joint_names: tuple
    parents: tuple
    left_joints: tuple = ()
    right_joints: tuple = ()

    def __post_init__(self) -> None:
        """Check that the tree and the left/right pairs fit the joint names."""
        count = len(self.joint_names)
        if len(self.parents) != count:
            raise ValueError(f'joint set {self.name!r}: {len(self.parents)} parents for '
                             f'{count} joints')
        if list(self.parents).count(-1) != 1:
            raise ValueError(f'joint set {self.name!r} must have exactly one root')
        if any(not -1 <= p < count for p in self.parents):
            raise ValueError(f'joint set {self.name!r} has an out-of-range parent')
        for joint in range(count):
            steps = 0
            while joint >= 0:
                joint, steps = self.parents[joint], steps + 1
                if steps > count:
                    raise ValueError(f'joint set {self.name!r}: parents form a cycle')
        if len(self.left_joints) != len(self.right_joints):
            raise ValueError(f'joint set {self.name!r}: left and right joints differ in number')

    @property
    def num_joints(self) -> int:
        """Number of joints K."""
        return len(self.joint_names)

    @property
    def root(self) -> int:
        """Index of the root joint."""
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple:
        """(parent, child) index pairs, one per non-root joint, in joint order."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    @property
    def flip_permutation(self) -> np.ndarray:
        """[K] int64: joint order of the mirrored pose (left and right swapped)."""
        permutation = np.arange(self.num_joints, dtype=np.int64)
        permutation[list(self.left_joints)] = self.right_joints
        permutation[list(self.right_joints)] = self.left_joints
        return permutation

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; ValueError when absent."""
        try:
            return self.joint_names.index(name)
        except ValueError as error:
            raise ValueError(f'joint {name!r} is not in joint set {self.name!r}') from error


ROOT_JOINT = 0
LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)

H36M17 = JointSet(
    name='h36m17',
    joint_names=(
        'Hip', 'RHip', 'RKnee', 'RFoot', 'LHip', 'LKnee', 'LFoot', 'Spine', 'Thorax',
        'Neck', 'Head', 'LShoulder', 'LElbow', 'LWrist', 'RShoulder', 'RElbow', 'RWrist',
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left_joints=LEFT_JOINTS,
    right_joints=RIGHT_JOINTS,
)

ROBUST_JOINT_NAMES = ('Hip', 'LHip', 'RHip', 'LShoulder', 'RShoulder')
ROBUST_JOINTS = tuple(H36M17.index(name) for name in ROBUST_JOINT_NAMES)
FLIP_PERMUTATION = np.array(
    [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13], dtype=np.int64)

HUMANEVA15 = JointSet(
    name='humaneva15',
    joint_names=(
        'Pelvis', 'Thorax', 'LShoulder', 'LElbow', 'LWrist', 'RShoulder', 'RElbow', 'RWrist',
        'LHip', 'LKnee', 'LAnkle', 'RHip', 'RKnee', 'RAnkle', 'Head',
    ),
    parents=(-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1),
    left_joints=(2, 3, 4, 8, 9, 10),
    right_joints=(5, 6, 7, 11, 12, 13),
)

HUMANEVA14 = JointSet(
    name='humaneva14',
    joint_names=HUMANEVA15.joint_names[1:],
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0),
    left_joints=(1, 2, 3, 7, 8, 9),
    right_joints=(4, 5, 6, 10, 11, 12),
)

MPII16 = JointSet(
    name='mpii16',
    joint_names=(
        'r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'pelvis', 'thorax',
        'upper_neck', 'head_top', 'r_wrist', 'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow',
        'l_wrist',
    ),
    parents=(1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 7, 7, 13, 14),
    left_joints=(3, 4, 5, 13, 14, 15),
    right_joints=(2, 1, 0, 12, 11, 10),
)

COCO17 = JointSet(
    name='coco17',
    joint_names=(
        'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
        'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
        'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
    ),
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    left_joints=(1, 3, 5, 7, 9, 11, 13, 15),
    right_joints=(2, 4, 6, 8, 10, 12, 14, 16),
)

PAPER16 = JointSet(
    name='paper16',
    joint_names=tuple(name for name in H36M17.joint_names if name != 'Neck'),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14),
    left_joints=(4, 5, 6, 10, 11, 12),
    right_joints=(1, 2, 3, 13, 14, 15),
)

_BLAZEPOSE_NAMES = (
    'nose', 'left_eye_inner', 'left_eye', 'left_eye_outer', 'right_eye_inner', 'right_eye',
    'right_eye_outer', 'left_ear', 'right_ear', 'mouth_left', 'mouth_right', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_pinky',
    'right_pinky', 'left_index', 'right_index', 'left_thumb', 'right_thumb', 'left_hip',
    'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'left_heel',
    'right_heel', 'left_foot_index', 'right_foot_index',
)

BLAZEPOSE33 = JointSet(
    name='blazepose33',
    joint_names=_BLAZEPOSE_NAMES,
    parents=(-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16,
             11, 12, 23, 24, 25, 26, 27, 28, 27, 28),
    left_joints=(1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
    right_joints=(4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32),
)

JOINT_SETS: dict[str, JointSet] = {
    joint_set.name: joint_set
    for joint_set in (H36M17, HUMANEVA14, HUMANEVA15, MPII16, COCO17, PAPER16, BLAZEPOSE33)
}

# Landmarks mapped onto an H36M-17 joint although they mark a different point of the body:
# {joint set: {H36M-17 joint: what the set's landmark is instead}}. The detector models of
# hpm_ros.data.detector_models simulate these offsets so that the lifter learns them.
LANDMARK_OFFSETS: dict[str, dict[str, str]] = {
    'mpii16': {'Neck': 'upper neck, below the chin (H36M: nose level)',
               'Head': 'head top of the annotation, above the mocap head end',
               'RFoot': 'ankle annotation, above the mocap ankle centre',
               'LFoot': 'ankle annotation, above the mocap ankle centre'},
    'coco17': {'RHip': 'visible hip landmark, a little below the joint centre',
               'LHip': 'visible hip landmark, a little below the joint centre'},
    'blazepose33': {'RHip': 'about 35 % of the way from the hip centre to the pelvis centre',
                    'LHip': 'about 35 % of the way from the hip centre to the pelvis centre'},
}

EXACT = 'exact'
SYNTHESISED = 'synthesised'
MISSING = 'missing'

_LIMBS = ('RHip', 'RKnee', 'RFoot', 'LHip', 'LKnee', 'LFoot', 'LShoulder', 'LElbow', 'LWrist',
          'RShoulder', 'RElbow', 'RWrist')
_HUMANEVA_LIMBS = ('RHip', 'RKnee', 'RAnkle', 'LHip', 'LKnee', 'LAnkle', 'LShoulder', 'LElbow',
                   'LWrist', 'RShoulder', 'RElbow', 'RWrist')
_MPII_LIMBS = ('r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle', 'l_shoulder',
               'l_elbow', 'l_wrist', 'r_shoulder', 'r_elbow', 'r_wrist')
_COCO_LIMBS = ('right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle',
               'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder', 'right_elbow',
               'right_wrist')

# H36M-17 joint name -> joint name of the source set, for landmarks both sets have.
_EXACT: dict[str, dict[str, str]] = {
    'h36m17': {name: name for name in H36M17.joint_names},
    'humaneva14': {**dict(zip(_LIMBS, _HUMANEVA_LIMBS)), 'Thorax': 'Thorax', 'Head': 'Head'},
    'humaneva15': {**dict(zip(_LIMBS, _HUMANEVA_LIMBS)), 'Hip': 'Pelvis', 'Thorax': 'Thorax',
                   'Head': 'Head'},
    'mpii16': {**dict(zip(_LIMBS, _MPII_LIMBS)), 'Hip': 'pelvis', 'Thorax': 'thorax',
               'Neck': 'upper_neck', 'Head': 'head_top'},
    'coco17': dict(zip(_LIMBS, _COCO_LIMBS)),
    'blazepose33': dict(zip(_LIMBS, _COCO_LIMBS)),
    'paper16': {name: name for name in PAPER16.joint_names},
}

# Synthesis rules, applied in order: (H36M-17 joint, operands, where the operands live).
# The joint is the mean of its operands; 'h36m' operands are H36M-17 joints filled before.
_RULES: dict[str, tuple] = {
    'h36m17': (),
    'humaneva14': (('Hip', ('LHip', 'RHip'), 'h36m'), ('Spine', ('Hip', 'Thorax'), 'h36m'),
                   ('Neck', ('Thorax', 'Head'), 'h36m')),
    'humaneva15': (('Spine', ('Hip', 'Thorax'), 'h36m'), ('Neck', ('Thorax', 'Head'), 'h36m')),
    'mpii16': (('Spine', ('Hip', 'Thorax'), 'h36m'),),
    'coco17': (('Hip', ('LHip', 'RHip'), 'h36m'), ('Thorax', ('LShoulder', 'RShoulder'), 'h36m'),
               ('Spine', ('Hip', 'Thorax'), 'h36m'), ('Neck', ('nose',), 'source'),
               ('Head', ('left_eye', 'right_eye'), 'source')),
    'paper16': (('Neck', ('Thorax', 'Head'), 'h36m'),),
    'blazepose33': (('Hip', ('LHip', 'RHip'), 'h36m'),
                    ('Thorax', ('LShoulder', 'RShoulder'), 'h36m'),
                    ('Spine', ('Hip', 'Thorax'), 'h36m'), ('Neck', ('nose',), 'source'),
                    ('Head', ('left_eye', 'right_eye'), 'source')),
}


def get_joint_set(name: str) -> JointSet:
    """Return the registered joint set ``name``; ValueError naming the known sets otherwise."""
    try:
        return JOINT_SETS[name]
    except KeyError as error:
        raise ValueError(
            f'unknown joint set {name!r}; known: {sorted(JOINT_SETS)}') from error


def mapping_status(source: str) -> tuple:
    """Per H36M-17 joint, how ``to_h36m`` obtains it from ``source``.

    Returns 17 strings, each ``EXACT``, ``SYNTHESISED`` or ``MISSING``.
    """
    get_joint_set(source)
    status = {name: MISSING for name in H36M17.joint_names}
    status.update({name: EXACT for name in _EXACT[source]})
    status.update({rule[0]: SYNTHESISED for rule in _RULES[source]})
    return tuple(status[name] for name in H36M17.joint_names)


def _float_array(joints, num_joints: int, set_name: str) -> np.ndarray:
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != num_joints:
        raise ValueError(f'joints of set {set_name!r} must have shape [..., {num_joints}, D], '
                         f'got {joints.shape}')
    if not np.issubdtype(joints.dtype, np.floating):
        joints = joints.astype(np.float64)
    return joints


def to_h36m(joints, source: str, synthesise: bool = True) -> tuple:
    """Map joints of set ``source`` onto H36M-17.

    ``joints``: [..., J, D] (any unit, any frame). Returns ``(h36m [..., 17, D], valid [17]
    bool)``. Joints with an exact counterpart are copied; those the source lacks are synthesised
    by the module's rules when ``synthesise`` is true; the rest are NaN with ``valid`` false.
    ``mapping_status(source)`` tells exact from synthesised joints. ``valid`` depends on the
    source only; NaN inputs propagate to the joints computed from them.
    """
    joint_set = get_joint_set(source)
    joints = _float_array(joints, joint_set.num_joints, source)
    result = np.full(joints.shape[:-2] + (H36M17.num_joints, joints.shape[-1]), np.nan,
                     dtype=joints.dtype)
    valid = np.zeros(H36M17.num_joints, dtype=bool)
    for h36m_name, source_name in _EXACT[source].items():
        index = H36M17.index(h36m_name)
        result[..., index, :] = joints[..., joint_set.index(source_name), :]
        valid[index] = True
    if synthesise:
        for h36m_name, operands, space in _RULES[source]:
            if space == 'h36m':
                values = [result[..., H36M17.index(name), :] for name in operands]
            else:
                values = [joints[..., joint_set.index(name), :] for name in operands]
            index = H36M17.index(h36m_name)
            result[..., index, :] = sum(values[1:], values[0]) / len(values)
            valid[index] = True
    return result, valid


def from_h36m(joints, target: str) -> np.ndarray:
    """Map H36M-17 joints [..., 17, D] onto set ``target``: [..., J, D].

    Target joints with an exact H36M-17 counterpart are copied; the others (COCO's eyes, ears
    and nose) are NaN.
    """
    joint_set = get_joint_set(target)
    joints = _float_array(joints, H36M17.num_joints, H36M17.name)
    result = np.full(joints.shape[:-2] + (joint_set.num_joints, joints.shape[-1]), np.nan,
                     dtype=joints.dtype)
    for h36m_name, target_name in _EXACT[target].items():
        result[..., joint_set.index(target_name), :] = joints[..., H36M17.index(h36m_name), :]
    return result


def bone_side(parent: int, child: int) -> str:
    """'left', 'right' or 'center' for an H36M-17 bone, by its child joint."""
    if child in LEFT_JOINTS:
        return 'left'
    if child in RIGHT_JOINTS:
        return 'right'
    return 'center'
