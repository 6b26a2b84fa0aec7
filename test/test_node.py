"""The hpm_pose node in its own process, talked to over DDS (localhost, test domain ids)."""
import dataclasses
import math
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.model import LITE, build_machine
from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                     seconds_to_stamp, stamp_to_seconds)
from hpm_ros.ros.node import CLOCK_RESET_FRAMES
from hpm_ros.skeleton import H36M17
from ros_process import Client, NodeProcess, psi_r_node_arguments, wait_for

pytestmark = pytest.mark.ros
FRAME_ID = 'test_camera_optical_frame'
K = intrinsics_matrix(300.0, 300.0, 159.5, 119.5)
SHARED_VIDEO = (Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'video'
                / 'one-by-one-person-detection.mp4')
PROMPT_EXIT_S = 5.0


def header(t: float) -> Header:
    return Header(frame_id=FRAME_ID, stamp=seconds_to_stamp(t))


def image_message(t: float, size=(240, 320), seed=0) -> Image:
    rgb = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return rgb_to_image_msg(rgb, header(t))


def diagnostics_values(messages) -> dict:
    values = {}
    for _, message in list(messages):
        for status in message.status:
            if status.name.startswith('hpm_pose'):
                values = {item.key: item.value for item in status.values}
    return values


def count(messages, key: str) -> int:
    return int(diagnostics_values(messages).get(key, 0))


def received_stamp(poses, t: float) -> bool:
    return any(stamp_to_seconds(m.header.stamp) == t for _, m in list(poses))


def since(messages, t0: float) -> list:
    """Messages stamped at or after ``t0`` (leaves out the warm-up frames)."""
    def stamp(message):
        header = message.markers[0].header if isinstance(message, MarkerArray) else message.header
        return stamp_to_seconds(header.stamp)

    return [m for _, m in list(messages) if stamp(m) >= t0]


def warm_up(images, poses, timeout_s: float = 30.0) -> bool:
    """Publish frames stamped before 1 s until the first pose comes back.

    The client may see the node's subscription before the node has matched the client's
    publisher; a best-effort frame sent in between is lost, so the first one is repeated.
    """
    deadline = time.monotonic() + timeout_s
    k = 0
    while time.monotonic() < deadline:
        k += 1
        images.publish(image_message(0.01 * k))
        if wait_for(lambda: len(poses) > 0, 0.5):
            return True
    return False


def start(tmp_path, config, domain_id, *extra, image_qos=qos_profile_sensor_data):
    model = save_checkpoint(tmp_path / f'{config.name}.pt', build_machine(config))
    process = NodeProcess('hpm_ros.ros.node', psi_r_node_arguments(
        model, '/test/image', '/test/camera_info', '-p', 'diagnostics_period_s:=0.5', *extra),
        domain_id, tmp_path / 'node.log')
    client = Client(domain_id)
    images = client.node.create_publisher(Image, '/test/image', image_qos)
    infos = client.node.create_publisher(CameraInfo, '/test/camera_info', 10)
    poses = client.collect(PoseArray, '/hpm_pose/pose3d')
    ready = wait_for(lambda: images.get_subscription_count() > 0
                     and poses_matched(client), 60.0)
    if not (ready and warm_up(images, poses)):
        output = process.output()
        client.close()
        process.stop()
        pytest.fail(f'node did not come up:\n{output}')
    return process, client, images, infos, poses


def poses_matched(client) -> bool:
    return client.node.count_publishers('/hpm_pose/pose3d') > 0


def stop_promptly(process, client, signum=signal.SIGINT) -> None:
    client.close()
    began = time.monotonic()
    code = process.stop(signum=signum)
    output = process.output()
    assert code == 0, output
    assert time.monotonic() - began < PROMPT_EXIT_S, output
    assert 'Traceback' not in output, output


def set_parameters(client, values: dict) -> list:
    parameters = AsyncParameterClient(client.node, '/hpm_pose')
    assert parameters.wait_for_services(10.0)
    future = parameters.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert wait_for(future.done, 10.0)
    return future.result().results


def test_images_in_poses_out_bad_input_counted_live_parameters(tiny_config, tmp_path):
    process, client, images, infos, poses = start(tmp_path, tiny_config, 151,
                                                  '-p', 'publish_debug_image:=true')
    markers = client.collect(MarkerArray, '/hpm_pose/markers')
    debug = client.collect(Image, '/hpm_pose/debug_image')
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        infos.publish(intrinsics_to_camera_info(K, 320, 240, header(10.0)))
        sent = [10.0 + 0.1 * i for i in range(5)]
        for t in sent:
            images.publish(image_message(t))
            assert wait_for(lambda: received_stamp(poses, t), 10.0), process.output()
        for message in since(poses, 10.0):
            assert message.header.frame_id == FRAME_ID and len(message.poses) == 17
            assert all(math.isfinite(p.position.z) and p.position.z > 0 for p in message.poses)
        assert sorted(stamp_to_seconds(m.header.stamp) for m in since(poses, 10.0)) == sent
        assert wait_for(lambda: len(since(markers, 10.0)) == 5 and len(since(debug, 10.0)) == 5,
                        5.0)
        assert {m.header.frame_id for a in since(markers, 10.0) for m in a.markers} == {FRAME_ID}
        assert debug[-1][1].width == 320 and debug[-1][1].encoding == 'rgb8'

        bad_encoding = image_message(11.0)
        bad_encoding.encoding = '32FC1'
        truncated = image_message(11.1)
        truncated.data = bytes(truncated.data[:100])
        empty = Image(header=header(11.15), encoding='rgb8')
        nan_info = intrinsics_to_camera_info(K, 320, 240, header(11.2))
        nan_info.k[0] = float('nan')
        for message, key, total in ((bad_encoding, 'errors_image', 1),
                                    (truncated, 'errors_image', 2),
                                    (empty, 'errors_image', 3),
                                    (nan_info, 'errors_camera_info', 1),
                                    (image_message(5.0), 'errors_stale_frame', 1)):
            (infos if isinstance(message, CameraInfo) else images).publish(message)
            assert wait_for(lambda: count(diagnostics, key) >= total, 5.0), (
                key, diagnostics_values(diagnostics), process.output())
        images.publish(image_message(12.0))
        assert wait_for(lambda: received_stamp(poses, 12.0), 10.0), 'node survived bad input'
        assert [stamp_to_seconds(m.header.stamp) for m in since(poses, 10.0)] == sent + [12.0]
        values = diagnostics_values(diagnostics)
        assert float(values['latency_ms_total']) > 0 and values['backend'] == 'torch'

        names = AsyncParameterClient(client.node, '/hpm_pose').get_parameters(['joint_names'])
        assert wait_for(names.done, 10.0)
        assert list(names.result().values[0].string_array_value) == list(H36M17.joint_names)
        live = set_parameters(client, {'correction_preset': 'off', 'correction_max_steps': 1})
        assert all(result.successful for result in live)
        assert wait_for(lambda: diagnostics_values(diagnostics).get('correction_preset')
                        == 'off', 3.0)
        fixed, = set_parameters(client, {'crop_margin': 1.5})
        assert not fixed.successful and 'fixed while the node is configured' in fixed.reason
        unknown_preset, = set_parameters(client, {'correction_preset': 'bogus'})
        assert not unknown_preset.successful and 'correction_preset' in unknown_preset.reason
        images.publish(image_message(12.1))
        assert wait_for(lambda: received_stamp(poses, 12.1), 10.0), process.output()
        assert process.alive()
    finally:
        stop_promptly(process, client, signal.SIGINT)


def test_overload_keeps_the_model_rate_and_sigterm_mid_frame(tmp_path):
    slow = dataclasses.replace(LITE, name='slow', input_size=256)
    process, client, images, infos, poses = start(tmp_path, slow, 152)
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        for i in range(3):
            images.publish(image_message(1.0 + 0.01 * i))
            assert wait_for(lambda: received_stamp(poses, 1.0 + 0.01 * i), 10.0)
        begin = time.perf_counter()
        images.publish(image_message(2.0))
        assert wait_for(lambda: received_stamp(poses, 2.0), 10.0)
        model_period = poses[-1][0] - begin
        rate = 4.0 / model_period
        sent = {}
        poses.clear()
        frames = int(3.0 * rate)
        first = time.perf_counter()
        for i in range(frames):
            t = 3.0 + i / rate
            sent[round(t, 6)] = time.perf_counter()
            images.publish(image_message(t))
            delay = first + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        wait_for(lambda: len(poses) and round(stamp_to_seconds(poses[-1][1].header.stamp), 6)
                 == max(sent), 3 * model_period + 1.0)
        received = [(when, round(stamp_to_seconds(m.header.stamp), 6)) for when, m in poses]
        latencies = [when - sent[t] for when, t in received if t in sent]
        output_rate = len(received) / (received[-1][0] - first)
        assert len(received) < 0.6 * frames, 'frames were dropped, not queued'
        assert output_rate > 0.4 / model_period, 'the model rate is kept under overload'
        third = max(len(latencies) // 3, 1)
        assert np.median(latencies[-third:]) < np.median(latencies[:third]) + 2 * model_period
        assert max(latencies) < 6 * model_period + 0.3, 'no backlog builds up'
        assert wait_for(lambda: count(diagnostics, 'frames_dropped') > 0, 3.0), \
            diagnostics_values(diagnostics)
        images.publish(image_message(10.0))
        time.sleep(0.5 * model_period)
    finally:
        stop_promptly(process, client, signal.SIGTERM)


def test_bad_start_stops_with_one_message(tiny_config, tmp_path):
    model = save_checkpoint(tmp_path / 'tiny.pt', build_machine(tiny_config))
    broken = tmp_path / 'broken.pt'
    broken.write_bytes(b'not a checkpoint')
    text = tmp_path / 'notes.pt'
    text.write_text('a text file, not a model\n')
    cases = {
        'missing': (['-p', f'model_path:={tmp_path / "none.pt"}'], 'checkpoint not found'),
        'broken': (['-p', f'model_path:={broken}'], 'broken.pt'),
        'range': (['-p', f'model_path:={model}', '-p', 'crop_margin:=9.0'], 'crop_margin'),
        'wrong kind': (['-p', f'model_path:={model}'], "needs a 'keypoints' model"),
        'text file': (['-p', f'model_path:={text}'], 'not a torch file'),
        'no gpu': (['-p', 'device:=cuda'], 'sees no CUDA GPU'),
        'bad device': (['-p', 'device:=bogus'], 'device must be cpu or cuda'),
    }
    processes = {name: NodeProcess('hpm_ros.ros.node', args, 153 + i,
                                   tmp_path / f'{name}.log')
                 for i, (name, (args, _)) in enumerate(cases.items())}
    for name, process in processes.items():
        process.process.wait(60)
        output = process.output()
        assert process.process.returncode == 1, (name, output)
        assert cases[name][1] in output and 'FATAL' in output, (name, output)
        assert 'Traceback' not in output and len(output.strip().splitlines()) == 1, output
        process.stop()


def test_lost_person_and_clock_reset(tiny_config, tmp_path):
    process, client, images, infos, poses = start(
        tmp_path, tiny_config, 158, '-p', 'lost_confidence:=1.0',
        '-p', 'diagnostics_period_s:=0.1')
    markers = client.collect(MarkerArray, '/hpm_pose/markers')
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        images.publish(image_message(40.0))
        assert wait_for(lambda: received_stamp(poses, 40.0) and since(markers, 40.0), 10.0)
        empty, = since(poses, 40.0)
        assert empty.poses == [] and empty.header.frame_id == FRAME_ID
        deleteall, = since(markers, 40.0)
        assert [m.action for m in deleteall.markers] == [deleteall.markers[0].DELETEALL]
        assert wait_for(lambda: count(diagnostics, 'person_lost') >= 1, 3.0)

        replay = [1.0 + 0.01 * k for k in range(CLOCK_RESET_FRAMES)]
        for k, t in enumerate(replay[:-1]):
            images.publish(image_message(t))
            assert wait_for(lambda: count(diagnostics, 'errors_stale_frame') == k + 1, 5.0)
        images.publish(image_message(replay[-1]))
        assert wait_for(lambda: received_stamp(poses, replay[-1]), 10.0), process.output()
        assert not any(received_stamp(poses, t) for t in replay[:-1])
    finally:
        stop_promptly(process, client, signal.SIGINT)


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason='../shared/data/video is not present')
def test_real_video_frames_through_the_node(tiny_config, tmp_path):
    """Full 768×432 frames (995 KB): over about 512 KB Fast DDS's default transports carry
    only reliable traffic between processes, so both ends are made reliable, the node's end
    with the image subscription's QoS override parameter (README, large images)."""
    from hpm_ros.video import read_frames

    process, client, images, infos, poses = start(
        tmp_path, tiny_config, 159,
        '-p', 'qos_overrides./test/image.subscription.reliability:=reliable',
        image_qos=QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    try:
        frames = list(read_frames(SHARED_VIDEO, max_frames=5, stride=40))
        assert len(frames) == 5 and frames[0][1].shape == (432, 768, 3)
        for i, (_, frame) in enumerate(frames):
            images.publish(rgb_to_image_msg(frame, header(20.0 + i)))
            assert wait_for(lambda: received_stamp(poses, 20.0 + i), 10.0), process.output()
        assert [len(m.poses) for m in since(poses, 20.0)] == [17] * 5
        assert wait_for(lambda: count(diagnostics, 'frames_processed') >= 6, 3.0)
        values = diagnostics_values(diagnostics)
        assert all(int(values[k]) == 0 for k in values if k.startswith('errors_')), values
    finally:
        stop_promptly(process, client, signal.SIGINT)


def test_video_reader_errors_and_stride(tmp_path):
    from hpm_ros.video import VideoError, read_frames

    with pytest.raises(VideoError, match='not found'):
        list(read_frames(tmp_path / 'none.mp4'))
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'no video in here' * 64)
    with pytest.raises(VideoError, match='junk.mp4'):
        list(read_frames(junk))
    with pytest.raises(ValueError, match='stride'):
        list(read_frames(junk, stride=0))
    if SHARED_VIDEO.is_file():
        frames = list(read_frames(SHARED_VIDEO, max_frames=3, stride=7))
        assert [index for index, _ in frames] == [0, 7, 14]
        assert all(f.dtype == np.uint8 and f.flags.c_contiguous for _, f in frames)
