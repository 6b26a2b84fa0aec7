"""The hpm_pose node in its own process, talked to over DDS (localhost, test domain ids)."""
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.model import LITE, build_machine
from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                     seconds_to_stamp, stamp_to_seconds)
from ros_process import Client, NodeProcess, wait_for

pytestmark = pytest.mark.ros
FRAME_ID = 'test_camera_optical_frame'
K = intrinsics_matrix(300.0, 300.0, 159.5, 119.5)
SHARED_VIDEO = (Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'video'
                / 'one-by-one-person-detection.mp4')


def header(t: float) -> Header:
    return Header(frame_id=FRAME_ID, stamp=seconds_to_stamp(t))


def image_message(t: float, size=(240, 320), seed=0) -> Image:
    rgb = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return rgb_to_image_msg(rgb, header(t))


def diagnostics_values(messages) -> dict:
    values = {}
    for _, message in messages:
        for status in message.status:
            if status.name.startswith('hpm_pose'):
                values = {item.key: item.value for item in status.values}
    return values


def start(tmp_path, config, domain_id, *extra):
    model = save_checkpoint(tmp_path / f'{config.name}.pt', build_machine(config))
    process = NodeProcess('hpm_ros.ros.node', [
        '-p', f'model_path:={model}', '-p', 'lost_confidence:=0.0', '-p', 'threads:=1',
        '-p', 'diagnostics_period_s:=0.5', *extra,
        '-r', 'image:=/test/image', '-r', 'camera_info:=/test/camera_info'],
        domain_id, tmp_path / 'node.log')
    client = Client(domain_id)
    images = client.node.create_publisher(Image, '/test/image', qos_profile_sensor_data)
    infos = client.node.create_publisher(CameraInfo, '/test/camera_info', 10)
    poses = client.collect(PoseArray, '/hpm_pose/pose3d')
    ready = wait_for(lambda: images.get_subscription_count() > 0
                     and client.node.count_publishers('/hpm_pose/pose3d') > 0, 60.0)
    if not ready:
        output = process.output()
        client.close()
        process.stop()
        pytest.fail(f'node did not come up:\n{output}')
    time.sleep(0.3)
    return process, client, images, infos, poses


def test_images_in_poses_and_markers_out_bad_input_counted(tiny_config, tmp_path):
    process, client, images, infos, poses = start(tmp_path, tiny_config, 151,
                                                  '-p', 'publish_debug_image:=true')
    markers = client.collect(MarkerArray, '/hpm_pose/markers')
    debug = client.collect(Image, '/hpm_pose/debug_image')
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        infos.publish(intrinsics_to_camera_info(K, 320, 240, header(10.0)))
        time.sleep(0.2)
        sent = [10.0 + 0.1 * i for i in range(5)]
        for t in sent:
            images.publish(image_message(t))
            assert wait_for(lambda: any(stamp_to_seconds(m.header.stamp) == t
                                        for _, m in list(poses)), 10.0), process.output()
        for _, message in poses:
            assert message.header.frame_id == FRAME_ID and len(message.poses) == 17
            assert all(math.isfinite(p.position.z) and p.position.z > 0 for p in message.poses)
        assert sorted(stamp_to_seconds(m.header.stamp) for _, m in poses) == sent
        assert wait_for(lambda: len(markers) >= 5 and len(debug) >= 5, 5.0)
        assert {m.header.frame_id for _, array in markers for m in array.markers} == {FRAME_ID}
        assert debug[-1][1].width == 320 and debug[-1][1].encoding == 'rgb8'

        bad_encoding = image_message(11.0)
        bad_encoding.encoding = '32FC1'
        images.publish(bad_encoding)
        time.sleep(0.3)
        truncated = image_message(11.1)
        truncated.data = bytes(truncated.data[:100])
        images.publish(truncated)
        time.sleep(0.3)
        nan_info = intrinsics_to_camera_info(K, 320, 240, header(11.2))
        nan_info.k[0] = float('nan')
        infos.publish(nan_info)
        time.sleep(0.3)
        images.publish(image_message(5.0))
        time.sleep(0.3)
        images.publish(image_message(12.0))
        assert wait_for(lambda: any(stamp_to_seconds(m.header.stamp) == 12.0
                                    for _, m in list(poses)), 10.0), 'node survived bad input'

        def counted():
            values = diagnostics_values(list(diagnostics))
            return (int(values.get('errors_image', 0)) >= 2
                    and int(values.get('errors_camera_info', 0)) >= 1
                    and int(values.get('errors_stale_frame', 0)) >= 1)

        assert wait_for(counted, 5.0), diagnostics_values(diagnostics)
        assert wait_for(lambda: int(diagnostics_values(list(diagnostics)).get(
            'frames_processed', 0)) == 6, 3.0)
        values = diagnostics_values(diagnostics)
        assert float(values['latency_ms_total']) > 0
        assert process.alive()
    finally:
        client.close()
        assert process.stop() == 0, process.output()


def test_overload_keeps_the_model_rate_and_counts_drops(tmp_path):
    slow = dataclasses.replace(LITE, name='slow', input_size=256)
    process, client, images, infos, poses = start(tmp_path, slow, 152)
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        for i in range(3):
            images.publish(image_message(1.0 + 0.01 * i))
            time.sleep(0.5)
        assert wait_for(lambda: len(poses) >= 1, 10.0)
        start_count = len(poses)
        begin = time.perf_counter()
        for i in range(8):
            images.publish(image_message(2.0 + 0.01 * i))
            time.sleep(0.05)
        assert wait_for(lambda: len(poses) >= start_count + 1, 10.0)
        model_period = (poses[-1][0] - begin) / max(len(poses) - start_count, 1)
        rate = 4.0 / model_period
        sent = {}
        poses.clear()
        count = int(3.0 * rate)
        first = time.perf_counter()
        for i in range(count):
            t = 3.0 + i / rate
            sent[round(t, 6)] = time.perf_counter()
            images.publish(image_message(t))
            delay = first + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        time.sleep(3 * model_period + 0.5)
        received = [(when, round(stamp_to_seconds(m.header.stamp), 6)) for when, m in poses]
        latencies = [when - sent[t] for when, t in received if t in sent]
        assert len(received) < 0.6 * count, 'frames were dropped, not queued'
        third = max(len(latencies) // 3, 1)
        assert np.median(latencies[-third:]) < np.median(latencies[:third]) + 2 * model_period
        assert max(latencies) < 6 * model_period + 0.3, 'no backlog builds up'
        values = diagnostics_values(diagnostics)
        assert wait_for(lambda: int(diagnostics_values(list(diagnostics)).get(
            'frames_dropped', 0)) > 0, 3.0), values
    finally:
        client.close()
        assert process.stop() == 0


def test_missing_model_stops_the_node_with_one_message(tmp_path):
    process = NodeProcess('hpm_ros.ros.node', ['-p', f'model_path:={tmp_path / "none.pt"}'],
                          153, tmp_path / 'node.log')
    process.process.wait(60)
    output = process.output()
    assert process.process.returncode == 1
    assert 'checkpoint not found' in output and 'Traceback' not in output
    process.stop()


def test_out_of_range_parameter_is_refused(tiny_config, tmp_path):
    model = save_checkpoint(tmp_path / 'tiny.pt', build_machine(tiny_config))
    process = NodeProcess('hpm_ros.ros.node', ['-p', f'model_path:={model}',
                                               '-p', 'crop_margin:=9.0'],
                          154, tmp_path / 'node.log')
    process.process.wait(60)
    assert process.process.returncode != 0
    assert 'crop_margin' in process.output()
    process.stop()


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason='../shared/data/video is not present')
def test_real_video_frames_through_the_node(tiny_config, tmp_path):
    """Frames are halved: Fast DDS's default transports do not carry best-effort messages
    over about 512 KB between processes (see README, large images)."""
    from hpm_ros.video import read_frames

    process, client, images, infos, poses = start(tmp_path, tiny_config, 155)
    try:
        frames = list(read_frames(SHARED_VIDEO, max_frames=5, stride=40))
        for i, (_, frame) in enumerate(frames):
            half = np.asarray(PILImage.fromarray(frame).resize((384, 216)))
            images.publish(rgb_to_image_msg(half, header(20.0 + i)))
            assert wait_for(lambda: len(poses) >= i + 1, 10.0), process.output()
        assert all(len(m.poses) == 17 for _, m in poses)
    finally:
        client.close()
        assert process.stop() == 0
