"""Procedural Human3.6M-17 motion: walking, turning, reaching, crouching, waving, random poses.

A small angle-based body model (:class:`BodyShape` bone lengths, joint angles in degrees within
:data:`JOINT_LIMITS`) is driven by smooth angle trajectories and posed by forward kinematics,
so bone lengths are constant within a sequence. The body frame has x forward, y left, z up;
``heading`` turns it about the world Z axis. Each frame is lifted so that its lower ankle is
``ankle_height`` above the floor (z = 0). Output is ``[T, 17, 3] float32``, mm, world Z up.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from hpm_ros.data.bvh import axis_rotations

ACTIONS = ('walk', 'turn', 'reach', 'crouch', 'wave', 'random')
ACTION_LABELS = {'walk': 'Walking', 'turn': 'Turning', 'reach': 'Reaching',
                 'crouch': 'Crouching', 'wave': 'Waving', 'random': 'Random'}

_SIDE_LIMITS = {'hip_flex': (-25.0, 110.0), 'hip_abd': (-10.0, 40.0), 'knee': (0.0, 140.0),
                'shoulder_flex': (-40.0, 170.0), 'shoulder_abd': (-5.0, 160.0),
                'arm_twist': (-60.0, 70.0), 'elbow': (0.0, 145.0)}
JOINT_LIMITS = {
    'pelvis_pitch': (-10.0, 30.0), 'pelvis_roll': (-10.0, 10.0), 'torso_bend': (-20.0, 60.0),
    'torso_side': (-25.0, 25.0), 'torso_twist': (-40.0, 40.0), 'head_pitch': (-35.0, 45.0),
    'head_yaw': (-60.0, 60.0),
    **{f'{side}{name}': limits for side in 'LR' for name, limits in _SIDE_LIMITS.items()},
}
PARAMS = tuple(JOINT_LIMITS)
_LOW = np.array([JOINT_LIMITS[name][0] for name in PARAMS])
_HIGH = np.array([JOINT_LIMITS[name][1] for name in PARAMS])
_STAND = {'Lelbow': 12.0, 'Relbow': 12.0, 'Lshoulder_abd': 8.0, 'Rshoulder_abd': 8.0,
          'Lknee': 4.0, 'Rknee': 4.0, 'Lhip_flex': 2.0, 'Rhip_flex': 2.0, 'torso_bend': 3.0}


@dataclass(frozen=True)
class BodyShape:
    """Bone lengths in mm (H36M-17 bones) and the ankle height above the sole."""

    pelvis_half_width: float = 130.0
    thigh: float = 450.0
    shin: float = 440.0
    hip_to_spine: float = 230.0
    spine_to_thorax: float = 250.0
    thorax_to_neck: float = 115.0
    neck_to_head: float = 115.0
    shoulder_half_width: float = 150.0
    upper_arm: float = 280.0
    forearm: float = 250.0
    ankle_height: float = 80.0


def random_body(rng: np.random.Generator) -> BodyShape:
    """Draw a body scaled by U(0.88, 1.1) overall and U(0.92, 1.08) per bone (left = right)."""
    scale = rng.uniform(0.88, 1.1)
    nominal = BodyShape()
    return replace(nominal, **{f.name: getattr(nominal, f.name) * scale * rng.uniform(0.92, 1.08)
                               for f in fields(BodyShape)})


def _angles(num_frames: int, **tracks) -> np.ndarray:
    """``[T, P]`` degrees: the standing pose plus the given per-parameter tracks."""
    out = np.zeros((num_frames, len(PARAMS)))
    for name, value in {**_STAND, **tracks}.items():
        out[:, PARAMS.index(name)] = value
    return out


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float,
                  max_hz: float = 0.6) -> np.ndarray:
    """Sum of three random low-frequency sinusoids over times ``t`` [T] s."""
    freqs = rng.uniform(0.05, max_hz, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    return amplitude / 2.0 * np.sin(2 * np.pi * freqs * t[:, None] + phases).sum(axis=1)


def _keyframes(rng: np.random.Generator, t: np.ndarray, values, interval=(0.6, 1.5)):
    """Minimum-jerk interpolation through random-time keyframes.

    values: callable ``k -> [D]`` giving the k-th key value. Returns ``[T, D]``.
    """
    times = [float(t[0])]
    while times[-1] <= t[-1]:
        times.append(times[-1] + rng.uniform(*interval))
    keys = np.stack([np.asarray(values(k), dtype=np.float64) for k in range(len(times))])
    times = np.asarray(times)
    index = np.clip(np.searchsorted(times, t, side='right') - 1, 0, len(times) - 2)
    s = (t - times[index]) / (times[index + 1] - times[index])
    w = (s ** 3 * (10 - 15 * s + 6 * s * s))[:, None]
    return keys[index] * (1 - w) + keys[index + 1] * w


def _gait(rng, t, speed, heading, cadence=None):
    """Angles and root path of walking at about ``speed`` mm/s.

    cadence: strides/s; None picks one in [0.75, 1.1] and adjusts the speed so that the feet
    do not slide (stride = four times the leg length times the sine of the hip swing).
    """
    hip_amp, knee_amp, arm_amp = rng.uniform(18, 28), rng.uniform(45, 60), rng.uniform(10, 25)
    if cadence is None:
        stride = 4 * 890.0 * np.sin(np.deg2rad(hip_amp))
        cadence = np.clip(speed / stride, 0.75, 1.1)
        speed = cadence * stride
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    tracks = {'torso_bend': rng.uniform(2, 8), 'torso_twist': 5 * np.sin(phase)}
    for side, offset in (('L', 0.0), ('R', np.pi)):
        leg = phase + offset
        tracks[f'{side}hip_flex'] = 6 + hip_amp * np.sin(leg)
        tracks[f'{side}knee'] = 5 + knee_amp * (0.5 + 0.5 * np.cos(leg)) ** 2
        tracks[f'{side}shoulder_flex'] = arm_amp * np.sin(leg + np.pi)
        tracks[f'{side}elbow'] = 15 + 10 * (0.5 + 0.5 * np.sin(leg + np.pi))
    step = np.diff(t, prepend=t[0])[:, None] * speed
    direction = np.stack([np.cos(np.deg2rad(heading)), np.sin(np.deg2rad(heading))], axis=1)
    return _angles(len(t), **tracks), np.cumsum(step * direction, axis=0)


def _walk(rng, t):
    """Walk straight on at 0.9-1.6 m/s."""
    heading = np.full_like(t, rng.uniform(-180, 180)) + _smooth_noise(rng, t, 5.0, 0.2)
    angles, path = _gait(rng, t, rng.uniform(900, 1600), heading)
    return angles, heading, path


def _turn(rng, t):
    """Walk on a curve, or step on the spot while turning by 90-270 deg."""
    start = rng.uniform(-180, 180)
    sign = rng.choice([-1.0, 1.0])
    if rng.random() < 0.5:
        heading = start + sign * rng.uniform(30, 90) * t
        angles, path = _gait(rng, t, rng.uniform(700, 1300), heading)
    else:
        total = sign * rng.uniform(90, 270)
        s = np.clip(t / max(t[-1], 1e-6), 0, 1)
        heading = start + total * s ** 3 * (10 - 15 * s + 6 * s * s)
        angles, path = _gait(rng, t, rng.uniform(0, 250), heading, rng.uniform(0.7, 0.95))
    return angles, heading, path


def _reach(rng, t):
    """Reach forward/up/sideways with one or both arms, leaning into the reach."""
    sides = [['L'], ['R'], ['L', 'R']][rng.integers(3)]

    def key(k):
        if k % 2 == 0:
            return [0, 8, 15, 0]
        return [rng.uniform(40, 150), rng.uniform(0, 60), rng.uniform(0, 40),
                rng.uniform(-20, 20)]
    tracks = {}
    for side in sides:
        arm = _keyframes(rng, t, key, (0.7, 1.4))
        tracks.update({f'{side}shoulder_flex': arm[:, 0], f'{side}shoulder_abd': arm[:, 1],
                       f'{side}elbow': arm[:, 2], f'{side}arm_twist': arm[:, 3]})
    reach = sum(tracks[f'{side}shoulder_flex'] for side in sides) / len(sides)
    tracks['torso_bend'] = 3 + 0.15 * reach
    tracks['torso_twist'] = (0.1 if sides == ['R'] else -0.1 if sides == ['L'] else 0) * reach
    heading = np.full_like(t, rng.uniform(-180, 180))
    return _angles(len(t), **tracks), heading, np.zeros((len(t), 2))


def _crouch(rng, t):
    """Squat down and up again, arms forward for balance."""
    depth = _keyframes(rng, t, lambda k: [0.0 if k % 2 == 0 else rng.uniform(0.4, 1.0)],
                       (0.8, 1.6))[:, 0]
    tracks = {'knee': 5 + 125 * depth, 'hip_flex': 3 + 95 * depth,
              'shoulder_flex': 45 * depth * rng.uniform(0.3, 1.2), 'elbow': 12 + 20 * depth}
    tracks = {f'{side}{name}': value for name, value in tracks.items() for side in 'LR'}
    tracks.update(pelvis_pitch=15 * depth, torso_bend=3 + 20 * depth)
    heading = np.full_like(t, rng.uniform(-180, 180))
    return _angles(len(t), **tracks), heading, np.zeros((len(t), 2))


def _wave(rng, t):
    """Wave a raised hand, or flap both arms up and down."""
    raise_up = np.clip(t / 1.0, 0, 1)
    raise_up = raise_up ** 3 * (10 - 15 * raise_up + 6 * raise_up ** 2)
    phase = rng.uniform(0, 2 * np.pi)
    if rng.random() < 0.6:
        side = 'L' if rng.random() < 0.5 else 'R'
        swing = np.sin(2 * np.pi * rng.uniform(1.0, 2.5) * t + phase)
        tracks = {f'{side}shoulder_abd': 8 + raise_up * (rng.uniform(80, 140) + 10 * swing),
                  f'{side}shoulder_flex': raise_up * rng.uniform(0, 40),
                  f'{side}elbow': 12 + raise_up * (45 + 30 * swing)}
    else:
        swing = np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * t + phase)
        flap = 8 + (0.5 + 0.5 * swing) * rng.uniform(60, 150) * raise_up
        tracks = {'Lshoulder_abd': flap, 'Rshoulder_abd': flap}
    heading = np.full_like(t, rng.uniform(-180, 180))
    return _angles(len(t), **tracks), heading, np.zeros((len(t), 2))


def _random(rng, t):
    """Move between random poses within the joint limits (legs milder), smoothly."""
    soft = np.array([0.5 if 'hip' in name or 'knee' in name or 'pelvis' in name else 1.0
                     for name in PARAMS])
    stand = _angles(1)[0]

    def key(k):
        target = rng.uniform(_LOW, _HIGH)
        return stand + soft * rng.uniform(0.3, 1.0) * (target - stand)
    angles = _keyframes(rng, t, key, (0.7, 1.5))
    heading = rng.uniform(-180, 180) + _smooth_noise(rng, t, 40.0, 0.2)
    return angles, heading, np.zeros((len(t), 2))


_KINDS = {'walk': _walk, 'turn': _turn, 'reach': _reach, 'crouch': _crouch, 'wave': _wave,
          'random': _random}


def _column(angles: np.ndarray, name: str) -> np.ndarray:
    return angles[:, PARAMS.index(name)]


def pose_from_angles(angles: np.ndarray, heading: np.ndarray, root_xy: np.ndarray,
                     body: BodyShape) -> np.ndarray:
    """Forward kinematics of the body model.

    angles: ``[T, P]`` degrees in :data:`PARAMS` order; heading: ``[T]`` degrees about world Z;
    root_xy: ``[T, 2]`` mm. Returns ``[T, 17, 3] float64``, mm, world Z up, each frame lifted so
    that its lower ankle is ``body.ankle_height`` above z = 0.
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim != 2 or angles.shape[1] != len(PARAMS):
        raise ValueError(f'angles must be [T, {len(PARAMS)}], got {angles.shape}')
    num_frames = angles.shape[0]

    def rot(axis: str, name_or_values) -> np.ndarray:
        values = (_column(angles, name_or_values) if isinstance(name_or_values, str)
                  else name_or_values)
        return axis_rotations(axis, np.broadcast_to(values, (num_frames,)))

    def apply(rotation: np.ndarray, vector) -> np.ndarray:
        return np.einsum('tij,j->ti', rotation, np.asarray(vector, dtype=np.float64))

    joints = np.zeros((num_frames, 17, 3))
    joints[:, 0, :2] = root_xy
    pelvis = rot('Z', heading) @ rot('Y', 'pelvis_pitch') @ rot('X', 'pelvis_roll')
    joints[:, 7] = joints[:, 0] + apply(pelvis, [0, 0, body.hip_to_spine])
    torso = pelvis @ rot('Z', 'torso_twist') @ rot('Y', 'torso_bend') @ rot('X', 'torso_side')
    joints[:, 8] = joints[:, 7] + apply(torso, [0, 0, body.spine_to_thorax])
    head = torso @ rot('Z', 'head_yaw') @ rot('Y', 'head_pitch')
    lean = np.deg2rad(12.0)
    joints[:, 9] = joints[:, 8] + apply(
        head, [body.thorax_to_neck * np.sin(lean), 0, body.thorax_to_neck * np.cos(lean)])
    joints[:, 10] = joints[:, 9] + apply(head, [0, 0, body.neck_to_head])
    droop = np.deg2rad(8.0)
    for side, sign, (hip, knee, ankle, shoulder, elbow, wrist) in (
            ('L', 1.0, (4, 5, 6, 11, 12, 13)), ('R', -1.0, (1, 2, 3, 14, 15, 16))):
        joints[:, hip] = joints[:, 0] + apply(pelvis, [0, sign * body.pelvis_half_width, 0])
        thigh = pelvis @ rot('X', sign * _column(angles, f'{side}hip_abd')) @ rot(
            'Y', -_column(angles, f'{side}hip_flex'))
        joints[:, knee] = joints[:, hip] + apply(thigh, [0, 0, -body.thigh])
        shin = thigh @ rot('Y', f'{side}knee')
        joints[:, ankle] = joints[:, knee] + apply(shin, [0, 0, -body.shin])
        joints[:, shoulder] = joints[:, 8] + apply(torso, [
            0, sign * body.shoulder_half_width * np.cos(droop),
            -body.shoulder_half_width * np.sin(droop)])
        upper = torso @ rot('X', sign * _column(angles, f'{side}shoulder_abd')) @ rot(
            'Y', -_column(angles, f'{side}shoulder_flex')) @ rot(
            'Z', -sign * _column(angles, f'{side}arm_twist'))
        joints[:, elbow] = joints[:, shoulder] + apply(upper, [0, 0, -body.upper_arm])
        lower = upper @ rot('Y', -_column(angles, f'{side}elbow'))
        joints[:, wrist] = joints[:, elbow] + apply(lower, [0, 0, -body.forearm])
    lowest = np.minimum(joints[:, 3, 2], joints[:, 6, 2])
    joints[..., 2] += (body.ankle_height - lowest)[:, None]
    return joints


def generate_motion(kind: str, num_frames: int, fps: float, rng: np.random.Generator,
                    body: BodyShape | None = None) -> np.ndarray:
    """One procedural sequence of action ``kind`` (one of :data:`ACTIONS`).

    body: bone lengths; None draws one with :func:`random_body`. Deterministic given the
    state of ``rng``. Returns ``[T, 17, 3] float32``, mm, world Z up.
    """
    if kind not in _KINDS:
        raise ValueError(f'unknown motion kind {kind!r}; choose from {ACTIONS}')
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f'rng must be a numpy Generator, got {type(rng).__name__}')
    if int(num_frames) < 1 or not fps > 0:
        raise ValueError(f'need num_frames >= 1 and fps > 0, got {num_frames}, {fps}')
    body = random_body(rng) if body is None else body
    t = np.arange(int(num_frames)) / float(fps)
    angles, heading, path = _KINDS[kind](rng, t)
    noise = np.stack([_smooth_noise(rng, t, 3.0) for _ in PARAMS], axis=1)
    angles = np.clip(angles + noise, _LOW, _HIGH)
    start = rng.uniform(-1000.0, 1000.0, 2)
    return pose_from_angles(angles, heading, path + start, body).astype(np.float32)


def random_motion(num_frames: int, fps: float, seed: int) -> tuple[np.ndarray, str]:
    """Generate a sequence of a random kind: ``(poses [T, 17, 3] float32 mm, world, kind)``.

    ``ACTION_LABELS[kind]`` is the action name for evaluation tables.
    """
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(ACTIONS))
    return generate_motion(kind, num_frames, fps, rng), kind
