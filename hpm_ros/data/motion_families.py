"""Procedural motion of the pose families that the recorded motion covers thinly.

Sitting on a chair, sitting down and standing up, deep crouching, a deep forward bend to
pick something up, arms stretched out sideways, a phone at the ear, hands at the face and
lying on the floor, on the body model of :mod:`hpm_ros.data.motion` (its forward kinematics
and smooth keyframes) with the wider joint limits :data:`FAMILY_LIMITS` that these poses need
(still within adult ranges of motion: hip flexion 125 deg, knee 150 deg, trunk flexion 90
deg over a 45 deg pelvic tilt). Hand-target poses (phone, face) pick, per key, the candidate
arm angles whose wrist lands closest to the target. Output ``[T, 17, 3] float32`` mm, world Z
up; bone lengths are those of the body model (the clip builder re-composes them with the
adult prior).
"""
from __future__ import annotations

import numpy as np

from hpm_ros.data import motion as base
from hpm_ros.data.bvh import axis_rotations

FAMILIES = ('sit', 'sit_stand', 'deep_crouch', 'bend_pick', 'arms_out', 'phone',
            'hands_face', 'lie')
FAMILY_LABELS = {'sit': 'Sitting', 'sit_stand': 'Sitting down', 'deep_crouch': 'Crouching',
                 'bend_pick': 'Picking up', 'arms_out': 'Arms out', 'phone': 'Phoning',
                 'hands_face': 'Hands at face', 'lie': 'Lying'}
FAMILY_LIMITS = dict(base.JOINT_LIMITS, pelvis_pitch=(-15.0, 45.0), torso_bend=(-25.0, 90.0),
                     **{f'{s}hip_flex': (-25.0, 125.0) for s in 'LR'},
                     **{f'{s}knee': (0.0, 150.0) for s in 'LR'},
                     **{f'{s}shoulder_abd': (-5.0, 175.0) for s in 'LR'})
_LOW = np.array([FAMILY_LIMITS[name][0] for name in base.PARAMS])
_HIGH = np.array([FAMILY_LIMITS[name][1] for name in base.PARAMS])
_WRIST = {'L': 13, 'R': 16}
_NECK, _HEAD, _THORAX = 9, 10, 8


def _legs(tracks: dict, hip, knee, abduction=0.0) -> None:
    for side in 'LR':
        tracks[f'{side}hip_flex'] = hip
        tracks[f'{side}knee'] = knee
        tracks[f'{side}hip_abd'] = abduction


def _sit(rng, t):
    """Sit on a chair (thighs about horizontal), leaning, shifting, arms resting or moving."""
    lean = base._keyframes(rng, t, lambda k: [rng.uniform(-10, 25)], (1.0, 2.5))[:, 0]
    tracks = {'torso_bend': lean, 'head_pitch': rng.uniform(-10, 30)}
    _legs(tracks, rng.uniform(80, 100) + base._smooth_noise(rng, t, 6.0),
          rng.uniform(70, 110) + base._smooth_noise(rng, t, 10.0), rng.uniform(0, 15))
    for side in 'LR':
        tracks[f'{side}shoulder_flex'] = rng.uniform(0, 50) + base._smooth_noise(rng, t, 15.0)
        tracks[f'{side}elbow'] = rng.uniform(20, 100)
    return tracks


def _sit_stand(rng, t):
    """Sit down on a chair and stand up again, leaning forward to shift the weight."""
    depth = base._keyframes(rng, t, lambda k: [float(k % 2) * rng.uniform(0.85, 1.0)],
                            (1.0, 2.0))[:, 0]
    rising = np.abs(np.gradient(depth)) * len(t)
    tracks = {'torso_bend': 5 + 10 * depth + np.clip(rising * 4, 0, 30)}
    _legs(tracks, 3 + 87 * depth, 5 + 85 * depth, rng.uniform(0, 10))
    for side in 'LR':
        tracks[f'{side}shoulder_flex'] = 20 * depth * rng.uniform(0, 1.5)
        tracks[f'{side}elbow'] = 15 + 40 * depth
    return tracks


def _deep_crouch(rng, t):
    """Crouch down fully (knees 120-150 deg) and stay, heels up or down, arms forward."""
    depth = base._keyframes(rng, t, lambda k: [rng.uniform(0.7, 1.0)], (1.0, 2.0))[:, 0]
    tracks = {'pelvis_pitch': 20 * depth, 'torso_bend': 15 + 30 * depth}
    _legs(tracks, 20 + 100 * depth, 10 + 135 * depth, rng.uniform(5, 30))
    for side in 'LR':
        tracks[f'{side}shoulder_flex'] = rng.uniform(10, 80) * depth
        tracks[f'{side}elbow'] = rng.uniform(10, 90)
    return tracks


def _bend_pick(rng, t):
    """Bend forward deeply (pelvis and trunk) with the arms hanging to the floor, and back."""
    depth = base._keyframes(rng, t, lambda k: [float(k % 2) * rng.uniform(0.6, 1.0)],
                            (0.9, 1.8))[:, 0]
    pelvis = 45 * depth
    tracks = {'pelvis_pitch': pelvis, 'torso_bend': 3 + 60 * depth, 'head_pitch': -20 * depth}
    knee = rng.uniform(0, 60) * depth
    _legs(tracks, pelvis + knee / 2, knee, rng.uniform(0, 15))
    for side in 'LR':
        tracks[f'{side}shoulder_flex'] = 8 + (60 + rng.uniform(0, 40)) * depth
        tracks[f'{side}elbow'] = 10 + rng.uniform(0, 30) * depth
    return tracks


def _arms_out(rng, t):
    """Stretch one or both arms out sideways (T-pose-like), up and down, slowly."""
    tracks = {}
    for side in ([['L'], ['R'], ['L', 'R'], ['L', 'R']][rng.integers(4)]):
        tracks[f'{side}shoulder_abd'] = base._keyframes(
            rng, t, lambda k: [rng.uniform(70, 110) if k % 3 else rng.uniform(10, 60)],
            (0.8, 1.6))[:, 0]
        tracks[f'{side}shoulder_flex'] = rng.uniform(-10, 30)
        tracks[f'{side}elbow'] = rng.uniform(0, 25)
    return tracks


def _hand_track(rng, t, side: str, target, elbow: tuple, flex: tuple, abd: tuple,
                twist: tuple) -> dict:
    """Arm angles [T] per parameter whose wrist reaches ``target(joints)`` [N, 3] at the keys:
    256 candidates per key, the closest one kept."""
    count = 256
    angles = base._angles(count)
    names = [f'{side}elbow', f'{side}shoulder_flex', f'{side}shoulder_abd', f'{side}arm_twist']
    ranges = (elbow, flex, abd, twist)

    def key(k):
        values = np.stack([rng.uniform(*r, count) for r in ranges], axis=1)
        for column, name in enumerate(names):
            angles[:, base.PARAMS.index(name)] = values[:, column]
        joints = base.pose_from_angles(angles, np.zeros(count), np.zeros((count, 2)),
                                       base.BodyShape())
        distance = np.linalg.norm(joints[:, _WRIST[side]] - target(joints), axis=-1)
        return values[int(np.argmin(distance))]
    track = base._keyframes(rng, t, key, (0.8, 2.0))
    return {name: track[:, column] for column, name in enumerate(names)}


def _phone(rng, t):
    """Hold a phone at the ear with one hand, the other arm idle or holding the elbow."""
    side = 'L' if rng.random() < 0.5 else 'R'
    sign = 1.0 if side == 'L' else -1.0

    def ear(joints):
        return joints[:, _NECK] + (joints[:, _HEAD] - joints[:, _NECK]) * 0.3 \
            + np.array([0.0, sign * 80.0, 0.0])
    tracks = _hand_track(rng, t, side, ear, (120, 150), (0, 90), (0, 90), (-40, 60))
    tracks['head_pitch'] = rng.uniform(-5, 20)
    tracks['torso_bend'] = rng.uniform(0, 15)
    return tracks


def _hands_face(rng, t):
    """Both hands (or one) at the face: covering it, rubbing the eyes, eating, drinking."""
    tracks = {'head_pitch': rng.uniform(-5, 30), 'torso_bend': rng.uniform(0, 20)}

    def face(joints):
        return joints[:, _NECK] + np.array([70.0, 0.0, 0.0])
    for side in (['L', 'R'] if rng.random() < 0.6 else [['L'], ['R']][rng.integers(2)]):
        tracks.update(_hand_track(rng, t, side, face, (110, 150), (20, 100), (-5, 50),
                                  (-30, 60)))
    return tracks


def _lie(rng, t):
    """Lie on the back, the front or a side; limbs move slowly (rotated afterwards)."""
    tracks = {'torso_bend': rng.uniform(-10, 20), 'head_pitch': rng.uniform(-20, 30)}
    _legs(tracks, rng.uniform(0, 60) + base._smooth_noise(rng, t, 15.0),
          rng.uniform(0, 90) + base._smooth_noise(rng, t, 15.0), rng.uniform(0, 20))
    for side in 'LR':
        tracks[f'{side}shoulder_abd'] = rng.uniform(0, 120) + base._smooth_noise(rng, t, 20.0)
        tracks[f'{side}shoulder_flex'] = rng.uniform(-20, 120)
        tracks[f'{side}elbow'] = rng.uniform(0, 120)
    return tracks


_GENERATORS = {'sit': _sit, 'sit_stand': _sit_stand, 'deep_crouch': _deep_crouch,
               'bend_pick': _bend_pick, 'arms_out': _arms_out, 'phone': _phone,
               'hands_face': _hands_face, 'lie': _lie}


def _lay_down(joints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate standing-frame joints [T, 17, 3] to lying (back, front or side, tilted by up to
    15 deg) about the pelvis, then put the lowest joint of each frame 60 mm above the floor."""
    axis, angle = [('Y', 90.0), ('Y', -90.0), ('X', 90.0), ('X', -90.0)][rng.integers(4)]
    rotation = axis_rotations(axis, angle + rng.uniform(-15, 15)) @ axis_rotations(
        'Z', rng.uniform(-180, 180))
    root = joints[:, :1]
    lying = np.einsum('ij,tkj->tki', rotation, joints - root) + root
    lying[..., 2] += 60.0 - lying[..., 2].min(axis=1, keepdims=True)
    return lying


def generate_family(family: str, num_frames: int, fps: float,
                    rng: np.random.Generator) -> np.ndarray:
    """One sequence of ``family`` (one of :data:`FAMILIES`): [T, 17, 3] float32 mm, world Z
    up, deterministic given the state of ``rng``."""
    if family not in _GENERATORS:
        raise ValueError(f'unknown pose family {family!r}; choose from {FAMILIES}')
    if int(num_frames) < 1 or not fps > 0:
        raise ValueError(f'need num_frames >= 1 and fps > 0, got {num_frames}, {fps}')
    t = np.arange(int(num_frames)) / float(fps)
    angles = base._angles(len(t), **_GENERATORS[family](rng, t))
    noise = np.stack([base._smooth_noise(rng, t, 2.0) for _ in base.PARAMS], axis=1)
    angles = np.clip(angles + noise, _LOW, _HIGH)
    heading = np.full(len(t), rng.uniform(-180, 180)) + base._smooth_noise(rng, t, 10.0, 0.2)
    joints = base.pose_from_angles(angles, heading, np.tile(rng.uniform(-1000, 1000, 2),
                                                            (len(t), 1)), base.BodyShape())
    if family == 'lie':
        joints = _lay_down(joints, rng)
    return joints.astype(np.float32)


def random_procedural(num_frames: int, fps: float, seed: int,
                      family_share: float = 0.6) -> tuple:
    """A procedural sequence: with probability ``family_share`` one of :data:`FAMILIES`, else
    one of the base kinds (:data:`hpm_ros.data.motion.ACTIONS`). Returns (poses [T, 17, 3]
    float32 mm world Z up, action label)."""
    rng = np.random.default_rng(seed)
    if rng.random() < family_share:
        family = str(rng.choice(FAMILIES))
        return generate_family(family, num_frames, fps, rng), FAMILY_LABELS[family]
    kind = str(rng.choice(base.ACTIONS))
    return base.generate_motion(kind, num_frames, fps, rng), base.ACTION_LABELS[kind]
