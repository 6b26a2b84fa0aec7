"""Several people as ROS messages, without a graph: markers per body, person box messages."""
from types import SimpleNamespace

import numpy as np
import pytest
from std_msgs.msg import Float32MultiArray, Header
from visualization_msgs.msg import Marker

from hpm_ros.crop import CropBox
from hpm_ros.lifting import LiftedPerson
from hpm_ros.render import track_colour
from hpm_ros.rep155 import body_id
from hpm_ros.ros.humans import array_to_boxes, body_markers, detections_to_boxes


def person(track_id: int, x_m: float) -> LiftedPerson:
    joints = np.zeros((17, 3), np.float32)
    joints[:, 0], joints[:, 1], joints[:, 2] = x_m, np.linspace(-0.8, 0.8, 17), 3.0
    return LiftedPerson(np.zeros((17, 2), np.float32), np.ones(17, np.float32), joints * 1000,
                        joints * 1000, joints, 'nominal', True, False, 1, CropBox(0, 0, 1),
                        track_id)


def test_markers_hold_every_body_with_its_ids_colour_and_label():
    array = body_markers([person(3, -0.5), person(12, 0.5)], Header(frame_id='cam'), 0.3)
    first, rest = array.markers[0], array.markers[1:]
    assert first.action == Marker.DELETEALL
    assert sorted(m.id for m in rest) == [300, 301, 302, 303, 304, 1200, 1201, 1202, 1203, 1204]
    labels = {m.id: m for m in rest if m.type == Marker.TEXT_VIEW_FACING}
    assert labels[304].text == 'b3' and labels[1204].text == 'b12'
    assert labels[304].pose.position.y < -0.8          # above the head (y down)
    joints = {m.id: m for m in rest if m.type == Marker.SPHERE_LIST}
    assert joints[300].colors[0].r == pytest.approx(track_colour(3)[0])
    assert joints[300].colors[0].g != joints[1200].colors[0].g
    assert all(m.header.frame_id == 'cam' for m in rest)
    assert body_id(3) == 'b3' and body_id(-1) == ''


def test_person_box_messages_become_boxes_or_clear_errors():
    assert array_to_boxes(Float32MultiArray(data=[1.0, 2.0, 3.0, 4.0, 5, 6, 7, 8])) == [
        (1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)]
    assert array_to_boxes(Float32MultiArray()) == []
    for bad in ([1.0, 2.0, 3.0], [0.0, 0.0, float('nan'), 1.0], [0.0, 0.0, -1.0, 1.0]):
        with pytest.raises(ValueError):
            array_to_boxes(Float32MultiArray(data=bad))

    def detection(centre, width, height):   # vision_msgs 4 (position) and 3 (x, y) layouts
        return SimpleNamespace(bbox=SimpleNamespace(center=centre, size_x=width,
                                                    size_y=height))

    point = SimpleNamespace(x=50.0, y=100.0)
    message = SimpleNamespace(detections=[detection(SimpleNamespace(position=point), 20, 40),
                                          detection(point, 10, 10)])
    assert detections_to_boxes(message) == [(40.0, 80.0, 20.0, 40.0), (45.0, 95.0, 10.0, 10.0)]
    with pytest.raises(ValueError):
        detections_to_boxes(SimpleNamespace(detections=[detection(point, -1.0, 10)]))
