"""BVH parsing, forward kinematics and the CMU skeleton maps to Human3.6M-17."""
from pathlib import Path

import numpy as np
import pytest

from hpm_ros.data.bvh import BvhFormatError, bvh_to_h36m, parse_bvh, read_bvh
from hpm_ros.data.bvh_rigs import CGSPEED_MM, detect_rig
from hpm_ros.data.mocap_check import bone_lengths, motion_sanity
from hpm_ros.skeleton import H36M17

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Leg
  {
    OFFSET 2 0 0
    CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 -4 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 0 0 0 0 0  0 0 0  0 0 0 0 0 0
10 0 0 90 0 0  0 0 90  0 1 0 0 0 -90
0 0 0 90 90 0  0 0 0  0 0 0 0 0 0
"""


def _shared_mocap() -> Path | None:
    """shared/data/mocap beside the repository root, or None when absent."""
    root = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'mocap'
    return root if root.is_dir() else None


def test_forward_kinematics_matches_hand_computation():
    motion = parse_bvh(TINY)
    assert motion.names == ('Hips', 'Chest', 'Chest_end', 'Leg', 'Leg_end')
    assert list(motion.parents) == [-1, 0, 1, 0, 3]
    assert motion.fps == pytest.approx(25.0)
    expected = np.array([
        # all channels zero: offsets only
        [[1, 2, 3], [1, 12, 3], [1, 17, 3], [3, 2, 3], [3, -2, 3]],
        # root at offset + (10, 0, 0), Rz(90): x -> y, y -> -x; Chest Rx(90): y -> z;
        # Leg translation offset + (0, 1, 0) = (2, 1, 0) -> (-1, 2, 0), Leg Rz(-90) undoes Rz(90)
        [[11, 2, 3], [1, 2, 3], [1, 2, 8], [10, 4, 3], [10, 0, 3]],
        # root 'Zrotation Xrotation Yrotation' = Rz(90) @ Rx(90): (0, 10, 0) -> (0, 0, 10)
        [[1, 2, 3], [1, 2, 13], [1, 2, 18], [1, 4, 3], [1, 4, -1]],
    ], dtype=float)
    np.testing.assert_allclose(motion.positions, expected, atol=1e-9)


def test_read_bvh_from_file_and_extra_site(tmp_path):
    path = tmp_path / 'tiny.bvh'
    path.write_text(TINY)
    motion = read_bvh(path, extra_sites=(('Nose', 'Chest', (0.0, 0.0, 2.0)),))
    # frame 1: Chest at (1, 2, 3) rotated Rz(90) @ Rx(90): (0, 0, 2) -> (0, -2, 0) -> (2, 0, 0)
    np.testing.assert_allclose(motion.positions[1, motion.index('Nose')], [3, 2, 3], atol=1e-9)
    assert motion.num_frames == 3


@pytest.mark.parametrize('text, message', [
    (TINY.replace('MOTION', 'MOTON'), 'MOTION'),
    (TINY.replace('Frames: 3', 'Frames: 4'), 'values'),
    (TINY.replace('Xrotation Yrotation Zrotation', 'Xrotation Yrotation Wrotation'), 'channels'),
    (TINY.replace('HIERARCHY', 'HIERARCH'), 'HIERARCHY'),
])
def test_malformed_bvh_raises(text, message):
    with pytest.raises(BvhFormatError, match=message):
        parse_bvh(text)


def _cgspeed_v2_tpose() -> tuple:
    """A cgspeed (131_*) style hierarchy in a T-pose and its joint positions in BVH units."""
    tree = [('Hips', None, (0, 0, 0)), ('LHipJoint', 'Hips', (0, 0, 0)),
            ('LeftHip', 'LHipJoint', (1.2, -1.6, 0)), ('LeftKnee', 'LeftHip', (0, -7, 0)),
            ('LeftAnkle', 'LeftKnee', (0, -7, 0)), ('RHipJoint', 'Hips', (0, 0, 0)),
            ('RightHip', 'RHipJoint', (-1.2, -1.6, 0)), ('RightKnee', 'RightHip', (0, -7, 0)),
            ('RightAnkle', 'RightKnee', (0, -7, 0)), ('lowerback', 'Hips', (0, 0, 0)),
            ('Chest', 'lowerback', (0, 2, 0)), ('Chest2', 'Chest', (0, 2, 0)),
            ('lowerneck', 'Chest2', (0, 0, 0)), ('Neck', 'lowerneck', (0, 1.6, 0)),
            ('Head', 'Neck', (0, 1.6, 0)), ('LeftCollar', 'Chest2', (0, 0, 0)),
            ('LeftShoulder', 'LeftCollar', (3, 1.4, 0)), ('LeftElbow', 'LeftShoulder', (5, 0, 0)),
            ('LeftWrist', 'LeftElbow', (4, 0, 0)), ('RightCollar', 'Chest2', (0, 0, 0)),
            ('RightShoulder', 'RightCollar', (-3, 1.4, 0)),
            ('RightElbow', 'RightShoulder', (-5, 0, 0)), ('RightWrist', 'RightElbow', (-4, 0, 0))]
    children = {name: [c for c, p, _ in tree if p == name] for name, _, _ in tree}
    offsets = {name: offset for name, _, offset in tree}

    def block(name: str, depth: int) -> str:
        pad = '  ' * depth
        kind = 'ROOT' if depth == 0 else 'JOINT'
        channels = ('6 Xposition Yposition Zposition Zrotation Yrotation Xrotation' if depth == 0
                    else '3 Zrotation Xrotation Yrotation')
        inner = ''.join(block(child, depth + 1) for child in children[name])
        if not inner:
            end = 1.5 if name == 'Head' else -1.5
            inner = f'{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 {end} 0\n{pad}  }}\n'
        x, y, z = offsets[name]
        return (f'{pad}{kind} {name}\n{pad}{{\n{pad}  OFFSET {x} {y} {z}\n'
                f'{pad}  CHANNELS {channels}\n{inner}{pad}}}\n')
    num_channels = 6 + 3 * (len(tree) - 1)
    root_height = 16.0
    frame = ' '.join(['0', str(root_height), '0'] + ['0'] * (num_channels - 3))
    text = f'HIERARCHY\n{block("Hips", 0)}MOTION\nFrames: 2\nFrame Time: 0.008333\n'
    text += f'{frame}\n{frame}\n'
    return text, root_height


def test_bvh_to_h36m_maps_units_axes_and_joints(tmp_path):
    text, root_height = _cgspeed_v2_tpose()
    path = tmp_path / 'cgspeed.bvh'
    path.write_text(text)
    assert detect_rig(read_bvh(path).names).name == 'cmu_cgspeed_v2'
    poses, fps = bvh_to_h36m(path, floor=False)
    assert poses.shape == (2, 17, 3) and poses.dtype == np.float32
    assert fps == pytest.approx(120.0, rel=1e-3)
    unit = CGSPEED_MM
    # BVH Y-up (x, y, z) -> world Z-up (x, -z, y); T-pose with z = 0 everywhere.
    expected_bvh = {
        'Hip': (0, root_height - 1.6), 'RHip': (-1.2, root_height - 1.6),
        'RKnee': (-1.2, root_height - 8.6), 'RFoot': (-1.2, root_height - 15.6),
        'LHip': (1.2, root_height - 1.6), 'LFoot': (1.2, root_height - 15.6),
        'Spine': (0, root_height + 2), 'Thorax': (0, root_height + 5.6),
        'Neck': (0, root_height + 7.2), 'Head': (0, root_height + 8.7),
        'LShoulder': (3, root_height + 5.4), 'LElbow': (8, root_height + 5.4),
        'LWrist': (12, root_height + 5.4), 'RWrist': (-12, root_height + 5.4),
    }
    for name, (x, y) in expected_bvh.items():
        np.testing.assert_allclose(poses[0, H36M17.index(name)], [x * unit, 0, y * unit],
                                   atol=1e-3, err_msg=name)
    floored, _ = bvh_to_h36m(path)
    lowest_end_site = root_height - 15.6 - 1.5
    np.testing.assert_allclose(floored[..., 2], poses[..., 2] - lowest_end_site * unit,
                               atol=1e-3)


@pytest.mark.parametrize('relative, rig, drops_first', [
    ('cmu/131_01.bvh', 'cmu_cgspeed_v2', False),
    ('cmu/01_01.bvh', 'cmu_cgspeed', False),
    ('cmu_iclone/002_01.bvh', 'cc_iclone', True),
    ('cmu_salsa/60_05_scaled.bvh', 'daz_salsa', False),
])
def test_shared_cmu_files_give_sane_skeletons(relative, rig, drops_first):
    root = _shared_mocap()
    if root is None or not (root / relative).is_file():
        pytest.skip('shared CMU motion capture (shared/data/mocap beside the repo) is absent')
    path = root / relative
    motion = read_bvh(path)
    assert detect_rig(motion.names).name == rig
    poses, fps = bvh_to_h36m(path)
    assert poses.shape == (motion.num_frames - drops_first, 17, 3)
    assert fps == pytest.approx(motion.fps)
    report = motion_sanity(poses)
    assert report.ok, report.problems
    assert 1200 < report.height_mm < 2000
    lengths = bone_lengths(poses).mean(axis=0)
    thigh = lengths[[b for b, (_, c) in enumerate(H36M17.bones) if c in (2, 5)]]
    assert np.all((thigh > 350) & (thigh < 520))
