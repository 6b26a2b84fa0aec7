"""Camera streams from separate processes into the node, started the documented way.

The publisher is `hpm camera --video` (or `hpm play`) in its own process, the node
`hpm_pose_node` in another (its console script takes the shipped Fast DDS profile, `hpm
camera` too). Assertions are transport facts: frames received by the node (its
/diagnostics), the QoS it chose, answers published, WARN when the camera stops. Ratios are
generous; the measured delivery table is in the README (bench/transport.py).
"""
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from hpm_ros.bags import io
from hpm_ros.bags.make import synthetic_source, write_bag
from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.model import build_machine
from hpm_ros.ros.conversions import rgb_to_image_msg
from ros_process import Client, NodeProcess, psi_r_node_arguments, ros_environment, wait_for

pytestmark = pytest.mark.ros
FRAMES = 90
RATE = 30.0
CALIBRATION = """image_width: 1280
image_height: 720
camera_name: test_camera
camera_matrix: {rows: 3, cols: 3, data: [900.0, 0, 640.5, 0, 901.0, 360.5, 0, 0, 1]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0, 0, 0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [900.0, 0, 640.5, 0, 0, 901.0, 360.5, 0, 0, 0, 1, 0]}
"""


def write_video(path, width: int, height: int, frames: int, fps: float = RATE):
    """A moving colour ramp, MPEG-4 (fast to encode and decode)."""
    import av

    container = av.open(str(path), 'w')
    stream = container.add_stream('mpeg4', rate=int(fps))
    stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
    rows, columns = np.mgrid[0:height, 0:width]
    for index in range(frames):
        rgb = np.stack([(columns + 8 * index) % 256, (rows + 4 * index) % 256,
                        np.full_like(columns, 128)], axis=-1).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format='rgb24')):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.fixture(scope='module')
def video_720p(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp('video') / 'ramp_720p.mp4', 1280, 720, FRAMES)


def start_node(tmp_path, config, domain_id, *extra) -> tuple:
    """The node process and a client collecting /diagnostics and the node's poses."""
    model = save_checkpoint(tmp_path / 'tiny.pt', build_machine(config))
    node = NodeProcess('hpm_ros.ros.node', psi_r_node_arguments(
        model, '/camera/image_raw', '/camera/camera_info', '-p', 'diagnostics_period_s:=0.5',
        *extra), domain_id, tmp_path / 'node.log')
    client = Client(domain_id)
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    poses = client.collect(PoseArray, '/hpm_pose/pose3d')
    if not wait_for(lambda: statuses(diagnostics), 60.0):
        output = node.output()
        client.close()
        node.stop()
        pytest.fail(f'node did not come up:\n{output}')
    return node, client, diagnostics, poses


def statuses(diagnostics) -> list:
    """[(receive time, level, message, values)] of the node's status, oldest first."""
    return [(when, status.level[0], status.message, {v.key: v.value for v in status.values})
            for when, array in list(diagnostics) for status in array.status
            if status.name.startswith('hpm_pose')]


def latest(diagnostics) -> dict:
    found = statuses(diagnostics)
    return found[-1][3] if found else {}


def camera(domain_id, *arguments, timeout_s: float = 90.0) -> dict:
    """Run `hpm camera` to the end; returns its published counts and output."""
    run = subprocess.run([sys.executable, '-m', 'hpm_ros.cli', 'camera', *arguments],
                         env=ros_environment(domain_id), capture_output=True, text=True,
                         timeout=timeout_s)
    assert run.returncode == 0, run.stdout + run.stderr
    counts = dict(re.findall(r'([\w/]+) (\d+)', run.stdout.splitlines()[-1].split(
        'published', 1)[1]))
    return {key: int(value) for key, value in counts.items()} | {'output': run.stdout}


def received_after(diagnostics, before: int, sent: int, timeout_s: float = 10.0) -> int:
    """frames_received of the node once it stops growing (or reaches ``before + sent``)."""
    def settled():
        now = int(latest(diagnostics).get('frames_received', 0))
        if now >= before + sent:
            return True
        time.sleep(1.0)
        return int(latest(diagnostics).get('frames_received', 0)) == now
    wait_for(settled, timeout_s, 0.1)
    return int(latest(diagnostics).get('frames_received', 0)) - before


def seen(diagnostics, key: str, value: str, since: float) -> bool:
    return any(when >= since and values.get(key) == value
               for when, _, _, values in statuses(diagnostics))


def silence_at_warn(diagnostics, since: float, timeout_s: float = 6.0) -> float:
    """The input silence (s since the node's last image) in its first 'stopped' WARN after
    ``since``: how long after the last frame the WARN came; inf when none came."""
    def warn():
        return [float(values['input_silence_s']) for when, level, message, values
                in statuses(diagnostics)
                if when >= since and level == 1 and 'no image for' in message]
    wait_for(lambda: warn(), timeout_s)
    found = warn()
    return found[0] if found else float('inf')


def test_raw_720p_at_30_hz_from_best_effort_and_reliable_cameras(
        tiny_config, tmp_path, video_720p):
    calibration = tmp_path / 'calibration.yaml'
    calibration.write_text(CALIBRATION)
    node, client, diagnostics, poses = start_node(tmp_path, tiny_config, 181)
    infos = client.collect(CameraInfo, '/camera/camera_info', qos_profile_sensor_data)
    try:
        assert wait_for(lambda: len(statuses(diagnostics)) >= 2, 10.0)
        _, level, message, values = statuses(diagnostics)[-1]
        assert level == 1 and 'no image received yet' in message, message
        assert values['image_reliability'] == 'none' and values['input_rate_hz'] == '0'

        began = time.perf_counter()
        best_effort = camera(181, '--video', str(video_720p), '--rate', '30', '--frames',
                             str(FRAMES), '--wait', '60')
        assert best_effort['image_raw'] == FRAMES, best_effort['output']
        received = received_after(diagnostics, 0, FRAMES)
        assert received >= 0.9 * FRAMES, (received, node.output())
        assert seen(diagnostics, 'image_reliability', 'best effort', began)
        assert len(poses) > 0.5 * FRAMES
        # input_timeout_s 0.5 + one diagnostics period (0.5 s here, 1 s by default)
        assert silence_at_warn(diagnostics, began) <= 2.0, statuses(diagnostics)[-3:]

        before = int(latest(diagnostics)['frames_received'])
        began = time.perf_counter()
        reliable = camera(181, '--video', str(video_720p), '--rate', '30', '--frames',
                          str(FRAMES), '--wait', '60', '--reliable', '--camera-info',
                          str(calibration))
        assert reliable['image_raw'] == FRAMES, reliable['output']
        received = received_after(diagnostics, before, FRAMES)
        assert received >= 0.95 * FRAMES, (received, node.output())
        assert seen(diagnostics, 'image_reliability', 'reliable', began)
        assert 'image input /camera/image_raw (Image): reliable' in node.output()
        info = infos[-1][1]
        assert (info.width, info.height) == (1280, 720)
        np.testing.assert_allclose(info.k, [900.0, 0, 640.5, 0, 901.0, 360.5, 0, 0, 1])
        np.testing.assert_allclose(info.d, [0.1, -0.2, 0, 0, 0])
        values = latest(diagnostics)
        assert all(int(values[k]) == 0 for k in values if k.startswith('errors_')), values
    finally:
        client.close()
        assert node.stop() == 0, node.output()


def test_compressed_jpeg_camera_and_compressed_bag_through_hpm_play(
        tiny_config, tmp_path, video_720p):
    node, client, diagnostics, poses = start_node(tmp_path, tiny_config, 182,
                                                  '-p', 'image_transport:=compressed')
    try:
        began = time.perf_counter()
        sent = camera(182, '--video', str(video_720p), '--rate', '30', '--frames', str(FRAMES),
                      '--wait', '60', '--compressed')
        assert sent['image_raw/compressed'] == FRAMES and sent['image_raw'] == 0, sent
        received = received_after(diagnostics, 0, FRAMES)
        assert received >= 0.95 * FRAMES, (received, node.output())
        assert seen(diagnostics, 'image_topic', '/camera/image_raw/compressed', began)
        assert silence_at_warn(diagnostics, began) <= 2.0, statuses(diagnostics)[-3:]

        bag = tmp_path / 'compressed_bag'
        # stamped after the camera's frames: the node skips frames older than the last one
        write_bag(bag, synthetic_source('walk', 10, 5.0, (320, 240), seed=2), 'mcap',
                  progress=False, compressed='jpeg', start_ns=time.time_ns() + 10 ** 9)
        before = int(latest(diagnostics)['frames_received'])
        poses.clear()
        played = subprocess.run(
            [sys.executable, '-m', 'hpm_ros.cli', 'play', '--bag', str(bag), '--wait', '60',
             '--linger', '2', '--no-progress'],
            env=ros_environment(182), capture_output=True, text=True, timeout=120)
        assert played.returncode == 0, played.stderr + node.output()
        assert '/camera/image_raw/compressed 10' in played.stdout, played.stdout
        assert received_after(diagnostics, before, 10) == 10, node.output()
        stamps = {io.stamp_ns(m.header.stamp) for _, m in list(poses)}
        assert len(stamps) >= 5, node.output()
        values = latest(diagnostics)
        assert all(int(values[k]) == 0 for k in values if k.startswith('errors_')), values
    finally:
        client.close()
        assert node.stop() == 0, node.output()


def test_qos_follows_the_publishers_as_they_come_and_go(tiny_config, tmp_path):
    node, client, diagnostics, poses = start_node(tmp_path, tiny_config, 183)
    best_effort = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)

    def reliability_becomes(value):
        return wait_for(lambda: latest(diagnostics).get('image_reliability') == value, 10.0)

    try:
        first = client.node.create_publisher(Image, '/camera/image_raw', best_effort)
        assert reliability_becomes('best effort'), node.output()
        second = client.node.create_publisher(Image, '/camera/image_raw', reliable)
        assert wait_for(lambda: latest(diagnostics).get('image_publishers') == '2', 10.0)
        assert latest(diagnostics)['image_reliability'] == 'best effort'
        client.node.destroy_publisher(first)
        assert reliability_becomes('reliable'), node.output()
        assert wait_for(lambda: second.get_subscription_count() == 1, 10.0)
        frame = rgb_to_image_msg(np.zeros((48, 64, 3), np.uint8), PoseArray().header)
        frame.header.stamp.sec = 5
        second.publish(frame)
        assert wait_for(lambda: len(poses) > 0, 10.0), node.output()
        client.node.destroy_publisher(second)
        assert reliability_becomes('none'), node.output()
        output = node.output()
        assert 'reliable, 1 publisher(s), all reliable' in output
        assert 'no publisher: waiting for one' in output
    finally:
        client.close()
        assert node.stop() == 0, node.output()


def test_camera_errors_name_the_device_and_the_file(tmp_path, capsys):
    from hpm_ros.cli import main

    assert main(['camera', '--device', '97']) == 2
    error = capsys.readouterr().err
    assert 'no camera device /dev/video97' in error and 'ls /dev/video*' in error
    assert main(['camera', '--video', str(tmp_path / 'none.mp4')]) == 2
    assert 'video not found' in capsys.readouterr().err
    assert main(['camera', '--video', 'x.mp4', '--size', '1280']) == 2
    assert 'WIDTHxHEIGHT' in capsys.readouterr().err
