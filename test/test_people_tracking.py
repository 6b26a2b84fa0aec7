"""Tracking IDs: association (IoU, joints, motion model, Hungarian), claims, expiry."""
import numpy as np
import pytest

from hpm_ros.people_tracking import Observation, PeopleTracker, box_iou, keypoint_similarity


def box(x, y=0.0, width=50.0, height=150.0):
    return (x, y, x + width, y + height)


def test_box_iou_by_hand():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30],
                                                        [0, 0, 10, 10]]))
    assert iou[0] == pytest.approx([50 / 150, 0.0, 1.0])


def test_new_people_get_new_ids_and_ids_are_never_given_twice():
    tracker = PeopleTracker()
    assert tracker.update([Observation(box(0)), Observation(box(300))], 0.0) == [1, 2]
    assert tracker.update([Observation(box(2)), Observation(box(302)),
                           Observation(box(600))], 0.1) == [1, 2, 3]
    tracker.reset()
    assert tracker.update([Observation(box(0))], 0.2) == [4]


def test_the_motion_model_follows_a_walker_that_iou_alone_would_lose():
    def walk(tracker):
        x, ids = 0.0, []
        for step in range(6):       # 30 px per frame (IoU 0.25), then 40 px (IoU 0.11 < 0.2)
            x += 30.0 if step < 5 else 40.0
            ids += tracker.update([Observation(box(x))], 0.1 * step)
        return ids

    assert box_iou(np.array([box(150.0)]), np.array([box(190.0)]))[0, 0] < 0.2
    assert walk(PeopleTracker()) == [1] * 6
    assert walk(PeopleTracker(velocity_smoothing=0.0)) == [1] * 5 + [2]   # no velocity


def test_ids_survive_a_short_occlusion_and_expire_after_expiry_s():
    tracker = PeopleTracker(expiry_s=1.0)
    tracker.update([Observation(box(0)), Observation(box(300))], 0.0)
    tracker.update([Observation(box(300))], 0.1)              # person 1 hidden
    assert [t.track_id for t in tracker.tracks] == [1, 2]
    assert tracker.update([Observation(box(1)), Observation(box(300))], 0.8) == [1, 2]
    tracker.update([Observation(box(300))], 1.0)
    assert tracker.update([Observation(box(1)), Observation(box(300))], 2.0) == [3, 2]


def test_hungarian_assignment_minimises_the_total_cost():
    tracker = PeopleTracker(min_iou=0.05)
    tracker.update([Observation(box(0)), Observation(box(40))], 0.0)
    # greedy on observation 0 would take track 2 (IoU 0.43 vs 0.25) and leave 1 unmatched
    ids = tracker.update([Observation(box(30)), Observation(box(80))], 0.1)
    assert ids == [1, 2]


def test_joints_associate_when_boxes_do_not():
    tracker = PeopleTracker(min_iou=0.5)
    joints = np.stack([np.linspace(10, 40, 17), np.linspace(10, 140, 17)], 1)
    seen = np.ones(17)
    tracker.update([Observation(box(0), joints, seen)], 0.0)
    moved = Observation(box(0, height=60.0), joints + 1.0, seen)   # a box half as tall
    assert box_iou(np.array([box(0)]), np.array([moved.box]))[0, 0] < 0.5
    assert keypoint_similarity(tracker.tracks[0], moved, 0.5, 0.1) > 0.9
    assert tracker.update([moved], 0.1) == [1]
    unseen = Observation(box(0, height=60.0), joints + 1.0, np.zeros(17))
    assert tracker.update([unseen], 0.2) == [2]


def test_claims_win_ties_but_not_against_a_better_fitting_unseen_track():
    tracker = PeopleTracker()
    tracker.update([Observation(box(0)), Observation(box(200))], 0.0)
    both = [Observation(box(100), claim=2), Observation(box(100.5))]
    assert tracker.match(both, 0.1)[0] == 2
    # track 1's ROI slid onto person 2 (standing at 200, unseen this frame)
    assert tracker.match([Observation(box(200), claim=1)], 0.1) == [2]


def test_match_changes_nothing_until_commit():
    tracker = PeopleTracker()
    tracker.update([Observation(box(0))], 0.0)
    ids = tracker.match([Observation(box(5)), Observation(box(400))], 0.1)
    assert ids == [1, -1] and len(tracker.tracks) == 1 and tracker.tracks[0].box[0] == 0
    assert tracker.commit([Observation(box(5))], [1], 0.1) == [1]
    assert tracker.tracks[0].box[0] == 5 and tracker.tracks[0].hits == 2
    assert tracker.tracks[0].velocity[0] == pytest.approx(0.5 * 50.0)


@pytest.mark.parametrize('bad', [(0, 0, -1, 10), (0, 0, np.nan, 10), (1, 2, 3)])
def test_bad_boxes_and_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Observation(bad)
    with pytest.raises(ValueError, match='expiry_s'):
        PeopleTracker(expiry_s=-1.0)
    with pytest.raises(ValueError, match='min_iou'):
        PeopleTracker(min_iou=2.0)
