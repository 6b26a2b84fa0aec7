"""Human3.6M in the formats the community distributes, as flat per-frame numpy arrays.

Accepted inputs (nothing here needs ROS or the original dataset tools):

- 3d-pose-baseline (Martinez et al.) archive: ``{root}/S{n}/MyPoses/3D_positions/{seq}.h5``
  with dataset ``3D_positions`` of shape ``[96, T]`` (32 joints x 3, mm, world frame, joint
  major: row ``3 j + c``), read with :func:`load_h36m_h5`.
- Its ``cameras.h5``: groups ``subject{s}/camera{c}`` (c = 1..4) with ``R`` (stored transposed,
  as MATLAB wrote it), ``T`` (camera centre in world mm), ``f``, ``c``, ``k``, ``p`` and
  ``Name`` (uint8 character codes), read with :func:`load_h36m_cameras`. Camera numbers
  follow that file: 1..4 = 54138969, 55011271, 58860488, 60457274.
- VideoPose3D ``data_3d_h36m.npz`` (``positions_3d[subject][seq]``: ``[T, 32, 3]`` metres,
  world) and optionally ``data_2d_h36m_*.npz`` (``positions_2d[subject][seq][cam]``:
  ``[T, 17, 2]`` pixels, H36M-17 layout), read with :func:`load_h36m_npz`. VideoPose3D keeps
  its camera parameters in code; here cameras come from a user file (``cameras.h5``) or from
  :meth:`Camera.from_quaternion` fed with VideoPose3D's published table.

Outputs are :class:`PoseFrames`: H36M-17 order, millimetres, camera frame when cameras are
given (H36M cameras are optical frames: x right, y down, z forward), world frame otherwise
(H36M world is Z up, mm).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from hpm_ros.geometry import world_to_camera

H36M32_TO_H36M17 = np.array(
    [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27], dtype=np.int64)
CAMERA_NAMES = ('54138969', '55011271', '58860488', '60457274')
SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8', 'S9', 'S11')
ACTION_ALIASES = {'TakingPhoto': 'Photo', 'WalkingDog': 'WalkDog'}
DEFAULT_IMAGE_PATTERN = '{subject}/{sequence}.{camera}/{frame:06d}.jpg'


def subject_name(subject) -> str:
    """'S{n}' for an int n or a string 'S{n}' / '{n}'."""
    text = str(subject)
    if re.fullmatch(r'S?\d+', text) is None:
        raise ValueError(f'subject {subject!r} is neither an int nor "S<number>"')
    return text if text.startswith('S') else f'S{text}'


def canonical_action(sequence: str) -> str:
    """Action of a sequence name: 'Walking 1' -> 'Walking', 'TakingPhoto 1' -> 'Photo'.

    Drops a trailing ' chunk<k>' (HumanEva) and a trailing trial number.
    """
    name = re.sub(r' chunk\d+$', '', sequence)
    name = re.sub(r'\s+\d+$', '', name).strip()
    return ACTION_ALIASES.get(name, name)


@dataclass(frozen=True)
class Camera:
    """A calibrated camera; ``x_cam = rotation @ x_world + translation`` (mm, optical frame).

    ``focal``/``center`` [2] pixels; ``radial`` [3] (k1, k2, k3) and ``tangential`` [2]
    (p1, p2) distortion as used by Human3.6M and 3d-pose-baseline.
    """

    rotation: np.ndarray
    translation: np.ndarray
    focal: np.ndarray
    center: np.ndarray
    radial: np.ndarray
    tangential: np.ndarray
    name: str = ''

    @classmethod
    def from_quaternion(cls, orientation, position, focal, center, radial=(0.0, 0.0, 0.0),
                        tangential=(0.0, 0.0), name: str = '') -> 'Camera':
        """Camera from VideoPose3D's table: ``orientation`` (w, x, y, z) rotates camera axes
        into world axes, ``position`` [3] is the camera centre in world mm."""
        w, x, y, z = np.asarray(orientation, dtype=np.float64) / np.linalg.norm(orientation)
        camera_to_world = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
        rotation = camera_to_world.T
        translation = -rotation @ np.asarray(position, dtype=np.float64)
        return cls(rotation, translation, np.asarray(focal, np.float64),
                   np.asarray(center, np.float64), np.asarray(radial, np.float64),
                   np.asarray(tangential, np.float64), name)

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """[..., 3] world mm -> [..., 3] camera (optical) frame mm, float64."""
        return world_to_camera(points, self.rotation, self.translation)

    def project(self, points: np.ndarray) -> np.ndarray:
        """[..., 3] camera frame mm -> [..., 2] distorted pixels, float64.

        Follows 3d-pose-baseline ``project_point_radial``: with (x, y) = (X/Z, Y/Z) and
        r2 = x^2 + y^2, ``x' = x (radial + p1 y + p2 x) + p2 r2``,
        ``y' = y (radial + p1 y + p2 x) + p1 r2``, pixel = f * (x', y') + c.
        """
        points = np.asarray(points, np.float64)
        xy = points[..., :2] / points[..., 2:3]
        r2 = np.sum(xy * xy, axis=-1, keepdims=True)
        k1, k2, k3 = self.radial
        p1, p2 = self.tangential
        radial = 1.0 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        tangential = p1 * xy[..., 1:2] + p2 * xy[..., 0:1]
        distorted = xy * (radial + tangential) + np.concatenate([p2 * r2, p1 * r2], axis=-1)
        return distorted * self.focal + self.center


def _h5_vector(group, key: str, size: int, where: str) -> np.ndarray:
    if key not in group:
        raise ValueError(f'{where}: dataset {key!r} is missing')
    value = np.asarray(group[key][()], dtype=np.float64)
    if value.size != size:
        raise ValueError(f'{where}/{key}: expected {size} values, found shape {value.shape}')
    return value.reshape(-1)


def load_h36m_cameras(path, subjects: Iterable = SUBJECTS) -> dict:
    """Read 3d-pose-baseline ``cameras.h5`` -> ``{('S1', 1): Camera, ...}`` (cameras 1..4).

    ``R`` is stored transposed and transposed back here; ``T`` is the camera centre in world
    mm, so ``translation = -R @ T``.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: camera file not found')
    cameras = {}
    with h5py.File(path, 'r') as h5:
        for subject in map(subject_name, subjects):
            key = f'subject{subject[1:]}'
            if key not in h5:
                raise ValueError(f'{path}: group {key!r} is missing (subjects: {list(h5)})')
            numbers = sorted(int(k[6:]) for k in h5[key] if re.fullmatch(r'camera\d+', k))
            if not numbers:
                raise ValueError(f'{path}: group {key!r} has no camera<c> groups')
            for number in numbers:
                where = f'{path}:{key}/camera{number}'
                group = h5[f'{key}/camera{number}']
                rotation = _h5_vector(group, 'R', 9, where).reshape(3, 3).T
                centre = _h5_vector(group, 'T', 3, where)
                name = ''
                if 'Name' in group:
                    name = ''.join(chr(int(c)) for c in np.asarray(group['Name'][()]).ravel())
                cameras[(subject, number)] = Camera(
                    rotation, -rotation @ centre, _h5_vector(group, 'f', 2, where),
                    _h5_vector(group, 'c', 2, where), _h5_vector(group, 'k', 3, where),
                    _h5_vector(group, 'p', 2, where), name)
    return cameras


@dataclass
class PoseFrames:
    """Flat per-frame arrays, grouped in contiguous runs of one (subject, sequence, camera).

    ``poses_3d`` [N, 17, 3] float32 mm, H36M-17 order, in ``frame_of_reference`` ('camera'
    or 'world'); ``poses_2d`` [N, 17, 2] float32 pixels or None; ``subject`` [N] str ('S1');
    ``action`` [N] str canonical action ('Walking'); ``sequence`` [N] str file sequence name
    ('Walking 1'); ``camera`` [N] int64 camera number (1-based, 0 = no camera); ``frame`` [N]
    int64 frame index in the original sequence.
    """

    poses_3d: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    sequence: np.ndarray
    camera: np.ndarray
    frame: np.ndarray
    frame_of_reference: str
    poses_2d: np.ndarray | None = None

    def __post_init__(self):
        """Check shapes and the frame name."""
        if self.frame_of_reference not in ('camera', 'world'):
            raise ValueError(f'frame_of_reference must be camera or world, '
                             f'got {self.frame_of_reference!r}')
        if self.poses_3d.ndim != 3 or self.poses_3d.shape[1:] != (17, 3):
            raise ValueError(f'poses_3d must be [N, 17, 3], got {self.poses_3d.shape}')
        count = len(self.poses_3d)
        if self.poses_2d is not None and self.poses_2d.shape != (count, 17, 2):
            raise ValueError(f'poses_2d must be [{count}, 17, 2], got {self.poses_2d.shape}')
        for label in ('subject', 'action', 'sequence', 'camera', 'frame'):
            if getattr(self, label).shape != (count,):
                raise ValueError(f'{label} must have shape ({count},), '
                                 f'got {getattr(self, label).shape}')

    def __len__(self) -> int:
        """Number of frames N."""
        return len(self.poses_3d)

    def take(self, indices) -> 'PoseFrames':
        """The frames at ``indices`` (int array or boolean mask), in that order."""
        indices = np.asarray(indices)
        return PoseFrames(
            self.poses_3d[indices], self.subject[indices], self.action[indices],
            self.sequence[indices], self.camera[indices], self.frame[indices],
            self.frame_of_reference,
            None if self.poses_2d is None else self.poses_2d[indices])

    def segments(self) -> list:
        """(start, stop) index pairs of the runs of equal (subject, sequence, camera)."""
        if len(self) == 0:
            return []
        change = ((self.subject[1:] != self.subject[:-1])
                  | (self.sequence[1:] != self.sequence[:-1])
                  | (self.camera[1:] != self.camera[:-1]))
        bounds = np.concatenate([[0], np.flatnonzero(change) + 1, [len(self)]])
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def read_npz_dict(path, key: str) -> dict:
    """The pickled dict stored under ``key`` in a VideoPose3D-style npz file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: file not found')
    with np.load(path, allow_pickle=True) as data:
        if key not in data.files:
            raise ValueError(f'{path}: no entry {key!r}; entries are {sorted(data.files)}')
        value = data[key]
    if value.shape != () or not isinstance(value.item(), dict):
        raise ValueError(f'{path}: {key!r} is not a pickled dict (dtype {value.dtype}, '
                         f'shape {value.shape})')
    return value.item()


def check_2d_metadata(path, metadata: dict, layout: str, num_joints: int) -> None:
    """ValueError when VideoPose3D 2D ``metadata`` names another layout or joint count."""
    name = metadata.get('layout_name', layout)
    if name != layout or int(metadata.get('num_joints', num_joints)) != num_joints:
        raise ValueError(f'{path}: 2D keypoints are layout {name!r} with '
                         f'{metadata.get("num_joints")} joints; expected {layout!r} with '
                         f'{num_joints}')


def build_frames(positions_3d: Mapping, to_mm: float, to_h36m17: Callable,
                 cameras: Mapping | None = None, positions_2d: Mapping | None = None,
                 source: str = '') -> PoseFrames:
    """Flatten ``positions_3d[subject][sequence]`` ([T, J, 3] world) into :class:`PoseFrames`.

    ``to_mm`` scales file units to mm; ``to_h36m17`` maps [..., J, D] to [..., 17, D].
    Without cameras and 2D: one run per sequence, world frame, camera 0. Otherwise one run per
    camera: the 2D file's cameras (``positions_2d[subject][sequence][c]``, extra trailing
    frames dropped as VideoPose3D does) or the subject's cameras, 3D in the camera frame when
    ``cameras`` (``{(subject, number): Camera}``, subject without any 'Train/' prefix) is given;
    2D from the file, else projected with the camera.
    """
    columns = {name: [] for name in ('p3', 'p2', 'subject', 'sequence', 'camera', 'frame')}
    for subject in sorted(positions_3d):
        short = subject.split('/')[-1]
        for sequence in sorted(positions_3d[subject]):
            where = f'{source}[{subject!r}][{sequence!r}]'
            world = np.asarray(positions_3d[subject][sequence], dtype=np.float64)
            if world.ndim != 3 or world.shape[2] != 3:
                raise ValueError(f'{where}: expected [T, J, 3] positions, got {world.shape}')
            world = to_h36m17(world) * to_mm
            views = [(0, None)]
            if positions_2d is not None:
                if sequence not in positions_2d.get(subject, {}):
                    raise ValueError(f'{where}: no 2D keypoints for this sequence')
                views = list(enumerate(positions_2d[subject][sequence], start=1))
            elif cameras is not None:
                views = [(n, None) for s, n in sorted(cameras) if s == short]
                if not views:
                    raise ValueError(f'{where}: no cameras for subject {short!r}')
            for number, keypoints in views:
                pose_3d, pose_2d = world, None
                if cameras is not None:
                    if (short, number) not in cameras:
                        raise ValueError(f'{where}: no camera ({short!r}, {number})')
                    pose_3d = cameras[(short, number)].world_to_camera(world)
                    pose_2d = cameras[(short, number)].project(pose_3d)
                if keypoints is not None:
                    keypoints = np.asarray(keypoints, dtype=np.float64)
                    if keypoints.ndim != 3 or keypoints.shape[0] < len(world) \
                            or keypoints.shape[2] != 2:
                        raise ValueError(f'{where}[{number - 1}]: 2D keypoints of shape '
                                         f'{keypoints.shape} do not cover {len(world)} frames')
                    pose_2d = to_h36m17(keypoints[:len(world)])
                columns['p3'].append(pose_3d)
                columns['p2'].append(pose_2d)
                columns['subject'].append(np.full(len(world), subject))
                columns['sequence'].append(np.full(len(world), sequence))
                columns['camera'].append(np.full(len(world), number, dtype=np.int64))
                columns['frame'].append(np.arange(len(world), dtype=np.int64))
    if not columns['p3']:
        raise ValueError(f'{source}: no sequences selected')
    sequence = np.concatenate(columns['sequence'])
    has_2d = columns['p2'][0] is not None
    return PoseFrames(
        np.concatenate(columns['p3']).astype(np.float32), np.concatenate(columns['subject']),
        np.array([canonical_action(s) for s in sequence]), sequence,
        np.concatenate(columns['camera']), np.concatenate(columns['frame']),
        'camera' if cameras is not None else 'world',
        np.concatenate(columns['p2']).astype(np.float32) if has_2d else None)


def h36m_to_17(positions: np.ndarray) -> np.ndarray:
    """[..., 32, D] full Human3.6M joints -> [..., 17, D]; 17-joint input passes unchanged."""
    if positions.shape[-2] == 32:
        return positions[..., H36M32_TO_H36M17, :]
    if positions.shape[-2] == 17:
        return positions
    raise ValueError(f'Human3.6M poses need 32 or 17 joints, got shape {positions.shape}')


def load_h36m_h5(root, subjects: Iterable = SUBJECTS,
                 cameras: Mapping | None = None) -> PoseFrames:
    """Read the 3d-pose-baseline layout ``{root}/S{n}/MyPoses/3D_positions/*.h5``.

    World frame (mm) without ``cameras``; with them (from :func:`load_h36m_cameras`) one copy
    per camera in its frame, with 2D poses projected by that camera.
    """
    import h5py

    root = Path(root)
    positions = {}
    for subject in map(subject_name, subjects):
        folder = root / subject / 'MyPoses' / '3D_positions'
        files = sorted(folder.glob('*.h5'))
        if not files:
            raise FileNotFoundError(f'{folder}: no .h5 files (expected {{root}}/{subject}/'
                                    'MyPoses/3D_positions/<sequence>.h5)')
        positions[subject] = {}
        for file in files:
            with h5py.File(file, 'r') as h5:
                if '3D_positions' not in h5:
                    raise ValueError(f'{file}: dataset "3D_positions" is missing')
                data = np.asarray(h5['3D_positions'][()], dtype=np.float64)
            if data.ndim != 2 or data.shape[0] != 96:
                raise ValueError(f'{file}: "3D_positions" must be [96, T], got {data.shape}')
            positions[subject][file.stem] = data.reshape(32, 3, -1).transpose(2, 0, 1)
    return build_frames(positions, 1.0, h36m_to_17, cameras, source=str(root))


def select_subjects(positions: dict, wanted: list, path) -> dict:
    """The entries of ``positions`` for the ``wanted`` subjects, in that order; ValueError
    naming the file when one is missing."""
    missing = [s for s in wanted if s not in positions]
    if missing:
        raise ValueError(f'{path}: subjects {missing} missing; file has {sorted(positions)}')
    return {s: positions[s] for s in wanted}


def load_h36m_npz(path_3d, path_2d=None, subjects: Iterable | None = None,
                  cameras: Mapping | None = None) -> PoseFrames:
    """Read VideoPose3D ``data_3d_h36m.npz`` (metres) and optionally a ``data_2d_h36m_*.npz``.

    With ``path_2d`` the frames follow its cameras (1..4 in list order); ``subjects`` None
    keeps every subject of the 3D file.
    """
    positions = read_npz_dict(path_3d, 'positions_3d')
    if subjects is not None:
        positions = select_subjects(positions, [subject_name(s) for s in subjects], path_3d)
    keypoints = None
    if path_2d is not None:
        keypoints = read_npz_dict(path_2d, 'positions_2d')
        check_2d_metadata(path_2d, read_npz_dict(path_2d, 'metadata'), 'h36m', 17)
    return build_frames(positions, 1000.0, h36m_to_17, cameras, keypoints, str(path_3d))


def image_paths(frames: PoseFrames, root, pattern: str = DEFAULT_IMAGE_PATTERN,
                camera_names=CAMERA_NAMES, frame_offset: int = 0,
                check: bool = True) -> np.ndarray:
    """[N] str image paths ``root / pattern`` for each frame.

    ``pattern`` fields: ``subject`` ('S1'), ``sequence`` ('Walking 1'), ``action``
    ('Walking'), ``camera`` (``camera_names[number - 1]``, e.g. '54138969'),
    ``camera_number`` (1..4) and ``frame`` (frame index + ``frame_offset``; use 1 for
    1-based file numbering). With ``check`` a missing file raises FileNotFoundError.
    """
    root = Path(root)
    paths = []
    for subject, action, sequence, number, frame in zip(
            frames.subject, frames.action, frames.sequence, frames.camera, frames.frame):
        if not 1 <= number <= len(camera_names):
            raise ValueError(f'frame of {subject} {sequence} has camera {number}; image '
                             f'paths need camera numbers 1..{len(camera_names)}')
        path = root / pattern.format(
            subject=subject, sequence=sequence, action=action, camera=camera_names[number - 1],
            camera_number=int(number), frame=int(frame) + frame_offset)
        if check and not path.is_file():
            raise FileNotFoundError(f'{path}: image not found (pattern {pattern!r})')
        paths.append(str(path))
    return np.array(paths)


def load_image(path) -> np.ndarray:
    """Read an image file -> [H, W, 3] uint8 RGB."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: image not found')
    with Image.open(path) as image:
        return np.asarray(image.convert('RGB'), dtype=np.uint8)
