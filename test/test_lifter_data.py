"""The lifter's data: rig maps, held-out performers, body and camera priors, input encoding,
detector models, pose families."""
from pathlib import Path

import numpy as np
import pytest

from hpm_ros.data.body_prior import REFERENCE_BONES_MM, draw_adult, recompose_bones
from hpm_ros.data.bvh import bvh_to_h36m
from hpm_ros.data.camera_prior import CameraPrior, draw_camera
from hpm_ros.data.detector_models import COCO_FACTORS, DETECTOR_MODELS, exact_detections
from hpm_ros.data.keypoint_input import (encode_keypoints, nominal_intrinsics,
                                         to_camera_frame, to_virtual_plane)
from hpm_ros.data.motion import BodyShape, pose_from_angles, _angles
from hpm_ros.data.motion_families import FAMILIES, generate_family, random_procedural
from hpm_ros.data.motion_sources import HELD_OUT_PERFORMERS, is_held_out, lifter_trials
from hpm_ros.data.mocap_check import bone_lengths, find_mocap_root
from hpm_ros.data.pose_families import classify_poses
from hpm_ros.geometry import intrinsics_matrix, project_points, world_to_camera
from hpm_ros.skeleton import H36M17

ACCAD_JOINTS = (  # name, parent, offset (cm): a tiny ACCAD-like MotionBuilder rig
    ('Hips', None, (0, 95, 0)), ('ToSpine', 'Hips', (0, 7, 0)), ('Spine', 'ToSpine', (0, 11, 0)),
    ('Spine1', 'Spine', (0, 20, 0)), ('Neck', 'Spine1', (0, 26, 0)), ('Head', 'Neck', (0, 9, 0)),
    ('LeftShoulder', 'Spine1', (4, 18, 0)), ('LeftArm', 'LeftShoulder', (14, 0, 0)),
    ('LeftForeArm', 'LeftArm', (28, 0, 0)), ('LeftHand', 'LeftForeArm', (27, 0, 0)),
    ('RightShoulder', 'Spine1', (-4, 18, 0)), ('RightArm', 'RightShoulder', (-14, 0, 0)),
    ('RightForeArm', 'RightArm', (-28, 0, 0)), ('RightHand', 'RightForeArm', (-27, 0, 0)),
    ('LeftUpLeg', 'Hips', (10, -3, 0)), ('LeftLeg', 'LeftUpLeg', (0, -45, 0)),
    ('LeftFoot', 'LeftLeg', (0, -46, 0)), ('RightUpLeg', 'Hips', (-10, -3, 0)),
    ('RightLeg', 'RightUpLeg', (0, -45, 0)), ('RightFoot', 'RightLeg', (0, -46, 0)))


def write_bvh(path: Path, joints: tuple, frames: int, end_sites: dict) -> Path:
    """A BVH file of ``joints`` (rest pose in every frame; root with 6 channels)."""
    children = {}
    for name, parent, _ in joints:
        children.setdefault(parent, []).append(name)
    offsets = {name: offset for name, _, offset in joints}

    def block(name: str, depth: int) -> list:
        pad = '  ' * depth
        kind = 'ROOT' if depth == 0 else 'JOINT'
        channels = ('6 Xposition Yposition Zposition Zrotation Xrotation Yrotation'
                    if depth == 0 else '3 Zrotation Xrotation Yrotation')
        offset = ' '.join(map(str, offsets[name]))
        lines = [f'{pad}{kind} {name}', f'{pad}{{', f'{pad}  OFFSET {offset}',
                 f'{pad}  CHANNELS {channels}']
        for child in children.get(name, []):
            lines += block(child, depth + 1)
        if name in end_sites:
            lines += [f'{pad}  End Site', f'{pad}  {{',
                      f'{pad}    OFFSET {" ".join(map(str, end_sites[name]))}', f'{pad}  }}']
        return lines + [f'{pad}}}']
    count = 6 + 3 * (len(joints) - 1)
    text = '\n'.join(['HIERARCHY'] + block(joints[0][0], 0) + [
        'MOTION', f'Frames: {frames}', 'Frame Time: 0.0333333'] + [
        ' '.join(['0'] * count)] * frames) + '\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_accad_rig_maps_its_joints(tmp_path):
    path = write_bvh(tmp_path / 'accad' / 'Male2_A1_Stand.bvh', ACCAD_JOINTS, 3,
                     {'Head': (0, 16, 0)})
    poses, fps = bvh_to_h36m(path, floor=False)
    assert poses.shape == (3, 17, 3) and round(fps) == 30
    joint = {name: poses[0, H36M17.index(name)] for name in H36M17.joint_names}
    # Y-up cm -> Z-up mm: the neck base (rig Neck) is 95+7+11+20+26 cm above the floor.
    np.testing.assert_allclose(joint['Thorax'][2], 1590.0, atol=1e-3)
    np.testing.assert_allclose(joint['Head'][2], 1590.0 + 90 + 160, atol=1e-3)
    np.testing.assert_allclose(joint['Spine'][2], 950 + 70 + 110 + 100, atol=1e-3)
    np.testing.assert_allclose(joint['LShoulder'], [180.0, 0.0, 1510.0], atol=1e-3)
    np.testing.assert_allclose(joint['Hip'], [0.0, 0.0, 920.0], atol=1e-3)


def test_daz_files_of_the_cmu_10_14_folder_drop_their_t_pose(tmp_path):
    names = ('hip', 'abdomen', 'chest', 'neck', 'head', 'lShldr', 'lForeArm', 'lHand',
             'rShldr', 'rForeArm', 'rHand', 'lThigh', 'lShin', 'lFoot', 'rThigh', 'rShin',
             'rFoot')
    parents = (None, 'hip', 'abdomen', 'chest', 'neck', 'chest', 'lShldr', 'lForeArm',
               'chest', 'rShldr', 'rForeArm', 'hip', 'lThigh', 'lShin', 'hip', 'rThigh',
               'rShin')
    offsets = ((0, 85, 0), (0, 10, 0), (0, 15, 0), (0, 20, 0), (0, 8, 0), (15, 0, 0),
               (28, 0, 0), (25, 0, 0), (-15, 0, 0), (-28, 0, 0), (-25, 0, 0), (9, -5, 0),
               (0, -40, 0), (0, -40, 0), (-9, -5, 0), (0, -40, 0), (0, -40, 0))
    joints = tuple(zip(names, parents, offsets))
    daz = write_bvh(tmp_path / 'cmu_daz_10_14' / '14_01.bvh', joints, 4, {})
    salsa = write_bvh(tmp_path / 'cmu_salsa' / '61_01.bvh', joints, 4, {})
    assert len(bvh_to_h36m(daz)[0]) == 3 and len(bvh_to_h36m(salsa)[0]) == 4
    head = bvh_to_h36m(daz, floor=False)[0][0, H36M17.index('Head')]
    neck = bvh_to_h36m(daz, floor=False)[0][0, H36M17.index('Neck')]
    assert 100.0 < head[2] - neck[2] < 200.0  # the virtual head top about 13 cm up


def test_whole_performers_are_held_out(tmp_path):
    files = ['cmu/131_01.bvh', 'cmu/01_01.bvh', 'accad/Male1_A1_Stand.bvh',
             'accad/Male2_A1_Stand.bvh', 'cmu_daz_10_14/13_01.bvh', 'cmu_daz_10_14/14_01.bvh',
             'cmu_iclone/002_01.bvh', 'cmu_salsa/61_02_scaled.bvh']
    for name in files:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text('')
    test = lifter_trials(tmp_path, 'test')
    assert test == sorted(['accad/Male1_A1_Stand.bvh', 'cmu/131_01.bvh',
                           'cmu_daz_10_14/13_01.bvh', 'cmu_iclone/002_01.bvh',
                           'cmu_salsa/61_02_scaled.bvh'])
    assert set(lifter_trials(tmp_path, 'train')) == set(files) - set(test)
    assert set(HELD_OUT_PERFORMERS) == {'cmu', 'cmu_iclone', 'cmu_salsa', 'cmu_daz_10_14',
                                        'accad'}
    assert not is_held_out('cmu_daz_10_14/14_31.bvh')


def test_adult_prior_and_recomposed_bones():
    rng = np.random.default_rng(0)
    bodies = [draw_adult(rng) for _ in range(2000)]
    stature = np.array([b.stature_mm for b in bodies])
    assert 1670 < stature.mean() < 1715 and 75 < stature.std() < 110
    bones = np.stack([b.bones_mm for b in bodies])
    thigh = list(H36M17.bones).index((1, 2))
    assert np.allclose(bones[:, thigh] / (stature / 1750.0), REFERENCE_BONES_MM['RKnee'],
                       rtol=0.2)
    np.testing.assert_array_equal(bones[:, thigh], bones[:, list(H36M17.bones).index((4, 5))])
    motion = generate_family('sit', 6, 25.0, np.random.default_rng(1)).astype(np.float64)
    new = recompose_bones(motion, bodies[0].bones_mm)
    np.testing.assert_allclose(bone_lengths(new), np.tile(bodies[0].bones_mm, (6, 1)))
    parents, children = np.array(H36M17.bones).T
    before = motion[:, children] - motion[:, parents]
    after = new[:, children] - new[:, parents]
    cosine = (before * after).sum(-1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(
        after, axis=-1)
    np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_camera_prior_covers_robot_and_room_cameras():
    rng = np.random.default_rng(2)
    world = generate_family('arms_out', 4, 25.0, rng).astype(np.float64)
    prior = CameraPrior()
    pitches, heights, inside = [], [], []
    for _ in range(200):
        camera = draw_camera(rng, world, prior)
        position = -camera.rotation.T @ camera.translation
        heights.append(position[2])
        pitches.append(np.degrees(np.arcsin(camera.rotation[2, 2])))  # optical axis vs up
        joints = world_to_camera(world, camera.rotation, camera.translation)
        pixels = project_points(joints, camera.intrinsics)
        inside.append(np.all((pixels >= 0) & (pixels < camera.image_size), axis=-1).mean())
    assert min(heights) >= 200 and max(heights) <= 2600
    assert min(pitches) < -30 and max(pitches) > 10  # steeply down ... looking up
    assert np.mean(inside) > 0.85


def test_ray_encoding_is_the_view_of_a_camera_turned_to_the_person():
    rng = np.random.default_rng(3)
    world = generate_family('sit', 5, 25.0, rng).astype(np.float64)
    camera = draw_camera(rng, world)
    joints = world_to_camera(world, camera.rotation, camera.translation)
    pixels = project_points(joints, camera.intrinsics)
    confidence = np.ones((5, 17))
    normalised, valid, rotations, boxes, plane = encode_keypoints(
        pixels, confidence, 'rays', camera.image_size, camera.intrinsics)
    assert valid.all() and rotations.shape == (5, 3, 3)
    virtual = np.einsum('tij,tkj->tki', rotations, joints)
    np.testing.assert_allclose(plane, virtual[..., :2] / virtual[..., 2:], atol=1e-9)
    # The box centre's ray is the optical axis; the re-drawn box is centred on it up to
    # perspective.
    assert (np.abs(boxes[:, :2] + boxes[:, 2:] / 2) < 0.05 * boxes[:, 2:]).all()
    relative = virtual - virtual[:, :1]
    np.testing.assert_allclose(to_camera_frame(relative, rotations), joints - joints[:, :1],
                               atol=1e-9)
    crop, *_ = encode_keypoints(pixels, confidence, 'crop', camera.image_size)
    centred = intrinsics_matrix(500, 500, 320, 240)
    assert not np.allclose(crop, normalised, atol=1e-3)
    fallback = encode_keypoints(pixels, confidence, 'rays', camera.image_size)[0]
    assert np.isfinite(fallback).all()
    assert nominal_intrinsics((640, 480))[0, 2] == 319.5 and centred[0, 0] == 500
    np.testing.assert_allclose(to_virtual_plane(pixels, camera.intrinsics, rotations), plane)


def test_detector_models_move_their_landmarks_and_spread_per_joint():
    rng = np.random.default_rng(4)
    angles = _angles(2)
    joints = pose_from_angles(angles, np.zeros(2), np.zeros((2, 2)), BodyShape())
    blaze = DETECTOR_MODELS['blazepose'].landmarks(joints)
    hip, pelvis = H36M17.index('RHip'), H36M17.index('Hip')
    np.testing.assert_allclose(blaze[:, hip], joints[:, hip] + 0.35 * (
        joints[:, pelvis] - joints[:, hip]))
    mpii = DETECTOR_MODELS['mpii'].landmarks(joints)
    neck = H36M17.index('Neck')
    assert mpii[0, neck, 2] < joints[0, neck, 2] and mpii[0, 10, 2] > joints[0, 10, 2]
    assert np.isclose(np.mean(COCO_FACTORS), 1.0)
    camera = joints + (0, 0, 4000.0)
    camera = camera[:, :, [1, 2, 0]] * (1, -1, 1) + (0, 0, 4000.0)
    intrinsics = intrinsics_matrix(800, 800, 500, 500)
    clean, exact = exact_detections(DETECTOR_MODELS['coco']).detect(
        camera, intrinsics, (1000, 1000), rng)
    np.testing.assert_allclose(clean.keypoints, exact, atol=1e-3)
    many = np.repeat(camera[:1], 4000, axis=0)
    noisy, exact = DETECTOR_MODELS['coco'].detect(many, intrinsics, (1000, 1000), rng)
    error = np.abs(noisy.keypoints - exact)[~noisy.missed & ~noisy.swapped[:, None]]
    assert error.mean() > 0
    spread = np.abs(noisy.keypoints - exact).reshape(4000, 17, 2)
    hips = np.median(spread[:, [1, 4]])
    wrists = np.median(spread[:, [13, 16]])
    assert hips > 1.3 * wrists  # COCO's hips are the vaguest landmarks


@pytest.mark.parametrize('family, label, share', [
    ('sit', 'sitting', 0.5), ('deep_crouch', 'crouching', 0.5), ('phone', 'hands at face', 0.8),
    ('hands_face', 'hands at face', 0.8), ('arms_out', 'arms out', 0.4), ('lie', 'lying', 0.3),
    ('bend_pick', 'bending', 0.3), ('sit_stand', 'sitting', 0.2)])
def test_each_family_makes_its_poses(family, label, share):
    rng = np.random.default_rng(5)
    poses = np.concatenate([generate_family(family, 40, 25.0, rng) for _ in range(4)])
    assert np.isfinite(poses).all()
    assert (classify_poses(poses) == label).mean() >= share
    np.testing.assert_array_equal(generate_family(family, 10, 25.0, np.random.default_rng(9)),
                                  generate_family(family, 10, 25.0, np.random.default_rng(9)))


def test_random_procedural_draws_families_and_base_kinds():
    labels = {random_procedural(4, 25.0, seed)[1] for seed in range(120)}
    assert {'Sitting', 'Lying', 'Phoning', 'Walking'} <= labels
    assert len(FAMILIES) == 8


@pytest.mark.skipif(find_mocap_root() is None, reason='shared mocap folder absent')
def test_every_mocap_folder_maps_to_a_sane_skeleton():
    from hpm_ros.data.mocap_check import motion_sanity

    root = find_mocap_root()
    for trial in ('cmu/131_01.bvh', 'cmu_iclone/002_01.bvh', 'cmu_salsa/60_01_scaled.bvh',
                  'cmu_daz_10_14/10_01.bvh', 'accad/Male2_A1_Stand.bvh'):
        poses, _ = bvh_to_h36m(root / trial)
        assert motion_sanity(poses).ok, (trial, motion_sanity(poses).problems)


def test_a_camera_that_a_long_motion_would_pass_steps_back():
    poses = generate_family('arms_out', 30, 25.0, np.random.default_rng(6)).astype(np.float64)
    walk = poses + np.linspace(-6000.0, 6000.0, 30)[:, None, None] * np.array([1.0, 0.0, 0.0])
    prior = CameraPrior(distance_mm=(1500.0, 1500.0))
    for seed in range(20):
        camera = draw_camera(np.random.default_rng(seed), walk, prior)
        depth = world_to_camera(walk, camera.rotation, camera.translation)[..., 2]
        assert depth.min() >= 300.0 - 1e-6
