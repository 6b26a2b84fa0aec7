"""The node with several people in view (real composite frames, test/data/people), over DDS:
every body in ~/markers, REP-155-style body topics, /diagnostics, external person boxes."""
import json
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32MultiArray, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                     seconds_to_stamp, stamp_to_seconds)
from hpm_ros.video import read_frames
from ros_process import Client, NodeProcess, wait_for

pytestmark = pytest.mark.ros
DATA = Path(__file__).parent / 'data' / 'people'
DOMAIN_ID = 131
SCALE = 448 / 768           # under Fast DDS's best-effort size limit between processes
SIZE = (448, 252)
K = intrinsics_matrix(448.0, 448.0, 223.5, 125.5)


def frames(count: int) -> list:
    import cv2

    return [cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA)
            for _, frame in read_frames(DATA / 'two_standing.mp4', max_frames=count)]


def diagnostic(messages: list, key: str):
    for _, message in reversed(list(messages)):
        for status in message.status:
            for value in status.values:
                if value.key == key:
                    return value.value
    return None


def test_several_people_on_the_graph(tmp_path):
    process = NodeProcess('hpm_ros.ros.node', [
        '-p', 'threads:=1', '-p', 'diagnostics_period_s:=0.2', '-r', 'image:=/people/image',
        '-r', 'camera_info:=/people/camera_info'], DOMAIN_ID, tmp_path / 'node.log')
    client = Client(DOMAIN_ID)
    try:
        node = client.node
        images = node.create_publisher(Image, '/people/image', qos_profile_sensor_data)
        infos = node.create_publisher(CameraInfo, '/people/camera_info', 10)
        boxes = node.create_publisher(Float32MultiArray, '/hpm_pose/person_boxes', 10)
        poses = client.collect(PoseArray, '/hpm_pose/pose3d')
        markers = client.collect(MarkerArray, '/hpm_pose/markers')
        tracked = client.collect(String, '/humans/bodies/tracked')
        diagnostics = client.collect(DiagnosticArray, '/diagnostics')
        assert wait_for(lambda: images.get_subscription_count() > 0
                        and node.count_publishers('/hpm_pose/pose3d') > 0, 60.0), \
            process.output()
        clip = frames(8)

        def send(index: int, t: float) -> bool:
            header = Header(frame_id='camera', stamp=seconds_to_stamp(t))
            for _ in range(20):          # best effort: resend until the answer is there
                infos.publish(intrinsics_to_camera_info(K, *SIZE, header))
                time.sleep(0.02)
                images.publish(rgb_to_image_msg(clip[index], header))
                if wait_for(lambda: any(stamp_to_seconds(m.header.stamp) == t
                                        for _, m in list(poses)), 1.0):
                    return True
            return False

        for index in range(4):
            assert send(index, 1.0 + 0.1 * index), process.output()
        assert wait_for(lambda: len(tracked) >= 4, 5.0)
        ids = tracked[-1][1].data.split()
        assert len(ids) == 2 and all(i.startswith('b') for i in ids), tracked[-1][1]
        last = [m for _, m in markers if m.markers and m.markers[0].header.stamp.nanosec
                and abs(stamp_to_seconds(m.markers[0].header.stamp) - 1.3) < 1e-6][-1]
        assert last.markers[0].action == Marker.DELETEALL
        spheres = sorted(m.id for m in last.markers if m.type == Marker.SPHERE_LIST)
        assert spheres == sorted(100 * int(i[1:]) for i in ids)
        labels = sorted(m.text for m in last.markers if m.type == Marker.TEXT_VIEW_FACING)
        assert labels == sorted(ids)
        skeletons = {i: client.collect(PoseArray, f'/humans/bodies/{i}/skeleton3d') for i in ids}
        assert wait_for(lambda: all(node.count_publishers(f'/humans/bodies/{i}/skeleton3d')
                                    for i in ids), 5.0)
        time.sleep(0.5)
        assert send(4, 1.4), process.output()
        assert wait_for(lambda: all(len(s) for s in skeletons.values()), 5.0)
        for received in skeletons.values():
            message = received[-1][1]
            assert len(message.poses) == 17 and message.header.frame_id == 'camera'
        assert wait_for(lambda: diagnostic(diagnostics, 'bodies_tracked') == '2', 5.0)

        # an external detector's boxes replace the built-in search: one box, one body
        index = json.loads((DATA / 'people.json').read_text())
        x0, y0, x1, y1 = (v * SCALE for v in
                          index['clips']['two_standing']['layers_by_frame'][5][0]['box'])
        boxes.publish(Float32MultiArray(data=[x0, y0, x1 - x0, y1 - y0]))
        time.sleep(0.3)
        assert send(5, 1.5), process.output()
        assert wait_for(lambda: tracked[-1][1].data.count('b') == 1, 5.0), tracked[-1][1]
        boxes.publish(Float32MultiArray(data=[1.0, 2.0, 3.0]))          # not N x 4
        assert wait_for(lambda: diagnostic(diagnostics, 'person_box_errors') == '1', 5.0)
        time.sleep(1.2)                                                  # boxes too old now
        assert send(6, 1.6), process.output()
        assert wait_for(lambda: len(tracked[-1][1].data.split()) == 2, 5.0), tracked[-1][1]
    finally:
        client.close()
        code = process.stop()
    assert code == 0 and 'Traceback' not in process.output(), process.output()
    assert np.isfinite([p.position.z for _, m in poses for p in m.poses]).all()
