"""The node with its defaults (BlazePose + keypoints lifter) on real frames, over DDS; the demo."""
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseArray
from PIL import Image as PILImage
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                     seconds_to_stamp, stamp_to_seconds)
from ros_process import Client, NodeProcess, wait_for

pytestmark = pytest.mark.ros
FRAMES = Path(__file__).resolve().parent / 'data' / 'blazepose'
SIZE = (448, 252)   # the fixture frames scaled to stay under Fast DDS's best-effort limit
K = intrinsics_matrix(448.0, 448.0, 223.5, 125.5)


def frame(name: str) -> np.ndarray:
    image = PILImage.open(FRAMES / f'room_walk_{name}.jpg').convert('RGB')
    return np.asarray(image.resize(SIZE, PILImage.BILINEAR))


def test_node_defaults_see_a_real_person_and_report_nobody_in_an_empty_room(tmp_path):
    process = NodeProcess('hpm_ros.ros.node', [
        '-p', 'threads:=1', '-r', 'image:=/real/image', '-r', 'camera_info:=/real/camera_info'],
        141, tmp_path / 'node.log')
    client = Client(141)
    try:
        images = client.node.create_publisher(Image, '/real/image', qos_profile_sensor_data)
        infos = client.node.create_publisher(CameraInfo, '/real/camera_info', 10)
        poses = client.collect(PoseArray, '/hpm_pose/pose3d')
        assert wait_for(lambda: images.get_subscription_count() > 0
                        and client.node.count_publishers('/hpm_pose/pose3d') > 0, 60.0), \
            process.output()
        sequence = [('090', 1.0), ('100', 1.1), ('040', 1.2)]
        answers = {}
        deadline = time.monotonic() + 30.0
        while len(answers) < len(sequence) and time.monotonic() < deadline:
            for name, t in sequence:
                if t in answers:
                    continue
                header = Header(frame_id='camera', stamp=seconds_to_stamp(t))
                infos.publish(intrinsics_to_camera_info(K, *SIZE, header))
                time.sleep(0.05)
                images.publish(rgb_to_image_msg(frame(name), header))
                wait_for(lambda: any(stamp_to_seconds(m.header.stamp) == t
                                     for _, m in list(poses)), 2.0)
                for _, message in list(poses):
                    answers[stamp_to_seconds(message.header.stamp)] = message
        assert set(answers) >= {1.0, 1.1, 1.2}, process.output()
        person = answers[1.1]
        assert len(person.poses) == 17 and person.header.frame_id == 'camera'
        depth = np.mean([pose.position.z for pose in person.poses])
        assert 1.0 < depth < 15.0
        assert len(answers[1.2].poses) == 0, 'nobody in the empty room'
    finally:
        client.close()
        code = process.stop()
    assert code == 0 and 'Traceback' not in process.output(), process.output()


def test_demo_runs_the_real_clip_through_the_node(tmp_path):
    from hpm_ros.ros.demo import run_demo

    summary = run_demo(tmp_path / 'demo', max_frames=30, domain_id=142)
    assert summary['frames_published'] == 30 and summary['node_exit_code'] == 0
    assert summary['poses_received'] >= 20, summary
    assert summary['labelled_person_frames'] == 8 and summary['person_recall_pct'] >= 50.0
    assert summary['labelled_empty_frames'] == 18
    for name in ('demo.gif', 'summary.md', 'results.json', 'poses.npz'):
        assert (tmp_path / 'demo' / name).is_file()
    with PILImage.open(tmp_path / 'demo' / 'demo.gif') as gif:
        assert gif.n_frames >= 13
