"""Joint sets, their trees and left/right pairs, and mappings to and from H36M-17."""
import numpy as np
import pytest

from hpm_ros import skeleton
from hpm_ros.skeleton import (
    EXACT, FLIP_PERMUTATION, from_h36m, H36M17, JOINT_SETS, JointSet, mapping_status,
    MISSING, ROBUST_JOINTS, SYNTHESISED, to_h36m)

SOURCES = sorted(JOINT_SETS)


def mirrored_name(name: str) -> str:
    for left, right in (('left', 'right'), ('l_', 'r_'), ('L', 'R')):
        if name.startswith(left):
            return right + name[len(left):]
        if name.startswith(right):
            return left + name[len(right):]
    for left, right in (('_left', '_right'),):  # BlazePose's mouth corners
        if name.endswith(left):
            return name[:-len(left)] + right
        if name.endswith(right):
            return name[:-len(right)] + left
    return name


def test_h36m17_unchanged():
    assert H36M17.joint_names[:4] == ('Hip', 'RHip', 'RKnee', 'RFoot')
    assert H36M17.joint_names[9] == 'Neck'
    assert skeleton.ROOT_JOINT == H36M17.root == 0
    assert ROBUST_JOINTS == (0, 4, 1, 11, 14)
    np.testing.assert_array_equal(H36M17.flip_permutation, FLIP_PERMUTATION)
    assert skeleton.bone_side(0, 4) == 'left'
    assert skeleton.bone_side(8, 14) == 'right'
    assert skeleton.bone_side(0, 7) == 'center'


def test_registry_sizes_and_orders():
    expected = {'h36m17': 17, 'humaneva14': 14, 'humaneva15': 15, 'mpii16': 16, 'coco17': 17,
                'paper16': 16, 'blazepose33': 33}
    assert {name: joint_set.num_joints for name, joint_set in JOINT_SETS.items()} == expected
    assert all(JOINT_SETS[name].name == name for name in JOINT_SETS)
    assert JOINT_SETS['mpii16'].joint_names == (
        'r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'pelvis', 'thorax',
        'upper_neck', 'head_top', 'r_wrist', 'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow',
        'l_wrist')
    assert JOINT_SETS['coco17'].joint_names[:3] == ('nose', 'left_eye', 'right_eye')
    assert JOINT_SETS['coco17'].joint_names[-1] == 'right_ankle'
    assert JOINT_SETS['paper16'].joint_names == tuple(
        name for name in H36M17.joint_names if name != 'Neck')
    assert JOINT_SETS['humaneva15'].parents == (-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1)
    assert JOINT_SETS['humaneva14'].joint_names == JOINT_SETS['humaneva15'].joint_names[1:]
    blazepose = JOINT_SETS['blazepose33']
    assert blazepose.joint_names[11:17] == (
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
        'right_wrist')
    assert blazepose.joint_names[23:29] == ('left_hip', 'right_hip', 'left_knee',
                                            'right_knee', 'left_ankle', 'right_ankle')
    assert blazepose.joint_names[-1] == 'right_foot_index'
    mirrored = blazepose.flip_permutation
    assert [blazepose.joint_names[j] for j in mirrored[[7, 29, 31]]] == [
        'right_ear', 'right_heel', 'right_foot_index']


@pytest.mark.parametrize('name', SOURCES)
def test_flip_pairs_mirror_names(name):
    joint_set = JOINT_SETS[name]
    permutation = joint_set.flip_permutation
    np.testing.assert_array_equal(permutation[permutation], np.arange(joint_set.num_joints))
    for joint, flipped in enumerate(permutation):
        assert joint_set.joint_names[flipped] == mirrored_name(joint_set.joint_names[joint])


@pytest.mark.parametrize('name', SOURCES)
def test_bones_connect_each_joint_to_the_root(name):
    joint_set = JOINT_SETS[name]
    assert len(joint_set.bones) == joint_set.num_joints - 1
    for joint in range(joint_set.num_joints):
        for _ in range(joint_set.num_joints):
            if joint == joint_set.root:
                break
            joint = joint_set.parents[joint]
        assert joint == joint_set.root


@pytest.mark.parametrize('parents', [(-1, 0), (-1, -1, 0), (1, 2, 0), (-1, 5, 0)])
def test_joint_set_rejects_bad_trees(parents):
    with pytest.raises(ValueError):
        JointSet(name='bad', joint_names=('a', 'b', 'c'), parents=parents)


def test_unknown_set_and_joint():
    with pytest.raises(ValueError, match='unknown joint set'):
        to_h36m(np.zeros((17, 3)), 'openpose25')
    with pytest.raises(ValueError, match='not in joint set'):
        H36M17.index('Tail')


@pytest.mark.parametrize('name', SOURCES)
def test_round_trip_reproduces_corresponding_joints(name):
    rng = np.random.default_rng(3)
    h36m = rng.normal(size=(2, 5, 17, 3)).astype(np.float32)
    target = from_h36m(h36m, name)
    assert target.shape == (2, 5, JOINT_SETS[name].num_joints, 3)
    assert target.dtype == np.float32
    back, valid = to_h36m(target, name)
    exact = np.array(mapping_status(name)) == EXACT
    np.testing.assert_array_equal(back[..., exact, :], h36m[..., exact, :])
    assert valid.all()
    # synthesised from the NaN face
    lost = {'Neck', 'Head'} if name in ('coco17', 'blazepose33') else set()
    finite = [H36M17.joint_names[j] for j in range(17) if np.isfinite(back[..., j, :]).all()]
    assert set(finite) == set(H36M17.joint_names) - lost


def test_to_h36m_identity_and_synthesise_off():
    h36m = np.arange(17 * 2, dtype=np.float64).reshape(17, 2)
    back, valid = to_h36m(h36m, 'h36m17')
    np.testing.assert_array_equal(back, h36m)
    assert valid.all()
    coco = from_h36m(h36m, 'coco17')
    back, valid = to_h36m(coco, 'coco17', synthesise=False)
    np.testing.assert_array_equal(valid, np.array(mapping_status('coco17')) == EXACT)
    assert np.isnan(back[~valid]).all() and np.isfinite(back[valid]).all()


def test_coco_synthesis_rules_by_hand():
    coco = np.zeros((17, 3))
    names = JOINT_SETS['coco17'].joint_names
    coco[names.index('left_hip')] = [2, 0, 0]
    coco[names.index('right_hip')] = [0, 0, 0]
    coco[names.index('left_shoulder')] = [2, 4, 0]
    coco[names.index('right_shoulder')] = [0, 4, 2]
    coco[names.index('nose')] = [1, 6, 1]
    coco[names.index('left_eye')] = [2, 7, 0]
    coco[names.index('right_eye')] = [0, 7, 0]
    h36m, valid = to_h36m(coco, 'coco17')
    assert valid.all()
    np.testing.assert_allclose(h36m[H36M17.index('Hip')], [1, 0, 0])
    np.testing.assert_allclose(h36m[H36M17.index('Thorax')], [1, 4, 1])
    np.testing.assert_allclose(h36m[H36M17.index('Spine')], [1, 2, 0.5])
    np.testing.assert_allclose(h36m[H36M17.index('Neck')], [1, 6, 1])
    np.testing.assert_allclose(h36m[H36M17.index('Head')], [1, 7, 0])
    np.testing.assert_allclose(h36m[H36M17.index('LShoulder')], [2, 4, 0])
    status = mapping_status('coco17')
    assert status.count(EXACT) == 12 and status.count(SYNTHESISED) == 5


def test_statuses_of_each_set():
    assert mapping_status('h36m17') == (EXACT,) * 17
    assert mapping_status('mpii16')[H36M17.index('Spine')] == SYNTHESISED
    assert mapping_status('mpii16').count(EXACT) == 16
    assert mapping_status('paper16')[H36M17.index('Neck')] == SYNTHESISED
    humaneva = mapping_status('humaneva14')
    assert [H36M17.joint_names[j] for j, s in enumerate(humaneva) if s != EXACT] == [
        'Hip', 'Spine', 'Neck']
    assert all(MISSING not in mapping_status(name) for name in SOURCES)


def test_humaneva_hip_is_synthesised_from_hips():
    humaneva15 = np.random.default_rng(0).normal(size=(4, 15, 3))
    from14, _ = to_h36m(humaneva15[:, 1:], 'humaneva14')
    from15, _ = to_h36m(humaneva15, 'humaneva15')
    names = JOINT_SETS['humaneva15'].joint_names
    hips = humaneva15[:, [names.index('LHip'), names.index('RHip')]]
    np.testing.assert_allclose(from14[:, 0], hips.mean(axis=1))
    np.testing.assert_array_equal(from15[:, 0], humaneva15[:, 0])
    np.testing.assert_array_equal(from14[:, 1:7], from15[:, 1:7])


def test_from_h36m_coco_face_is_nan_and_shapes_checked():
    coco = from_h36m(np.ones((17, 2), dtype=np.int64), 'coco17')
    assert coco.dtype == np.float64
    assert np.isnan(coco[:5]).all() and (coco[5:] == 1).all()
    with pytest.raises(ValueError, match='shape'):
        from_h36m(np.zeros((16, 3)), 'mpii16')
    with pytest.raises(ValueError, match='shape'):
        to_h36m(np.zeros((17, 3)), 'mpii16')


def test_blazepose_landmarks_that_are_offset_are_named():
    status = dict(zip(H36M17.joint_names, mapping_status('blazepose33')))
    assert [n for n, s in status.items() if s == EXACT] == [
        'RHip', 'RKnee', 'RFoot', 'LHip', 'LKnee', 'LFoot', 'LShoulder', 'LElbow', 'LWrist',
        'RShoulder', 'RElbow', 'RWrist']
    assert set(skeleton.LANDMARK_OFFSETS['blazepose33']) == {'RHip', 'LHip'}
    assert set(skeleton.LANDMARK_OFFSETS['mpii16']) == {'Neck', 'Head', 'RFoot', 'LFoot'}
