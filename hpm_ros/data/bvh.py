"""BVH motion files: parser and forward kinematics to world joint positions.

Conventions (Biovision BVH as written by MotionBuilder, cgspeed, iClone, bvhacker):

- Each joint's local transform is ``T(translation) @ R``. The translation is the joint's
  OFFSET plus its position channels, if any (the root, and joints exported with 6 channels):
  "for the root, the translation data will be the sum of the offset data and the translation
  data from the motion section" (Meredith & Maddock, Motion Capture File Formats Explained).
- Rotation channels compose in the order they are listed: ``Zrotation Yrotation Xrotation``
  gives ``R = Rz @ Ry @ Rx`` (angles in degrees), so the last listed axis acts first.
- ``End Site`` blocks become joints named ``<parent>_end`` without channels.

:func:`read_bvh` returns positions in the file's own units and axes; :func:`bvh_to_h36m` maps
the CMU skeleton flavours of :mod:`hpm_ros.data.bvh_rigs` to Human3.6M-17 in the project world
frame (Z up, millimetres).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpm_ros.data.bvh_rigs import FOLDER_RIGS, NOMINAL_LEG_MM, detect_rig, rig_by_name

CHANNEL_NAMES = (
    'Xposition', 'Yposition', 'Zposition', 'Xrotation', 'Yrotation', 'Zrotation')


class BvhFormatError(ValueError):
    """A BVH text that cannot be parsed (bad keyword, channel, count or number)."""


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file with world joint positions, in the file's units and axes.

    ``names``/``parents``/``offsets``/``channels`` describe the joints in file order (end
    sites included, named ``<parent>_end``); ``parents[j]`` is -1 for the root.
    ``positions`` is ``[T, J, 3] float64`` in file units and the file's world axes.
    """

    names: tuple
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple
    frame_time: float
    motion: np.ndarray
    positions: np.ndarray

    @property
    def fps(self) -> float:
        """Frames per second (1 / Frame Time)."""
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.positions.shape[0])

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; ValueError when absent."""
        try:
            return self.names.index(name)
        except ValueError as error:
            raise ValueError(f'joint {name!r} is not in this BVH file') from error


def axis_rotations(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` about axis ``'X'|'Y'|'Z'`` by ``degrees`` [...]."""
    angle = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    cos, sin = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i = 'XYZ'.index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j] = cos
    out[..., k, k] = cos
    out[..., j, k] = -sin
    out[..., k, j] = sin
    return out


def forward_kinematics(parents: np.ndarray, offsets: np.ndarray, channels: tuple,
                       motion: np.ndarray) -> np.ndarray:
    """World joint positions from BVH channel values.

    parents: ``[J]`` int, each parent before its children, -1 for the root;
    offsets: ``[J, 3]``; channels: per joint a tuple of channel names;
    motion: ``[T, C]`` channel values, joints' channels concatenated in joint order.
    Returns ``[T, J, 3] float64`` in the units and axes of the offsets.
    """
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 2:
        raise ValueError(f'motion must be [T, C], got shape {motion.shape}')
    num_channels = sum(len(c) for c in channels)
    if motion.shape[1] != num_channels:
        raise ValueError(f'motion has {motion.shape[1]} columns, hierarchy needs {num_channels}')
    num_frames = motion.shape[0]
    positions = np.zeros((num_frames, len(parents), 3))
    rotations = np.zeros((num_frames, len(parents), 3, 3))
    column = 0
    for joint, (parent, joint_channels) in enumerate(zip(parents, channels)):
        translation = np.broadcast_to(np.asarray(offsets[joint], float), (num_frames, 3)).copy()
        local = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        for name in joint_channels:
            values = motion[:, column]
            column += 1
            if name.endswith('position'):
                translation[:, 'XYZ'.index(name[0])] += values
            else:
                local = local @ axis_rotations(name[0], values)
        if parent < 0:
            positions[:, joint] = translation
            rotations[:, joint] = local
        else:
            parent_rotation = rotations[:, parent]
            positions[:, joint] = positions[:, parent] + np.einsum(
                'tij,tj->ti', parent_rotation, translation)
            rotations[:, joint] = parent_rotation @ local
    return positions


def _parse_hierarchy(tokens: list) -> tuple:
    """(names, parents, offsets, channels, index after MOTION) from whitespace tokens."""
    names, parents, offsets, channels = [], [], [], []
    stack = []
    pos = 0

    def take(count: int) -> list:
        nonlocal pos
        if pos + count > len(tokens):
            raise BvhFormatError('unexpected end of file in HIERARCHY')
        out = tokens[pos:pos + count]
        pos += count
        return out

    if take(1) != ['HIERARCHY']:
        raise BvhFormatError('file does not start with HIERARCHY')
    while True:
        (word,) = take(1)
        if word in ('ROOT', 'JOINT'):
            if (word == 'ROOT') != (not stack):
                raise BvhFormatError(f'{word} at the wrong nesting level')
            (name,) = take(1)
            parents.append(stack[-1] if stack else -1)
            names.append(name)
            offsets.append(None)
            channels.append(())
        elif word == 'End':
            if take(1) != ['Site'] or not stack:
                raise BvhFormatError('malformed End Site')
            parents.append(stack[-1])
            names.append(f'{names[stack[-1]]}_end')
            offsets.append(None)
            channels.append(())
        elif word == '{':
            stack.append(len(names) - 1)
        elif word == '}':
            if not stack:
                raise BvhFormatError('unbalanced }')
            stack.pop()
        elif word == 'OFFSET':
            try:
                offsets[-1] = [float(v) for v in take(3)]
            except (ValueError, IndexError) as error:
                raise BvhFormatError('bad OFFSET') from error
        elif word == 'CHANNELS':
            try:
                count = int(take(1)[0])
            except ValueError as error:
                raise BvhFormatError('bad CHANNELS count') from error
            joint_channels = tuple(take(count))
            unknown = set(joint_channels) - set(CHANNEL_NAMES)
            if unknown or len(set(joint_channels)) != count:
                raise BvhFormatError(f'bad channels {joint_channels} of {names[-1]!r}')
            channels[-1] = joint_channels
        elif word == 'MOTION':
            if stack or not names:
                raise BvhFormatError('MOTION before the hierarchy is closed')
            break
        else:
            raise BvhFormatError(f'unexpected token {word!r} in HIERARCHY')
    missing = [n for n, o in zip(names, offsets) if o is None]
    if missing:
        raise BvhFormatError(f'joints without OFFSET: {missing[:3]}')
    return names, parents, offsets, channels, pos


def parse_bvh(text: str, extra_sites: tuple = ()) -> BvhMotion:
    """Parse BVH text (HIERARCHY + MOTION) and run forward kinematics.

    extra_sites: ``(name, parent name, (x, y, z) local offset)`` end sites to add before
    forward kinematics, e.g. a head top that the file lacks.
    """
    head, separator, tail = text.partition('MOTION')
    if not separator:
        raise BvhFormatError('no MOTION section')
    names, parents, offsets, channels, _ = _parse_hierarchy(head.split() + ['MOTION'])
    for name, parent, offset in extra_sites:
        if parent not in names or name in names:
            raise ValueError(f'extra site {name!r}: parent {parent!r} missing or name taken')
        names.append(name)
        parents.append(names.index(parent))
        offsets.append([float(v) for v in offset])
        channels.append(())
    lines = tail.lstrip().split('\n', 2)
    if len(lines) < 2:
        raise BvhFormatError('MOTION section lacks Frames / Frame Time lines')
    try:
        frames_key, frames_value = lines[0].split(':')
        time_key, time_value = lines[1].split(':')
        num_frames = int(frames_value)
        frame_time = float(time_value)
    except ValueError as error:
        raise BvhFormatError('bad Frames / Frame Time lines') from error
    if frames_key.strip() != 'Frames' or time_key.strip() != 'Frame Time' or frame_time <= 0:
        raise BvhFormatError('bad Frames / Frame Time lines')
    num_channels = sum(len(c) for c in channels)
    try:
        values = np.array((lines[2] if len(lines) > 2 else '').split(), dtype=np.float64)
    except ValueError as error:
        raise BvhFormatError('non-numeric value in MOTION data') from error
    if values.size != num_frames * num_channels:
        raise BvhFormatError(
            f'MOTION has {values.size} values, expected {num_frames} frames x {num_channels}')
    motion = values.reshape(num_frames, num_channels)
    parents_array = np.asarray(parents, dtype=np.int64)
    offsets_array = np.asarray(offsets, dtype=np.float64)
    positions = forward_kinematics(parents_array, offsets_array, tuple(channels), motion)
    return BvhMotion(names=tuple(names), parents=parents_array, offsets=offsets_array,
                     channels=tuple(channels), frame_time=frame_time, motion=motion,
                     positions=positions)


def read_bvh(path: str | Path, extra_sites: tuple = ()) -> BvhMotion:
    """Read a BVH file; see :func:`parse_bvh`."""
    return parse_bvh(Path(path).read_text(encoding='utf-8', errors='replace'), extra_sites)


def _y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """Rotate Y-up coordinates to Z-up (+90 deg about x): (x, y, z) -> (x, -z, y)."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def bvh_to_h36m(path: str | Path, rig: str | None = None,
                floor: bool = True) -> tuple[np.ndarray, float]:
    """Human3.6M-17 joint positions from a BVH file of a known skeleton flavour.

    rig: a name from :data:`hpm_ros.data.bvh_rigs.RIGS`, or None to detect it from the joint names
    (or from :data:`~hpm_ros.data.bvh_rigs.FOLDER_RIGS` by the file's folder). floor: shift
    vertically so that the floor (the 2nd percentile over frames of the lowest rig joint) is at z =
    0. Returns ``(poses [T, 17, 3] float32, mm, world frame Z up, fps)``; see
    :mod:`hpm_ros.data.bvh_rigs` for the joint choices.
    """
    text = Path(path).read_text(encoding='utf-8', errors='replace')
    rig = rig or FOLDER_RIGS.get(Path(path).parent.name)
    if rig is None:
        head = text.partition('MOTION')[0].split()
        names = [head[i + 1] for i, word in enumerate(head[:-1]) if word in ('ROOT', 'JOINT')]
        spec = detect_rig(tuple(names))
    else:
        spec = rig_by_name(rig)
    motion = parse_bvh(text, spec.virtual_sites)
    positions = motion.positions[1:] if spec.drop_first_frame else motion.positions
    if positions.shape[0] == 0:
        raise ValueError(f'{path}: no frames left')
    if spec.mm_per_unit is None:
        leg = [motion.index(name) for name in spec.leg_joints]
        lengths = np.linalg.norm(motion.offsets[leg], axis=1)
        scale = NOMINAL_LEG_MM / (lengths.sum() / 2.0)
    else:
        scale = spec.mm_per_unit
    points = positions * scale
    if spec.up_axis == 'y':
        points = _y_up_to_z_up(points)
    if floor:
        points[..., 2] -= np.percentile(points[..., 2].min(axis=1), 2.0)
    poses = np.stack([
        points[:, [motion.index(name) for name in group]].mean(axis=1)
        for group in spec.joints], axis=1)
    return poses.astype(np.float32), motion.fps
