"""Human3.6M loaders on tiny files written in the real 3d-pose-baseline / VideoPose3D layouts."""
import h5py
import numpy as np
import pytest

from hpm_ros.data.h36m import (Camera, H36M32_TO_H36M17, PoseFrames, canonical_action,
                               image_paths, load_h36m_cameras, load_h36m_h5, load_h36m_npz,
                               load_image, subject_name)

STANDARD_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def rotation_xyz(a: float, b: float, c: float) -> np.ndarray:
    """Rx(a) @ Ry(b) @ Rz(c), as 3d-pose-baseline builds H36M rotations."""
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


CAMS = {
    1: dict(R=rotation_xyz(-1.6, 0.2, 0.3), T=np.array([1800.0, 4900.0, 1560.0]),
            f=np.array([1145.0, 1143.0]), c=np.array([512.5, 515.4]),
            k=np.zeros(3), p=np.zeros(2), name='54138969'),
    2: dict(R=rotation_xyz(-1.5, -0.1, 2.9), T=np.array([1760.0, -5070.0, 1600.0]),
            f=np.array([1149.7, 1147.6]), c=np.array([508.8, 508.1]),
            k=np.array([-0.19, 0.24, 0.007]), p=np.array([-0.0016, -0.0027]), name='55011271'),
}


def write_cameras_h5(path, subjects=(1,)):
    """cameras.h5 as in 3d-pose-baseline: R transposed (MATLAB order), column vectors."""
    with h5py.File(path, 'w') as h5:
        for subject in subjects:
            for number, cam in CAMS.items():
                group = h5.create_group(f'subject{subject}/camera{number}')
                group['R'] = cam['R'].T
                group['T'] = cam['T'].reshape(3, 1)
                group['f'] = cam['f'].reshape(2, 1)
                group['c'] = cam['c'].reshape(2, 1)
                group['k'] = cam['k'].reshape(3, 1)
                group['p'] = cam['p'].reshape(2, 1)
                codes = np.frombuffer(cam['name'].encode(), dtype=np.uint8)
                group['Name'] = codes if number == 1 else codes.reshape(-1, 1)


def world_poses(frames: int, seed: int) -> np.ndarray:
    """[T, 32, 3] mm world poses around (0, 0, 900), in front of both cameras."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 300.0, (frames, 32, 3)) + np.array([0.0, 0.0, 900.0])


def write_baseline_tree(root, sequences: dict):
    """h36m/S1/MyPoses/3D_positions/{seq}.h5 with '3D_positions' of shape [96, T]."""
    folder = root / 'S1' / 'MyPoses' / '3D_positions'
    folder.mkdir(parents=True)
    for name, poses in sequences.items():
        with h5py.File(folder / f'{name}.h5', 'w') as h5:
            h5['3D_positions'] = poses.reshape(len(poses), 96).T


def hand_camera(point, cam):
    """x_cam = R (x - T), written out per row."""
    d = [point[i] - cam['T'][i] for i in range(3)]
    return np.array([sum(cam['R'][r][i] * d[i] for i in range(3)) for r in range(3)])


def hand_project(point_cam, cam):
    """3d-pose-baseline project_point_radial for one point."""
    x, y = point_cam[0] / point_cam[2], point_cam[1] / point_cam[2]
    r2 = x * x + y * y
    k1, k2, k3 = cam['k']
    p1, p2 = cam['p']
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    tan = p1 * y + p2 * x
    u = x * (radial + tan) + p2 * r2
    v = y * (radial + tan) + p1 * r2
    return np.array([cam['f'][0] * u + cam['c'][0], cam['f'][1] * v + cam['c'][1]])


def test_standard_joint_indices_and_names():
    assert H36M32_TO_H36M17.tolist() == STANDARD_17
    assert canonical_action('Walking 1') == 'Walking'
    assert canonical_action('TakingPhoto 1') == 'Photo'
    assert canonical_action('WalkingDog') == 'WalkDog'
    assert canonical_action('Walking 1 chunk2') == 'Walking'
    assert subject_name(9) == 'S9' and subject_name('S11') == 'S11'
    with pytest.raises(ValueError, match='subject'):
        subject_name('Bob')


def test_cameras_h5_round_trip(tmp_path):
    write_cameras_h5(tmp_path / 'cameras.h5', subjects=(1, 5))
    cameras = load_h36m_cameras(tmp_path / 'cameras.h5', subjects=[1, 'S5'])
    assert sorted(cameras) == [('S1', 1), ('S1', 2), ('S5', 1), ('S5', 2)]
    cam = cameras[('S1', 2)]
    assert cam.name == '55011271' and cameras[('S1', 1)].name == '54138969'
    np.testing.assert_allclose(cam.rotation, CAMS[2]['R'])
    np.testing.assert_allclose(cam.translation, -CAMS[2]['R'] @ CAMS[2]['T'])
    np.testing.assert_allclose(cam.radial, CAMS[2]['k'])
    point = np.array([120.0, -340.0, 1010.0])
    np.testing.assert_allclose(cam.world_to_camera(point), hand_camera(point, CAMS[2]),
                               atol=1e-9)


def test_baseline_h5_world_frame(tmp_path):
    walking, photo = world_poses(7, 0), world_poses(4, 1)
    write_baseline_tree(tmp_path, {'Walking 1': walking, 'TakingPhoto': photo})
    frames = load_h36m_h5(tmp_path, subjects=[1])
    assert frames.frame_of_reference == 'world' and frames.poses_2d is None
    assert len(frames) == 11 and frames.poses_3d.dtype == np.float32
    # sorted by sequence name: 'TakingPhoto' before 'Walking 1'
    np.testing.assert_allclose(frames.poses_3d[:4], photo[:, STANDARD_17], rtol=1e-6)
    np.testing.assert_allclose(frames.poses_3d[4:], walking[:, STANDARD_17], rtol=1e-6)
    # the right hip of frame 2 is joint 1 of the 32, the left shoulder joint 17
    np.testing.assert_allclose(frames.poses_3d[6, 1], walking[2, 1], rtol=1e-6)
    np.testing.assert_allclose(frames.poses_3d[6, 11], walking[2, 17], rtol=1e-6)
    assert frames.action.tolist() == ['Photo'] * 4 + ['Walking'] * 7
    assert frames.sequence[-1] == 'Walking 1' and frames.subject[0] == 'S1'
    assert frames.camera.tolist() == [0] * 11
    assert frames.frame.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6]
    assert frames.segments() == [(0, 4), (4, 11)]


def test_baseline_h5_camera_frame_and_projection(tmp_path):
    walking = world_poses(3, 2)
    write_baseline_tree(tmp_path / 'h36m', {'Walking': walking})
    write_cameras_h5(tmp_path / 'cameras.h5')
    cameras = load_h36m_cameras(tmp_path / 'cameras.h5', subjects=[1])
    frames = load_h36m_h5(tmp_path / 'h36m', subjects=[1], cameras=cameras)
    assert frames.frame_of_reference == 'camera'
    assert frames.camera.tolist() == [1, 1, 1, 2, 2, 2]
    for number, offset in ((1, 0), (2, 3)):
        point_world = walking[1, 26]  # right elbow, H36M-17 index 15
        expected = hand_camera(point_world, CAMS[number])
        np.testing.assert_allclose(frames.poses_3d[offset + 1, 15], expected, rtol=1e-5)
        np.testing.assert_allclose(frames.poses_2d[offset + 1, 15],
                                   hand_project(expected, CAMS[number]), rtol=1e-5)
    # camera 1 has no distortion: plain pinhole
    cam_point = hand_camera(walking[0, 0], CAMS[1])
    pinhole = CAMS[1]['f'] * cam_point[:2] / cam_point[2] + CAMS[1]['c']
    np.testing.assert_allclose(frames.poses_2d[0, 0], pinhole, rtol=1e-5)


def test_baseline_h5_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='3D_positions'):
        load_h36m_h5(tmp_path, subjects=[1])
    folder = tmp_path / 'S1' / 'MyPoses' / '3D_positions'
    folder.mkdir(parents=True)
    with h5py.File(folder / 'Eating.h5', 'w') as h5:
        h5['3D_positions'] = np.zeros((95, 4))
    with pytest.raises(ValueError, match=r'Eating\.h5.*\[96, T\]'):
        load_h36m_h5(tmp_path, subjects=[1])
    with h5py.File(folder / 'Eating.h5', 'w') as h5:
        h5['poses'] = np.zeros((96, 4))
    with pytest.raises(ValueError, match='dataset "3D_positions" is missing'):
        load_h36m_h5(tmp_path, subjects=[1])


def test_cameras_h5_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='cameras.h5'):
        load_h36m_cameras(tmp_path / 'cameras.h5')
    write_cameras_h5(tmp_path / 'cameras.h5')
    with pytest.raises(ValueError, match="'subject9' is missing"):
        load_h36m_cameras(tmp_path / 'cameras.h5', subjects=[9])
    with h5py.File(tmp_path / 'cameras.h5', 'a') as h5:
        del h5['subject1/camera2/f']
    with pytest.raises(ValueError, match="camera2: dataset 'f' is missing"):
        load_h36m_cameras(tmp_path / 'cameras.h5', subjects=[1])


def write_videopose3d(tmp_path, extra_2d_frames=2, metadata=None):
    """data_3d_h36m.npz (metres, 32 joints) and data_2d_h36m_gt.npz (17 joints, 2 cams)."""
    rng = np.random.default_rng(3)
    positions_3d = {
        'S1': {'Walking': (world_poses(5, 4) / 1000).astype('float32'),
               'Eating 2': (world_poses(3, 5) / 1000).astype('float32')},
        'S9': {'Posing': (world_poses(2, 6) / 1000).astype('float32')},
    }
    positions_2d = {
        subject: {action: [rng.uniform(0, 1000, (len(p) + extra_2d_frames, 17, 2))
                           .astype('float32') for _ in range(2)]
                  for action, p in actions.items()}
        for subject, actions in positions_3d.items()}
    if metadata is None:
        metadata = {'num_joints': 17,
                    'keypoints_symmetry': [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(tmp_path / 'data_3d_h36m.npz', positions_3d=positions_3d)
    np.savez_compressed(tmp_path / 'data_2d_h36m_gt.npz', positions_2d=positions_2d,
                        metadata=metadata)
    return positions_3d, positions_2d


def test_videopose3d_3d_only_world_mm(tmp_path):
    positions_3d, _ = write_videopose3d(tmp_path)
    frames = load_h36m_npz(tmp_path / 'data_3d_h36m.npz', subjects=['S1'])
    assert frames.frame_of_reference == 'world' and len(frames) == 8
    assert frames.sequence.tolist() == ['Eating 2'] * 3 + ['Walking'] * 5
    np.testing.assert_allclose(frames.poses_3d[3:],
                               positions_3d['S1']['Walking'][:, STANDARD_17] * 1000, rtol=1e-6)
    assert abs(frames.poses_3d[:, 0, 2].mean()) > 100  # mm, not metres


def test_videopose3d_with_2d_and_cameras(tmp_path):
    positions_3d, positions_2d = write_videopose3d(tmp_path)
    write_cameras_h5(tmp_path / 'cameras.h5', subjects=(1, 9))
    cameras = load_h36m_cameras(tmp_path / 'cameras.h5', subjects=[1, 9])
    frames = load_h36m_npz(tmp_path / 'data_3d_h36m.npz', tmp_path / 'data_2d_h36m_gt.npz',
                           cameras=cameras)
    assert len(frames) == 2 * (5 + 3 + 2) and frames.frame_of_reference == 'camera'
    walk = np.flatnonzero((frames.sequence == 'Walking') & (frames.camera == 2))
    assert frames.frame[walk].tolist() == [0, 1, 2, 3, 4]
    # 2D keypoints come from the file (second camera), trimmed to the 3D length
    np.testing.assert_allclose(frames.poses_2d[walk], positions_2d['S1']['Walking'][1][:5])
    expected = hand_camera(positions_3d['S1']['Walking'][4, 25] * 1000.0, CAMS[2])
    np.testing.assert_allclose(frames.poses_3d[walk[4], 14], expected, rtol=1e-5)


def test_videopose3d_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='data_3d_h36m.npz'):
        load_h36m_npz(tmp_path / 'data_3d_h36m.npz')
    write_videopose3d(tmp_path, extra_2d_frames=-1)
    with pytest.raises(ValueError, match='do not cover'):
        load_h36m_npz(tmp_path / 'data_3d_h36m.npz', tmp_path / 'data_2d_h36m_gt.npz')
    with pytest.raises(ValueError, match=r"subjects \['S7'\] missing"):
        load_h36m_npz(tmp_path / 'data_3d_h36m.npz', subjects=[7])
    write_videopose3d(tmp_path, metadata={'layout_name': 'coco', 'num_joints': 17})
    with pytest.raises(ValueError, match="layout 'coco'"):
        load_h36m_npz(tmp_path / 'data_3d_h36m.npz', tmp_path / 'data_2d_h36m_gt.npz')
    np.savez(tmp_path / 'wrong.npz', poses=np.zeros(3))
    with pytest.raises(ValueError, match="no entry 'positions_3d'"):
        load_h36m_npz(tmp_path / 'wrong.npz')
    np.savez(tmp_path / 'flat.npz', positions_3d=np.zeros((4, 32, 3)))
    with pytest.raises(ValueError, match='not a pickled dict'):
        load_h36m_npz(tmp_path / 'flat.npz')
    np.savez(tmp_path / 'joints.npz', positions_3d={'S1': {'Walking': np.zeros((4, 20, 3))}})
    with pytest.raises(ValueError, match='32 or 17 joints'):
        load_h36m_npz(tmp_path / 'joints.npz')


def test_camera_from_quaternion_matches_videopose3d_qrot():
    rng = np.random.default_rng(7)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    position = np.array([1841.1, 4955.3, 1563.4])
    cam = Camera.from_quaternion(q, position, focal=(1145.0, 1143.8), center=(512.5, 515.5))
    point = np.array([100.0, -200.0, 900.0])
    # VideoPose3D: world_to_camera(X) = qrot(qinverse(q), X - t), qrot(q, v) rotates v by q
    w, xyz = q[0], -q[1:]
    v = point - position
    uv = np.cross(xyz, v)
    expected = v + 2 * (w * uv + np.cross(xyz, uv))
    np.testing.assert_allclose(cam.world_to_camera(point), expected, atol=1e-9)
    # 90 degrees about z: camera x axis is world y
    quarter = Camera.from_quaternion([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)], np.zeros(3),
                                     (1.0, 1.0), (0.0, 0.0))
    np.testing.assert_allclose(quarter.world_to_camera([0.0, 1.0, 0.0]), [1.0, 0.0, 0.0],
                               atol=1e-12)


def test_image_paths_and_load_image(tmp_path):
    from PIL import Image

    frames = PoseFrames(np.zeros((2, 17, 3), np.float32), np.array(['S1', 'S1']),
                        np.array(['Walking'] * 2), np.array(['Walking 1'] * 2),
                        np.array([3, 3]), np.array([0, 5]), 'camera')
    pattern = '{subject}/{sequence}.{camera}/{frame:06d}.png'
    with pytest.raises(FileNotFoundError, match=r'Walking 1\.58860488/000001\.png'):
        image_paths(frames, tmp_path, pattern, frame_offset=1)
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    for frame in (1, 6):
        path = tmp_path / 'S1' / 'Walking 1.58860488' / f'{frame:06d}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    paths = image_paths(frames, tmp_path, pattern, frame_offset=1)
    assert paths[1] == str(tmp_path / 'S1' / 'Walking 1.58860488' / '000006.png')
    image = load_image(paths[0])
    assert image.dtype == np.uint8 and image.shape == (4, 5, 3)
    np.testing.assert_array_equal(image, pixels)
    world = frames.take([0])
    world.camera[0] = 0
    with pytest.raises(ValueError, match='camera numbers 1..4'):
        image_paths(world, tmp_path, pattern, check=False)


def test_pose_frames_validation_and_take():
    frames = PoseFrames(np.arange(3 * 17 * 3, dtype=np.float32).reshape(3, 17, 3),
                        np.array(['S1', 'S1', 'S5']), np.array(['Eating'] * 3),
                        np.array(['Eating'] * 3), np.array([1, 1, 1]), np.array([0, 1, 0]),
                        'world')
    assert frames.segments() == [(0, 2), (2, 3)]
    subset = frames.take(np.array([True, False, True]))
    assert subset.subject.tolist() == ['S1', 'S5'] and subset.poses_3d[1, 0, 0] == 102.0
    with pytest.raises(ValueError, match=r'poses_3d must be \[N, 17, 3\]'):
        PoseFrames(np.zeros((3, 16, 3)), *[np.zeros(3)] * 5, 'world')
    with pytest.raises(ValueError, match='frame_of_reference'):
        PoseFrames(np.zeros((3, 17, 3)), *[np.zeros(3)] * 5, 'map')
