"""Human3.6M protocols #1-#3 and the HumanEva-I split, as index lists over PoseFrames."""
import numpy as np
import pytest

from hpm_ros.data.h36m import PoseFrames, canonical_action
from hpm_ros.data.protocols import (H36M_PROTOCOLS, Protocol, first_trial_mask,
                                    humaneva_indices, protocol_indices)

SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8', 'S9', 'S11')
SEQUENCES = ('Walking', 'Walking 1', 'Sitting 1', 'Sitting 2')
LENGTH = 130


def make_frames(subjects=SUBJECTS, sequences=SEQUENCES, cameras=(1, 2, 3, 4), length=LENGTH):
    """Every (subject, sequence, camera) with frames 0..length-1, zero poses."""
    labels = [(s, q, c, f) for s in subjects for q in sequences for c in cameras
              for f in range(length)]
    subject, sequence, camera, frame = (np.array(column) for column in zip(*labels))
    return PoseFrames(np.zeros((len(labels), 17, 3), np.float32), subject,
                      np.array([canonical_action(q) for q in sequence]), sequence,
                      camera.astype(np.int64), frame.astype(np.int64), 'camera')


def test_protocol_table_matches_paper():
    p1, p2, p3 = H36M_PROTOCOLS[1], H36M_PROTOCOLS[2], H36M_PROTOCOLS[3]
    assert p1.train_subjects == ('S1', 'S5', 'S6', 'S7', 'S8')
    assert p1.test_subjects == ('S9', 'S11') and p1.train_stride == p1.test_stride == 25
    assert p2.test_stride == 5 and p2.test_cameras == (3,) and p2.test_first_trial_only
    assert p2.train_subjects == p1.train_subjects and p2.train_stride == 25
    assert p3.train_subjects == ('S1', 'S5', 'S6', 'S7', 'S8', 'S9')
    assert p3.test_subjects == ('S11',) and p3.test_stride == 64


def test_protocol_1():
    frames = make_frames()
    train = protocol_indices(frames, 1, 'train')
    test = protocol_indices(frames, 1, 'test')
    # frames 0, 25, 50, 75, 100, 125 of each of 5 subjects x 4 sequences x 4 cameras
    assert len(train) == 5 * 4 * 4 * 6 and len(test) == 2 * 4 * 4 * 6
    assert set(frames.frame[train]) == {0, 25, 50, 75, 100, 125}
    assert set(frames.subject[train]) == {'S1', 'S5', 'S6', 'S7', 'S8'}
    assert set(frames.subject[test]) == {'S9', 'S11'}
    assert set(frames.camera[test]) == {1, 2, 3, 4}
    assert np.all(np.diff(train) > 0) and train.dtype == np.int64


def test_protocol_2_frontal_camera_first_trial_every_5th():
    frames = make_frames()
    test = protocol_indices(frames, 2, 'test')
    assert set(frames.camera[test]) == {3}
    assert set(frames.sequence[test]) == {'Walking', 'Sitting 1'}
    assert set(frames.subject[test]) == {'S9', 'S11'}
    assert set(frames.frame[test]) == set(range(0, LENGTH, 5))
    assert len(test) == 2 * 2 * 26
    train = protocol_indices(frames, 2, 'train')
    np.testing.assert_array_equal(train, protocol_indices(frames, 1, 'train'))


def test_protocol_3_every_64th_of_s11():
    frames = make_frames()
    test = protocol_indices(frames, 3, 'test')
    assert set(frames.subject[test]) == {'S11'}
    assert sorted(set(frames.frame[test])) == [0, 64, 128]
    assert len(test) == 4 * 4 * 3
    train = protocol_indices(frames, 3, 'train')
    assert 'S9' in set(frames.subject[train]) and 'S11' not in set(frames.subject[train])


def test_subsampling_uses_original_frame_numbers():
    frames = make_frames(subjects=('S9',), sequences=('Eating',), cameras=(3,))
    thinned = frames.take(np.arange(1, LENGTH, 2))  # odd frames only
    test = protocol_indices(thinned, 2, 'test')
    assert thinned.frame[test].tolist() == [5, 15, 25, 35, 45, 55, 65, 75, 85, 95, 105, 115,
                                            125]


def test_first_trial_ordering():
    frames = make_frames(subjects=('S1',), sequences=('Directions 1', 'Directions', 'Sitting 2',
                                                      'Sitting 1', 'TakingPhoto 1', 'Photo'),
                         cameras=(1,), length=1)
    mask = first_trial_mask(frames)
    assert frames.sequence[mask].tolist() == ['Directions', 'Sitting 1', 'Photo']


def test_custom_protocol_and_errors():
    frames = make_frames(cameras=(1,), length=10)
    custom = Protocol('mine', ('S1',), ('S5',), 1, 2, test_cameras=(1,))
    assert len(protocol_indices(frames, custom, 'test')) == 4 * 5
    with pytest.raises(ValueError, match='strides must be ints >= 1'):
        Protocol('bad', ('S1',), ('S5',), 0, 5)
    with pytest.raises(ValueError, match='protocol 4'):
        protocol_indices(frames, 4, 'test')
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        protocol_indices(frames, 1, 'val')


def test_humaneva_split():
    frames = make_frames(subjects=('Train/S1', 'Validate/S1', 'Validate/S4'),
                         sequences=('Walking 1 chunk0',), cameras=(1, 2, 3), length=4)
    train = humaneva_indices(frames, 'train')
    test = humaneva_indices(frames, 'test')
    assert set(frames.subject[train]) == {'Train/S1'} and len(train) == 12
    assert set(frames.subject[test]) == {'Validate/S1'} and len(test) == 12
    assert len(humaneva_indices(frames, 'test', stride=2)) == 6
    with pytest.raises(ValueError, match='split'):
        humaneva_indices(frames, 'validate')
