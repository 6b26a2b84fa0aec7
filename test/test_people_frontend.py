"""Several people in the BlazePose front end, on real multi-person frames (test/data/people).

The clips are composites of real frames of the shared room video (see test/data/people/
SOURCE.md); ``people.json`` gives the box of every pasted person, so each test knows who is
where. Frames are decoded once per module.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpm_ros.errors import CheckpointError
from hpm_ros.frontends.blazepose import BlazePoseFrontEnd
from hpm_ros.frontends.blazepose.anchors import ssd_anchors
from hpm_ros.frontends.blazepose.faces import VARIANTS, FaceDetector, body_roi
from hpm_ros.frontends.blazepose.person_boxes import inside, mask_boxes
from hpm_ros.frontends.blazepose.runtime import create_runtime, default_model_dir, model_file
from hpm_ros.people_tracking import box_iou
from hpm_ros.video import read_frames

DATA = Path(__file__).parent / 'data' / 'people'
INDEX = json.loads((DATA / 'people.json').read_text())


@pytest.fixture(scope='module')
def clips():
    return {name: [frame for _, frame in read_frames(DATA / f'{name}.mp4')]
            for name in INDEX['clips']}


@pytest.fixture(scope='module')
def astronaut():
    return np.asarray(Image.open(DATA / 'astronaut.jpg').convert('RGB'))


@pytest.fixture(scope='module')
def searcher():
    """Several people, tracking off: every frame is searched from scratch."""
    front_end = BlazePoseFrontEnd(max_people=4, tracking=False)
    yield front_end
    front_end.close()


@pytest.fixture(scope='module')
def tracker():
    front_end = BlazePoseFrontEnd(max_people=4)
    yield front_end
    front_end.close()


def truth(name: str, frame: int) -> np.ndarray:
    return np.array([layer['box'] for layer in INDEX['clips'][name]['layers_by_frame'][frame]],
                    np.float64)


def corners(people) -> np.ndarray:
    return np.array([[p.box[0], p.box[1], p.box[0] + p.box[2], p.box[1] + p.box[3]]
                     for p in people], np.float64).reshape(-1, 4)


def face_detector(variant: str) -> FaceDetector:
    path = model_file(default_model_dir(), VARIANTS[variant][0], 'litert')
    return FaceDetector(create_runtime('litert', path), variant)


def test_face_anchor_layouts_are_mediapipes():
    assert len(ssd_anchors(128, (8, 16, 16, 16), interpolated_ratio=1.0)) == 896
    full = ssd_anchors(192, (4,), interpolated_ratio=0.0)
    assert len(full) == 2304 and full[0].tolist() == pytest.approx([1 / 96, 1 / 96, 1, 1])


@pytest.mark.parametrize('variant', ['full', 'short'])
def test_blazeface_finds_the_face_of_a_person_facing_the_camera(astronaut, variant):
    faces = face_detector(variant).detect(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.8
    x0, y0, x1, y1 = faces[0].box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200        # her face, by eye: 175-280, 70-180
    eyes, mouth = faces[0].keypoints[:2], faces[0].keypoints[3]
    assert eyes[:, 1].max() < mouth[1] and x0 < mouth[0] < x1
    roi = body_roi(faces[0])
    assert roi.rotation == 0.0 and roi.y > y1 and roi.side > 5 * (y1 - y0)


def test_blazeface_sees_no_face_on_people_seen_from_behind(clips):
    detector = face_detector('full')
    assert detector.detect(clips['three_640x480'][0]) == []


def test_a_model_that_is_not_a_face_detector_is_refused():
    path = model_file(default_model_dir(), 'pose_detection', 'litert')
    with pytest.raises(CheckpointError, match='face detector'):
        FaceDetector(create_runtime('litert', path), 'full')
    with pytest.raises(ValueError, match='variant'):
        FaceDetector(create_runtime('litert', path), 'medium')


def test_masking_paints_grown_boxes_and_inside_uses_the_margin():
    image = np.zeros((100, 100, 3), np.uint8)
    mask_boxes(image, [(10, 10, 29, 49)], margin=0.1)
    painted = np.argwhere(image[..., 0] == 128)
    assert painted.min(axis=0).tolist() == [6, 8] and painted.max(axis=0).tolist() == [53, 31]
    assert inside(np.array([30.5, 20.0]), [(10, 10, 29, 49)], margin=0.1)
    assert not inside(np.array([30.5, 20.0]), [(10, 10, 29, 49)])


@pytest.mark.parametrize('name, count', [('two_standing', 2), ('three_640x480', 3)])
def test_every_person_of_a_multi_person_frame_is_found(searcher, clips, name, count):
    people = searcher.process(clips[name][0]).people
    assert len(people) == count
    iou = box_iou(truth(name, 0), corners(people))
    assert (iou.max(axis=1) >= 0.5).all(), iou       # each pasted person found once
    assert {p.extras['found_by'] for p in people} == {'pose_detector'}
    areas = [p.box[2] * p.box[3] for p in people]
    assert areas == sorted(areas, reverse=True)
    assert len({p.extras['track_id'] for p in people}) == count


def test_the_single_person_graph_reports_one_and_max_people_caps(clips):
    single = BlazePoseFrontEnd(tracking=False)
    two = BlazePoseFrontEnd(tracking=False, max_people=2)
    try:
        assert len(single.process(clips['three_640x480'][0]).people) == 1
        assert single.faces is None and single.boxes.source == 'pose_detector'
        assert len(two.process(clips['three_640x480'][0]).people) == 2
    finally:
        single.close()
        two.close()


def test_a_face_seeds_a_person_the_landmark_model_then_confirms(astronaut):
    faces_only = BlazePoseFrontEnd(tracking=False, max_people=4, box_source='faces')
    try:
        people = faces_only.process(astronaut).people
        assert len(people) == 1 and people[0].extras['found_by'] == 'face'
        nose = people[0].keypoints[0]
        assert 200 < nose[0] < 260 and 100 < nose[1] < 160
    finally:
        faces_only.close()


def test_tracked_ids_are_stable_and_search_runs_only_every_interval(tracker, clips):
    tracker.reset()
    ids, detect_ms = [], []
    for index, frame in enumerate(clips['two_standing'][:11]):
        output = tracker.process(frame, stamp=index / 10.0)
        ids.append(sorted(p.extras['track_id'] for p in output.people))
        detect_ms.append(output.timings_ms['detect'])
    assert all(row == ids[0] for row in ids) and len(ids[0]) == 2
    searched = [i for i, ms in enumerate(detect_ms) if ms > 0]
    assert searched == [0, 5, 10]
    last = tracker.process(clips['two_standing'][11], stamp=1.1).people
    assert {p.extras['found_by'] for p in last} == {'tracking'}


def test_an_id_comes_back_after_a_person_walks_in_front(tracker, clips):
    """crossing.mp4: layer 0 stands, layer 1 walks out in front of them (frames 31-37)."""
    tracker.reset()
    standing = {}
    for index, frame in enumerate(clips['crossing']):
        people = tracker.process(frame, stamp=index / 10.0).people
        if index in (25, 45):
            iou = box_iou(truth('crossing', index)[:1], corners(people))[0]
            assert iou.max() >= 0.5, (index, iou)
            standing[index] = people[int(np.argmax(iou))].extras['track_id']
    assert standing[25] == standing[45]


def test_external_boxes_replace_the_detector(tracker, clips):
    tracker.reset()
    boxes = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in truth('two_standing', 0)]
    output = tracker.process(clips['two_standing'][0], boxes=boxes)
    assert output.timings_ms['detect'] == 0.0 and len(output.people) == 2
    assert {p.extras['found_by'] for p in output.people} == {'box'}
    with pytest.raises(ValueError, match='not both'):
        tracker.process(clips['two_standing'][0], roi=boxes[0], boxes=boxes)
    with pytest.raises(ValueError, match='person box'):
        tracker.process(clips['two_standing'][0], boxes=[(0, 0, np.nan, 10)])
    assert tracker.process(clips['two_standing'][0], boxes=[]).people == []


@pytest.mark.parametrize('options, message', [({'max_people': 0}, 'max_people'),
                                              ({'search_interval': 0}, 'search_interval'),
                                              ({'box_source': 'yolo'}, 'box_source'),
                                              ({'face_detector': 'medium'}, 'face_detector')])
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        BlazePoseFrontEnd(**options)


def test_a_candidate_on_a_known_person_is_no_new_person(searcher):
    from hpm_ros.frontends.blazepose.person_boxes import overlap

    assert overlap((0, 0, 10, 10), [(5, 0, 20, 10)]) == pytest.approx(0.5)
    assert overlap((0, 0, 10, 10), [(20, 20, 30, 30)]) == 0.0
    assert overlap((0, 0, 10, 10), []) == 0.0
    # frame 550 of the shared video, one person: the second detector round lands on her lower
    # half (a skeleton box 414-510 x 93-360 inside hers, 429-525 x 7-363)
    frame = np.asarray(Image.open(DATA / 'video_550.png').convert('RGB'))
    assert len(searcher.process(frame).people) == 1
