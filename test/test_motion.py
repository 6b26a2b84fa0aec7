"""Procedural H36M-17 motion: rigid bones, determinism, plausibility, the action kinds."""
import numpy as np
import pytest

from hpm_ros.data.mocap_check import bone_lengths, motion_sanity
from hpm_ros.data.motion import (ACTION_LABELS, ACTIONS, PARAMS, BodyShape, generate_motion,
                                 pose_from_angles, random_motion)
from hpm_ros.skeleton import H36M17

FPS = 30.0


@pytest.mark.parametrize('kind', ACTIONS)
def test_bones_are_rigid_and_pose_is_plausible(kind):
    poses = generate_motion(kind, 90, FPS, np.random.default_rng(3))
    assert poses.shape == (90, 17, 3) and poses.dtype == np.float32
    lengths = bone_lengths(poses.astype(np.float64))
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=0.05)
    report = motion_sanity(poses)
    assert report.ok, report.problems
    # smooth in time: no joint moves more than 6 m/s, accelerations bounded
    speed = np.linalg.norm(np.diff(poses, axis=0), axis=-1) * FPS
    assert speed.max() < 6000
    jerk = np.linalg.norm(np.diff(poses, n=2, axis=0), axis=-1)
    assert jerk.max() < 60


def test_deterministic_by_seed_and_varied_across_seeds():
    first, kind = random_motion(40, FPS, seed=11)
    again, kind_again = random_motion(40, FPS, seed=11)
    np.testing.assert_array_equal(first, again)
    assert kind == kind_again and kind in ACTIONS and kind in ACTION_LABELS
    other, _ = random_motion(40, FPS, seed=12)
    assert not np.allclose(first, other)
    kinds = {random_motion(2, FPS, seed)[1] for seed in range(40)}
    assert kinds == set(ACTIONS)


def test_body_proportions_vary():
    thighs = [bone_lengths(generate_motion('crouch', 2, FPS, np.random.default_rng(s)))[0, 1]
              for s in range(8)]
    assert np.ptp(thighs) > 20


def test_angle_model_hand_values():
    body = BodyShape()
    angles = np.zeros((1, len(PARAMS)))
    angles[0, PARAMS.index('Lshoulder_abd')] = 90.0
    angles[0, PARAMS.index('Rshoulder_flex')] = 90.0
    angles[0, PARAMS.index('Rknee')] = 90.0
    pose = pose_from_angles(angles, np.array([90.0]), np.array([[100.0, 200.0]]), body)[0]
    # heading 90 deg: body forward (x) is world +y and body left (y) is world -x
    lshoulder, lwrist = pose[H36M17.index('LShoulder')], pose[H36M17.index('LWrist')]
    np.testing.assert_allclose(lwrist - lshoulder, [-(body.upper_arm + body.forearm), 0, 0],
                               atol=1e-6)
    rshoulder, rwrist = pose[H36M17.index('RShoulder')], pose[H36M17.index('RWrist')]
    np.testing.assert_allclose(rwrist - rshoulder, [0, body.upper_arm + body.forearm, 0],
                               atol=1e-6)
    rknee, rfoot = pose[H36M17.index('RKnee')], pose[H36M17.index('RFoot')]
    np.testing.assert_allclose(rfoot - rknee, [0, -body.shin, 0], atol=1e-6)
    # the straight left leg stands with its ankle at ankle height
    assert pose[H36M17.index('LFoot'), 2] == pytest.approx(body.ankle_height)
    np.testing.assert_allclose(pose[0, :2], [100, 200])


@pytest.mark.parametrize('seed', range(4))
def test_kinds_do_what_they_say(seed):
    walk = generate_motion('walk', 60, FPS, np.random.default_rng(seed))
    travelled = np.linalg.norm(walk[-1, 0, :2] - walk[0, 0, :2])
    assert 1200 < travelled < 3500  # 2 s at about 0.7-1.6 m/s
    crouch = generate_motion('crouch', 150, FPS, np.random.default_rng(seed))
    assert np.ptp(crouch[:, 0, 2]) > 200  # the hip goes down and up
    assert np.ptp(crouch[:, :, :2].reshape(-1, 2), axis=0).max() < 1500  # on the spot
    wave = generate_motion('wave', 90, FPS, np.random.default_rng(seed))
    assert np.ptp(wave[30:, [13, 16]], axis=0).max() > 100  # a hand keeps moving
    wrist_out = np.linalg.norm(wave[:, [13, 16], :2] - wave[:, [11, 14], :2], axis=-1)
    assert wrist_out[-1].max() > 250  # an arm is raised sideways


def test_bad_arguments_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='unknown motion kind'):
        generate_motion('fly', 10, FPS, rng)
    with pytest.raises(TypeError):
        generate_motion('walk', 10, FPS, 0)
    with pytest.raises(ValueError):
        generate_motion('walk', 0, FPS, rng)
