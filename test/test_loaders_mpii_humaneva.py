"""MPII JSON and HumanEva-I VideoPose3D loaders on tiny files in the real layouts."""
import json

import numpy as np
import pytest

from hpm_ros.data.h36m import Camera
from hpm_ros.data.humaneva import INTERPOLATED_JOINTS, load_humaneva_npz
from hpm_ros.data.mpii import load_mpii_json
from hpm_ros.skeleton import H36M17

J = {name: H36M17.index(name) for name in H36M17.joint_names}
# MPII order: r_ankle r_knee r_hip l_hip l_knee l_ankle pelvis thorax upper_neck head_top
#             r_wrist r_elbow r_shoulder l_shoulder l_elbow l_wrist
MPII = {name: i for i, name in enumerate(
    ('r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'pelvis', 'thorax',
     'upper_neck', 'head_top', 'r_wrist', 'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow',
     'l_wrist'))}


def mpii_entries():
    """Two annotations as in mpii_train.json (1-based pixels)."""
    joints = [[[100.0 + 10 * j, 200.0 + 5 * j] for j in range(16)],
              [[300.0 - 3 * j, 50.0 + 7 * j] for j in range(16)]]
    visible = [[1] * 16, [1] * 16]
    visible[1][MPII['thorax']] = 0
    visible[1][MPII['l_wrist']] = 0
    return [{'joints_vis': visible[i], 'joints': joints[i], 'image': f'{i:09d}.jpg',
             'scale': 1.5 + i, 'center': [150.0 + i, 250.0]} for i in range(2)]


def write_json(path, entries):
    path.write_text(json.dumps(entries))
    return path


def test_mpii_mapping_and_units(tmp_path):
    entries = mpii_entries()
    samples = load_mpii_json(write_json(tmp_path / 'mpii_train.json', entries))
    assert len(samples) == 2 and samples.joints_2d.shape == (2, 17, 2)
    raw = np.array(entries[0]['joints'])
    pairs = (('Hip', 'pelvis'), ('RFoot', 'r_ankle'), ('LKnee', 'l_knee'), ('Thorax', 'thorax'),
             ('Neck', 'upper_neck'), ('Head', 'head_top'), ('RWrist', 'r_wrist'),
             ('LShoulder', 'l_shoulder'))
    for h36m, mpii in pairs:
        np.testing.assert_allclose(samples.joints_2d[0, J[h36m]], raw[MPII[mpii]] - 1.0)
    spine = (raw[MPII['pelvis']] + raw[MPII['thorax']]) / 2 - 1.0
    np.testing.assert_allclose(samples.joints_2d[0, J['Spine']], spine)
    assert samples.visible[0].all()
    hidden = {name for name in H36M17.joint_names if not samples.visible[1, J[name]]}
    assert hidden == {'Thorax', 'Spine', 'LWrist'}
    np.testing.assert_allclose(samples.center, [[149.0, 249.0], [150.0, 249.0]])
    np.testing.assert_allclose(samples.scale, [1.5, 2.5])
    assert samples.image.tolist() == ['000000000.jpg', '000000001.jpg']
    zero_based = load_mpii_json(tmp_path / 'mpii_train.json', matlab_coordinates=False)
    np.testing.assert_allclose(zero_based.joints_2d[0, J['Hip']], raw[MPII['pelvis']])


def test_mpii_images(tmp_path):
    from PIL import Image

    write_json(tmp_path / 'mpii_val.json', mpii_entries())
    (tmp_path / 'images').mkdir()
    pixels = np.full((3, 4, 3), 200, dtype=np.uint8)
    pixels[0, 0] = (255, 0, 10)
    Image.fromarray(pixels).save(tmp_path / 'images' / '000000000.jpg', quality=100)
    with pytest.raises(FileNotFoundError, match='000000001.jpg'):
        load_mpii_json(tmp_path / 'mpii_val.json', tmp_path / 'images', check_images=True)
    samples = load_mpii_json(tmp_path / 'mpii_val.json', tmp_path / 'images')
    image = samples.load_image(0)
    assert image.dtype == np.uint8 and image.shape == (3, 4, 3)
    assert abs(int(image[2, 3, 0]) - 200) < 8
    with pytest.raises(FileNotFoundError, match='000000001.jpg'):
        samples.load_image(1)
    with pytest.raises(ValueError, match='image_root'):
        load_mpii_json(tmp_path / 'mpii_val.json').image_path(0)


def test_mpii_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='mpii_train.json'):
        load_mpii_json(tmp_path / 'mpii_train.json')
    entries = mpii_entries()
    del entries[1]['joints_vis']
    with pytest.raises(ValueError, match=r"\[1\]: missing keys \['joints_vis'\]"):
        load_mpii_json(write_json(tmp_path / 'a.json', entries))
    entries = mpii_entries()
    entries[0]['joints'] = entries[0]['joints'][:14]
    with pytest.raises(ValueError, match=r"\[0\]: 'joints' must have shape \(16, 2\)"):
        load_mpii_json(write_json(tmp_path / 'b.json', entries))
    with pytest.raises(ValueError, match='JSON list'):
        load_mpii_json(write_json(tmp_path / 'c.json', {'image': 'x.jpg'}))
    (tmp_path / 'd.json').write_text('[{"image": ')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_mpii_json(tmp_path / 'd.json')


def humaneva_poses(frames, seed):
    """[T, 15, 3] metres, world frame."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 0.3, (frames, 15, 3)) + [0.0, 0.0, 1.0]).astype('float32')


def write_humaneva(tmp_path, layout='humaneva15'):
    """data_3d_humaneva15.npz and data_2d_humaneva15_gt.npz as VideoPose3D writes them."""
    positions_3d = {'Train/S1': {'Walking 1 chunk0': humaneva_poses(4, 0),
                                 'Box 1 chunk1': humaneva_poses(2, 1)},
                    'Validate/S2': {'Jog 1 chunk0': humaneva_poses(3, 2)}}
    rng = np.random.default_rng(5)
    positions_2d = {s: {a: [rng.uniform(0, 640, (len(p), 15, 2)).astype('float32')
                            for _ in range(3)] for a, p in actions.items()}
                    for s, actions in positions_3d.items()}
    metadata = {'layout_name': layout, 'num_joints': 15,
                'keypoints_symmetry': [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]}
    np.savez_compressed(tmp_path / 'data_3d_humaneva15.npz', positions_3d=positions_3d)
    np.savez_compressed(tmp_path / 'data_2d_humaneva15_gt.npz', positions_2d=positions_2d,
                        metadata=metadata)
    return positions_3d, positions_2d


def test_humaneva_world_mm_and_mapping(tmp_path):
    positions_3d, _ = write_humaneva(tmp_path)
    frames = load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz', subjects=['Train/S1'])
    assert frames.frame_of_reference == 'world' and len(frames) == 6
    assert frames.sequence.tolist() == ['Box 1 chunk1'] * 2 + ['Walking 1 chunk0'] * 4
    assert frames.action.tolist() == ['Box'] * 2 + ['Walking'] * 4
    walk = positions_3d['Train/S1']['Walking 1 chunk0'].astype(np.float64) * 1000.0
    pose = frames.poses_3d[3]  # Walking frame 1
    np.testing.assert_allclose(pose[J['Hip']], walk[1, 0], rtol=1e-6)
    np.testing.assert_allclose(pose[J['RFoot']], walk[1, 13], rtol=1e-6)
    np.testing.assert_allclose(pose[J['LWrist']], walk[1, 4], rtol=1e-6)
    np.testing.assert_allclose(pose[J['Head']], walk[1, 14], rtol=1e-6)
    np.testing.assert_allclose(pose[J['Spine']], (walk[1, 0] + walk[1, 1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(pose[J['Neck']], (walk[1, 1] + walk[1, 14]) / 2, rtol=1e-6)
    assert INTERPOLATED_JOINTS == ('Spine', 'Neck')


def test_humaneva_2d_and_cameras(tmp_path):
    positions_3d, positions_2d = write_humaneva(tmp_path)
    cameras = {(s, n): Camera.from_quaternion([1.0, 0.0, 0.0, 0.0], [0.0, -4000.0 * n, 0.0],
                                              (1000.0, 1000.0), (320.0, 240.0))
               for s in ('S1', 'S2') for n in (1, 2, 3)}
    frames = load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz',
                               tmp_path / 'data_2d_humaneva15_gt.npz', cameras=cameras)
    assert len(frames) == 3 * (4 + 2 + 3) and frames.frame_of_reference == 'camera'
    jog = np.flatnonzero((frames.sequence == 'Jog 1 chunk0') & (frames.camera == 2))
    assert frames.subject[jog].tolist() == ['Validate/S2'] * 3
    keypoints = positions_2d['Validate/S2']['Jog 1 chunk0'][1]
    np.testing.assert_allclose(frames.poses_2d[jog, J['RElbow']], keypoints[:, 6])
    np.testing.assert_allclose(frames.poses_2d[jog, J['Spine']],
                               (keypoints[:, 0] + keypoints[:, 1]) / 2, rtol=1e-6)
    # identity rotation, centre (0, -8000, 0): camera point = world point + (0, 8000, 0)
    world = positions_3d['Validate/S2']['Jog 1 chunk0'][2, 0].astype(np.float64) * 1000.0
    np.testing.assert_allclose(frames.poses_3d[jog[2], J['Hip']], world + [0, 8000, 0],
                               rtol=1e-6)


def test_humaneva_errors(tmp_path):
    write_humaneva(tmp_path, layout='coco')
    with pytest.raises(ValueError, match="layout 'coco'"):
        load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz',
                          tmp_path / 'data_2d_humaneva15_gt.npz')
    with pytest.raises(ValueError, match=r"subjects \['Train/S3'\] missing"):
        load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz', subjects=['Train/S3'])
    only_s1_c1 = {('S1', 1): Camera.from_quaternion([1, 0, 0, 0], [0, 0, -5000], (1, 1), (0, 0))}
    with pytest.raises(ValueError, match="no cameras for subject 'S2'"):
        load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz', cameras=only_s1_c1)
    write_humaneva(tmp_path)
    with pytest.raises(ValueError, match=r"no camera \('S1', 2\)"):
        load_humaneva_npz(tmp_path / 'data_3d_humaneva15.npz',
                          tmp_path / 'data_2d_humaneva15_gt.npz', cameras=only_s1_c1)
    np.savez(tmp_path / 'bad.npz', positions_3d={'Train/S1': {'Walking 1': np.zeros((3, 14, 3))}})
    with pytest.raises(ValueError, match=r'\[\.\.\., 15, D\]'):
        load_humaneva_npz(tmp_path / 'bad.npz')
