"""`hpm lift`: 3D poses from any 2D detector's joints, through the keypoints front end.

The detector's joints (h36m17, mpii16, coco17 or blazepose33 layout, pixels) are mapped to
H36M-17 (joints the set lacks get confidence 0), encoded as the checkpoint was trained (the
square box around the confident joints, or rays of a camera turned to the person), fed to
Ψ_T → Ψ_C, corrected so that Ψ_P's projection matches the given joints (confidences as
weights; the checkpoint's stored correction settings unless overridden) and, with
intrinsics, placed in the camera frame by least-squares reprojection. ROS-free; see
:class:`KeypointLifter`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hpm_ros.checkpoint import load_checkpoint
from hpm_ros.data.keypoint_clips import CONFIDENCE_THRESHOLD, INPUT_JOINT_SETS
from hpm_ros.data.keypoint_input import to_camera_frame
from hpm_ros.errors import CheckpointError, HpmError
from hpm_ros.geometry import root_relative
from hpm_ros.lifting import LiftingCore
from hpm_ros.resources import KEYPOINTS_MODEL
from hpm_ros.skeleton import H36M17, get_joint_set

INPUT_KEYS = ('keypoints2d', 'joint_set', 'image_size', 'confidence', 'intrinsics', 'fps')
REQUIRED_KEYS = INPUT_KEYS[:3]
TEMPORAL_MODES = ('window', 'stream')
FRAMES_PER_CHUNK = 1024
# The correction preset that lowers held-out MPJPE of the shipped model (its model card);
# 'paper' barely moves it because the detector's box shifts and scales the 2D target.
DEFAULT_CORRECTION = 'aligned'


class LiftInputError(HpmError, ValueError):
    """2D keypoints (or their metadata) that the lifter cannot use; the message says why."""


def keypoints_model_path() -> Path:
    """The shipped keypoints-front-end checkpoint, ``models/hpm_keypoints.pt``."""
    from hpm_ros.resources import default_model_path

    return default_model_path('blazepose')


def _numeric(name: str, value, shape: tuple, what: str) -> np.ndarray:
    """``value`` as float64 of ``shape`` (None entries: any size), finite; else an error."""
    array = np.asarray(value)
    if array.dtype.kind not in 'biuf':
        raise LiftInputError(f'{name} must be numeric ({what}), got dtype {array.dtype}')
    if array.ndim != len(shape) or any(s is not None and s != n for s, n in
                                       zip(shape, array.shape)):
        expected = ', '.join('N' if s is None else str(s) for s in shape)
        raise LiftInputError(f'{name} must have shape [{expected}] ({what}), '
                             f'got {list(array.shape)}')
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LiftInputError(f'{name} has {int(bad.sum())} NaN or infinite values (first at '
                             f'index {list(first)}); mark a missing joint with confidence 0 '
                             'and any finite position instead')
    return array


@dataclass
class LiftInput:
    """One person's 2D joints over T frames, validated on construction (LiftInputError).

    keypoints2d [T, J, 2] px (x right, y down) in the order of ``joint_set`` ('h36m17',
    'mpii16' or 'coco17'); image_size (W, H) px; confidence [T, J] >= 0 (values above 1 count
    as 1; default all 1); intrinsics [3, 3] camera matrix in px; fps frames per second.
    """

    keypoints2d: np.ndarray
    joint_set: str
    image_size: tuple
    confidence: Optional[np.ndarray] = None
    intrinsics: Optional[np.ndarray] = None
    fps: Optional[float] = None

    def __post_init__(self) -> None:
        joint_set = self.joint_set
        if isinstance(joint_set, np.ndarray) and joint_set.shape == ():
            joint_set = joint_set.item()
        if not isinstance(joint_set, str) or joint_set not in INPUT_JOINT_SETS:
            raise LiftInputError(f'unknown joint_set {joint_set!r}; choose from '
                                 f'{", ".join(INPUT_JOINT_SETS)}')
        self.joint_set = joint_set
        count = get_joint_set(joint_set).num_joints
        keypoints = np.asarray(self.keypoints2d)
        if keypoints.ndim == 3 and keypoints.shape[2] == 2 and keypoints.shape[1] != count:
            raise LiftInputError(f'keypoints2d has {keypoints.shape[1]} joints per frame but '
                                 f'joint set {joint_set!r} has {count}')
        self.keypoints2d = _numeric('keypoints2d', keypoints, (None, count, 2),
                                    f'T frames of {count} {joint_set} joints in pixels')
        frames = len(self.keypoints2d)
        if frames == 0:
            raise LiftInputError('keypoints2d holds no frames (T = 0)')
        size = _numeric('image_size', self.image_size, (2,), 'image width and height in px')
        if (size <= 0).any():
            raise LiftInputError(f'image_size must be positive [W, H], got {size.tolist()}')
        self.image_size = (float(size[0]), float(size[1]))
        if self.confidence is None:
            self.confidence = np.ones((frames, count))
        self.confidence = _numeric('confidence', self.confidence, (frames, count),
                                   'one score per frame and joint')
        if (self.confidence < 0).any():
            raise LiftInputError('confidence must be >= 0 (0 marks a missing joint)')
        self.confidence = np.minimum(self.confidence, 1.0)
        if self.intrinsics is not None:
            self.intrinsics = self._check_intrinsics(self.intrinsics)
        if self.fps is not None:
            fps = _numeric('fps', self.fps, (), 'frames per second')
            if fps <= 0:
                raise LiftInputError(f'fps must be positive, got {float(fps)}')
            self.fps = float(fps)
        self._check_pixels()

    def _check_intrinsics(self, value) -> np.ndarray:
        matrix = _numeric('intrinsics', value, (3, 3), 'camera matrix [[fx, 0, cx], [0, fy, '
                          'cy], [0, 0, 1]] in px')
        width, height = self.image_size
        if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or matrix[1, 0] != 0 \
                or not np.array_equal(matrix[2], [0.0, 0.0, 1.0]):
            raise LiftInputError('intrinsics must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with '
                                 f'fx, fy > 0, got {matrix.tolist()}')
        if not (0 <= matrix[0, 2] <= width and 0 <= matrix[1, 2] <= height):
            raise LiftInputError(f'intrinsics put the principal point ({matrix[0, 2]:g}, '
                                 f'{matrix[1, 2]:g}) outside the {width:g}x{height:g} image; '
                                 'do intrinsics and image_size describe the same image?')
        return matrix

    def _check_pixels(self) -> None:
        present = self.confidence > 0
        if not present.any():
            return
        points = self.keypoints2d[present]
        if np.ptp(points, axis=0).max() < 2.0:
            raise LiftInputError('keypoints2d span less than 2 px: they look like normalised '
                                 'coordinates; pass pixels (x right, y down)')
        width, height = self.image_size
        inside = (points > -width) & (points < 2 * width)
        inside[:, 1] = (points[:, 1] > -height) & (points[:, 1] < 2 * height)
        if inside.all(axis=1).mean() < 0.5:
            raise LiftInputError(f'most keypoints2d lie far outside the {width:g}x{height:g} '
                                 'image: are image_size and keypoints2d in the same pixels?')


def read_lift_input(path) -> LiftInput:
    """The :class:`LiftInput` stored in an npz file (keys as in :data:`INPUT_KEYS`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'lift input {path} not found')
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise LiftInputError(f'{path} is not a readable npz file: {error or "empty file"}') \
            from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise LiftInputError(f'{path} holds a single array (.npy), not an npz archive of named '
                             'arrays; save keypoints2d, joint_set and image_size with np.savez')
    with loaded as data:
        arrays = {key: data[key] for key in data.files}
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise LiftInputError(f'{path} lacks {missing}; an input needs keypoints2d [T, J, 2] px, '
                             f'joint_set and image_size [W, H] (it has {sorted(arrays)})')
    unknown = sorted(set(arrays) - set(INPUT_KEYS))
    if unknown:
        raise LiftInputError(f'{path} has unknown keys {unknown}; known: {list(INPUT_KEYS)}')
    joint_set = arrays['joint_set']
    if joint_set.shape != () or joint_set.dtype.kind not in 'US':
        raise LiftInputError(f'joint_set must be one string, got dtype {joint_set.dtype} shape '
                             f'{list(joint_set.shape)}')
    fps = arrays.get('fps')
    return LiftInput(arrays['keypoints2d'], str(joint_set.item()), arrays['image_size'],
                     arrays.get('confidence'), arrays.get('intrinsics'),
                     None if fps is None else fps)


def _windows(valid: np.ndarray, length: int, stride: int) -> list:
    """Per valid frame t, the frames t - k·stride (k = length-1 .. 0) that are valid without
    a gap in between, as [n, L] index arrays grouped by window length L."""
    groups = {}
    for frame in np.flatnonzero(valid):
        window = [frame]
        while len(window) < length and window[0] - stride >= 0 \
                and valid[window[0] - stride:window[0]].all():
            window.insert(0, window[0] - stride)
        groups.setdefault(len(window), []).append(window)
    return [np.array(windows) for windows in groups.values()]


def _streams(valid: np.ndarray, stride: int) -> list:
    """Index arrays of the frames that one LSTM state runs through: each run of valid frames
    split into ``stride`` interleaved streams."""
    edges = np.flatnonzero(np.diff(np.r_[0, valid.astype(np.int8), 0]))
    return [np.arange(start + offset, stop, stride) for start, stop in edges.reshape(-1, 2)
            for offset in range(min(stride, stop - start))]


class KeypointLifter:
    """2D joint sequences -> 3D poses with a keypoints-front-end checkpoint.

    The sequence logic of `hpm lift` (Ψ_T over windows or streams of frames) around the one
    lifting core (:class:`hpm_ros.lifting.LiftingCore`: input normalisation, the batched
    correction, root placement) that the node's pipeline uses too.

    model_path: checkpoint (default models/hpm_keypoints.pt); correction: preset 'off',
    'paper', 'official' or 'aligned' (default) with knob overrides
    (:class:`hpm_ros.correction.CorrectionConfig`; none: the checkpoint's tuned settings of
    the preset for the input's joint set, :meth:`hpm_ros.lifting.LiftingCore.set_correction`);
    temporal: 'window' (default: each frame's 3D comes from a fresh LSTM state run over the
    last N frames, N the training clip length, as in training) or 'stream' (one state carried
    through each run of valid frames); joint_confidence: joints below it do not define the
    crop box (unless fewer than two pass) nor the root placement.
    """

    def __init__(self, model_path=None, correction: str = DEFAULT_CORRECTION,
                 correction_overrides: dict = None, temporal: str = 'window',
                 joint_confidence: float = CONFIDENCE_THRESHOLD) -> None:
        from hpm_ros.backends.torch_backend import TorchBackend

        if temporal not in TEMPORAL_MODES:
            raise ValueError(f'temporal must be one of {TEMPORAL_MODES}, got {temporal!r}')
        path = Path(model_path) if model_path else keypoints_model_path()
        self.machine, self.checkpoint = load_checkpoint(path)
        if self.machine.config.front_end != 'keypoints':
            raise CheckpointError(
                f'{path} holds a model with the {self.machine.config.front_end!r} front end; '
                f'lifting 2D joints needs a keypoints model such as models/{KEYPOINTS_MODEL}')
        data = self.checkpoint.metadata.get('training', {}).get('data', {})
        self.training_fps = float(data.get('fps', 25.0))
        self.window = int(data.get('clip_length', 8))
        self.temporal, self.joint_confidence = temporal, joint_confidence
        # [lifter issue 13] without knobs, the checkpoint's own settings of the preset (tuned on
        # validation banks per detector, hpm_ros/training/correction_tuning.py).
        self.core = LiftingCore(self.machine, TorchBackend(self.machine), correction,
                                correction_overrides, joint_confidence=joint_confidence,
                                box_threshold=joint_confidence,
                                tuned_correction=self.checkpoint.metadata.get('correction'))
        self.last_rotations = None

    @property
    def corrector(self):
        """The shared correction in use (:class:`hpm_ros.correction.Corrector`); the one for
        2D of a given joint set is ``core.corrector_for(joint_set)``."""
        return self.core.corrector

    def set_correction(self, preset: str, **overrides) -> None:
        """Switch the correction preset (and knobs)."""
        self.core.set_correction(preset, **overrides)

    def stride(self, fps: Optional[float]) -> int:
        """Frames between the LSTM's steps: the input rate over the training rate, rounded."""
        return 1 if fps is None else max(1, int(round(fps / self.training_fps)))

    def prepare(self, data: LiftInput) -> tuple:
        """(H36M-17 keypoints [T, 17, 2] px, confidence [T, 17], normalised crop coordinates
        [T, 17, 2], valid [T] bool: frames with at least two joints of confidence > 0)."""
        # [lifter issue 13] the checkpoint's input encoding needs the image and intrinsics.
        keypoints, confidence, _, normalised, valid, self.last_rotations = \
            self.core.keypoint_inputs(data.keypoints2d, data.confidence, data.joint_set,
                                      data.image_size, data.intrinsics)
        return keypoints, confidence, normalised, valid

    @torch.no_grad()
    def intermediate_3d(self, normalised: np.ndarray, confidence: np.ndarray,
                        valid: np.ndarray, stride: int = 1) -> torch.Tensor:
        """Ψ_T's p3d [V, K, 3] (normalised) of the V valid frames, in frame order."""
        machine, transformer = self.machine, self.machine.transformer
        points = torch.as_tensor(normalised, dtype=torch.float32)
        weights = torch.as_tensor(confidence, dtype=torch.float32)
        adapted = torch.cat([transformer.adapt(machine.encode(points[i:i + FRAMES_PER_CHUNK],
                                                              weights[i:i + FRAMES_PER_CHUNK])[0])
                             for i in range(0, len(points), FRAMES_PER_CHUNK)])
        pose3d = torch.zeros(len(points), machine.config.num_joints, 3)
        if self.temporal == 'window':
            for windows in _windows(valid, self.window, stride):
                hidden, _ = transformer.lstm(adapted[torch.from_numpy(windows)])
                pose3d[windows[:, -1]] = transformer.output(hidden[:, -1]).reshape(
                    len(windows), -1, 3)
        else:
            for frames in _streams(valid, stride):
                hidden, _ = transformer.lstm(adapted[torch.from_numpy(frames)][None])
                pose3d[frames] = transformer.output(hidden[0]).reshape(len(frames), -1, 3)
        return pose3d[torch.from_numpy(valid)]

    def correction_inputs(self, data: LiftInput) -> tuple:
        """What the correction of ``data`` starts from: (H36M-17 keypoints [T, 17, 2] px,
        confidence [T, 17], valid [T] bool, and for the V valid frames Ψ_T's p3d [V, K, 3]
        normalised, the 2D target [V, K, 2] normalised crop coordinates, weights [V, K])."""
        keypoints, confidence, normalised, valid = self.prepare(data)
        pose3d = self.intermediate_3d(normalised, confidence, valid, self.stride(data.fps))
        return (keypoints, confidence, valid, pose3d,
                torch.as_tensor(normalised[valid], dtype=torch.float32),
                torch.as_tensor(confidence[valid], dtype=torch.float32))

    def lift(self, data: LiftInput) -> dict:
        """The arrays `hpm lift` writes (see :func:`lift_file`) for ``data``."""
        keypoints, confidence, valid, pose3d, pose2d, weights = self.correction_inputs(data)
        frames, joints = len(valid), self.machine.config.num_joints
        corrected = np.full((frames, joints, 3), np.nan, dtype=np.float32)
        raw = np.full_like(corrected, np.nan)
        applied = np.zeros(frames, dtype=bool)
        if valid.any():
            result = self.core.correct(pose3d, pose2d, weights, data.joint_set)
            # [lifter issue 13] back from the virtual camera of the 'rays' encoding.
            rotations = None if self.last_rotations is None else self.last_rotations[valid]
            corrected[valid] = to_camera_frame(root_relative(result.pose3d_mm.numpy()),
                                               rotations)
            raw[valid] = to_camera_frame(root_relative(self.machine.denormalise_3d(
                result.uncorrected).numpy()), rotations)
            applied[valid] = result.applied.numpy()
        output = {'joints3d': corrected, 'joints3d_raw': raw, 'correction_applied': applied,
                  'valid': valid, 'joint_names': np.array(H36M17.joint_names)}
        if data.intrinsics is not None:
            output['joints3d_camera'] = self.place(corrected, keypoints, confidence, valid,
                                                   data.intrinsics)
        return output

    def place(self, joints3d: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
              valid: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
        """Camera-frame joints [T, 17, 3] float32 metres: each valid frame's root-relative
        joints3d (mm) moved by the least-squares reprojection root; NaN where it fails."""
        placed = np.full(joints3d.shape, np.nan, dtype=np.float32)
        frames = np.flatnonzero(valid)
        if len(frames):
            camera, how = self.core.place(joints3d[frames], keypoints[frames],
                                          confidence[frames], intrinsics, (1, 1))
            fitted = np.array(how) == 'reprojection'
            placed[frames[fitted]] = camera[fitted]
        return placed


def lift_file(input_path, output_path, model_path=None,
              correction: str = DEFAULT_CORRECTION) -> dict:
    """Lift the npz ``input_path`` and write the npz ``output_path``; returns its arrays.

    Output: joints3d [T, 17, 3] float32 mm root-relative H36M-17 after correction (NaN on
    frames with fewer than two joints of confidence > 0); joints3d_raw the same before
    correction; joints3d_camera [T, 17, 3] float32 metres, camera frame (only with
    intrinsics); correction_applied [T] bool; valid [T] bool; joint_names [17] str.
    """
    data = read_lift_input(input_path)
    output = KeypointLifter(model_path, correction).lift(data)
    path = Path(output_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **output)
    return output


def add_parser(commands) -> None:
    """The `hpm lift` sub-command."""
    parser = commands.add_parser(
        'lift', help='3D poses from any 2D detector\'s joints (npz in, npz out)')
    parser.add_argument('--input', required=True,
                        help='npz: keypoints2d [T, J, 2] px, joint_set (h36m17, mpii16, coco17, '
                        'blazepose33), image_size [W, H]; optional confidence [T, J], '
                        'intrinsics [3, 3], fps')
    parser.add_argument('--output', required=True, help='output .npz')
    parser.add_argument('--model',
                        help=f'keypoints checkpoint (default: models/{KEYPOINTS_MODEL})')
    parser.add_argument('--correction', default=DEFAULT_CORRECTION,
                        help='off, paper, official or aligned (default: aligned, the one that '
                        'lowers held-out MPJPE in models/KEYPOINTS_MODEL_CARD.md)')


def run(args) -> int:
    """Run `hpm lift` with parsed arguments."""
    output = lift_file(args.input, args.output, args.model, args.correction)
    valid = output['valid']
    if valid.any():
        applied = output['correction_applied'][valid].mean()
        print(f'{len(valid)} frames, {valid.mean() * 100:.0f} % with a pose, correction '
              f'applied on {applied * 100:.0f} % of those -> {args.output}')
    else:
        print(f'{len(valid)} frames, none with two or more joints of confidence > 0: no pose '
              f'(valid all False) -> {args.output}')
    return 0
