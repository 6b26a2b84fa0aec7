"""Several people through the pipeline: batched lifting, one LSTM state per ID, the primary
person, `hpm estimate`'s person arrays; on the real multi-person clips of test/data/people."""
from pathlib import Path

import numpy as np
import pytest
import torch

from hpm_ros.crop import CropBox
from hpm_ros.estimate import estimate, open_input, people_arrays
from hpm_ros.frontends.base import PersonDetection
from hpm_ros.lifting import LiftedPerson
from hpm_ros.pipeline import PipelineConfig, PosePipeline
from hpm_ros.video import read_frames

DATA = Path(__file__).parent / 'data' / 'people'


@pytest.fixture(scope='module')
def pipeline():
    return PosePipeline(PipelineConfig(threads=1))


@pytest.fixture(scope='module')
def three():
    return [frame for _, frame in read_frames(DATA / 'three_640x480.mp4', max_frames=4)]


def lifted(track_id: int, width: float = 100.0) -> LiftedPerson:
    keypoints = np.stack([np.linspace(0, width, 17), np.linspace(0, 2 * width, 17)], 1)
    joints = np.full((17, 3), float(track_id), np.float32)
    return LiftedPerson(keypoints.astype(np.float32), np.ones(17, np.float32), joints, joints,
                        joints / 1000.0, 'nominal', True, False, 1, CropBox(0, 0, 1), track_id)


def test_batched_lifting_equals_one_person_at_a_time(pipeline, three):
    people = pipeline.front_end.process(three[0]).people
    assert len(people) == 3
    lifter, size = pipeline.lifter, (640, 480)
    states = [lifter.initial_state(1), None, lifter.initial_state(1)]
    states[0] = (states[0][0] + 0.1, states[0][1] - 0.1)          # a carried state
    together, new_states, _ = lifter.lift_people(people, states, None, size)
    for index, person in enumerate(people):
        alone, alone_state, _ = lifter.lift_people([person], [states[index]], None, size)
        # mm; float32 batched kernels round differently from batch-1 ones (~1e-3 mm)
        np.testing.assert_allclose(together[index].joints3d, alone[0].joints3d, atol=1e-2)
        np.testing.assert_allclose(together[index].joints3d_raw, alone[0].joints3d_raw,
                                   atol=1e-2)
        for got, want in zip(new_states[index], alone_state[0]):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert not np.allclose(together[0].joints3d_raw, together[1].joints3d_raw)


def test_each_id_carries_its_own_lstm_state(pipeline, three):
    pipeline.reset()
    first = pipeline.process(three[0], stamp=0.0, frame_id='camera')
    ids = [p.track_id for p in first.people]
    assert len(ids) == 3 and len(set(ids)) == 3 and min(ids) >= 1
    assert set(pipeline.states) == set(ids)
    carried = {i: pipeline.states[i][0].clone() for i in ids}
    assert all(not torch.equal(carried[a], carried[b]) for a in ids for b in ids if a != b)
    second = pipeline.process(three[1], stamp=0.1, frame_id='camera')
    assert sorted(p.track_id for p in second.people) == sorted(ids)
    # frame 2 of a person continues from their own state: the same step from H_0 differs
    person = next(p for p in pipeline.front_end.process(three[1], stamp=0.2).people
                  if p.extras['track_id'] == ids[0])
    fresh = pipeline.lifter.lift_people([person], [None], None, (640, 480))[0][0]
    continued = pipeline.lifter.lift_people([person], [pipeline.states[ids[0]]], None,
                                            (640, 480))[0][0]
    assert np.abs(fresh.joints3d_raw - continued.joints3d_raw).max() > 1.0


def test_the_primary_is_the_largest_and_the_results_carry_every_person(pipeline, three):
    pipeline.reset()
    result = pipeline.process(three[0], stamp=0.0, frame_id='camera')
    assert result.valid and result.track_id == result.people[0].track_id
    detections = {d.extras['track_id']: d for d in result.detections}
    areas = [detections[p.track_id].box[2] * detections[p.track_id].box[3]
             for p in result.people]
    assert areas[0] == max(areas)
    np.testing.assert_array_equal(result.joints3d, result.people[0].joints3d)
    assert all(np.isfinite(p.joints3d_camera).all() for p in result.people)


def test_the_previous_primary_keeps_the_role_while_nearly_as_large(pipeline):
    def person(track_id, width):
        return PersonDetection((0, 0, width, 100), np.zeros((33, 2)), np.ones(33), 'x', 1.0,
                               {'track_id': track_id})

    people, ids = [person(1, 90.0), person(2, 100.0)], [1, 2]
    pipeline.primary_id = 1
    assert pipeline._primary_first([0, 1], people, ids) == [0, 1]     # 90 >= 0.8 x 100
    people[0] = person(1, 70.0)
    assert pipeline._primary_first([0, 1], people, ids) == [1, 0]
    pipeline.primary_id = None
    assert pipeline._primary_first([0, 1], people, ids) == [1, 0]


def test_people_arrays_have_a_person_axis_with_empty_slots():
    arrays = people_arrays([[lifted(3), lifted(5)], [], [lifted(5)]], 17, camera=True)
    assert arrays['keypoints2d_people'].shape == (3, 2, 17, 2)
    assert arrays['joints3d_people'].shape == (3, 2, 17, 3)
    assert arrays['track_id'].tolist() == [[3, 5], [-1, -1], [5, -1]]
    assert np.isnan(arrays['joints3d_people'][1]).all()
    assert np.isnan(arrays['keypoints2d_people'][2, 1]).all()
    assert (arrays['confidence_people'][1] == 0).all()
    assert arrays['joints3d_people'][2, 0, 0, 0] == 5.0
    assert arrays['joints3d_camera_people'][0, 1, 0, 0] == pytest.approx(0.005)
    assert people_arrays([[], []], 17)['track_id'].shape == (2, 1)


def test_estimate_writes_every_person_beside_the_primary(pipeline):
    output = estimate(pipeline, open_input(str(DATA / 'two_standing.mp4'), max_frames=3),
                      progress=False)
    assert output['keypoints2d_people'].shape == (3, 2, 17, 2)
    assert output['joints3d_people'].shape == (3, 2, 17, 3)
    ids = output['track_id']
    assert ids.dtype == np.int64 and (ids > 0).all() and (ids == ids[0]).all()
    np.testing.assert_array_equal(output['joints3d_people'][:, 0], output['joints3d'])
    assert 'joints3d_camera_people' not in output


def test_psi_r_stays_one_person(tmp_path):
    config = PipelineConfig(front_end='psi_r')
    assert config.max_people == 4
    with pytest.raises(ValueError, match='max_people'):
        PipelineConfig(max_people=0)


def test_bag_eval_writes_every_body(pipeline, tmp_path):
    from hpm_ros.bags import io
    from hpm_ros.bags.evaluate import evaluate_bag
    from hpm_ros.bags.make import media_source, write_bag

    bag = tmp_path / 'two'
    write_bag(bag, media_source(str(DATA / 'two_standing.mp4')), max_frames=4, progress=False)
    result = evaluate_bag(pipeline, bag, tmp_path / 'out', progress=False)
    ids = result['track_id']
    assert ids.shape == (4, 2) and (ids > 0).all() and (ids == ids[0]).all()
    assert result['joints3d_camera_people'].shape == (4, 2, 17, 3)
    with io.BagReader(tmp_path / 'out') as reader:
        bodies = sorted(t for t in reader.topics if t.endswith('/skeleton3d'))
        assert bodies == sorted(f'/humans/bodies/b{i}/skeleton3d' for i in ids[0])
        assert all(reader.count(t) == 4 for t in bodies)
        tracked = [io.deserialize(d, c.msgtype).data
                   for c, _, d in reader.messages({'/humans/bodies/tracked'})]
        markers = [io.deserialize(d, c.msgtype) for c, _, d in reader.messages(
            {'/hpm_pose/markers'})]
    assert tracked == [' '.join(f'b{i}' for i in ids[0])] * 4
    spheres = [m.id for m in markers[0].markers if m.type == 7 and m.action == 0]
    assert sorted(spheres) == sorted(100 * int(i) for i in ids[0])
