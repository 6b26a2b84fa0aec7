"""`hpm demo`: the node in its own process, a generated camera stream over DDS, measured output.

Frames are 448×336 RGB: Fast DDS's default transports do not carry best-effort messages over
about 512 KB between processes (see the README on large images). The demo renders a person
moving in front of a virtual camera (procedural motion, so it needs nothing beside the
package), starts ``hpm_pose_node`` on the shipped model as a separate process, publishes
the frames with their CameraInfo at camera rate from this process, collects the node's
PoseArray messages and writes an output folder: ``demo.gif`` (frames with the projected 3D
skeleton and a side view against the ground truth), ``summary.md`` and ``results.json``
(rate, latency, drops, MPJPE), ``poses.npz``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEMO_DOMAIN_ID = 87
IMAGE_TOPIC = '/hpm_demo/image'
CAMERA_INFO_TOPIC = '/hpm_demo/camera_info'
POSE_TOPIC = '/hpm_pose/pose3d'
FRAME_ID = 'camera_optical_frame'
IMAGE_SIZE = (448, 336)


@dataclass
class DemoRecord:
    """What came back: send times and received poses by frame index."""

    sent: dict = field(default_factory=dict)
    received: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def demo_environment(domain_id: int) -> dict:
    """This process's environment with DDS discovery kept on localhost and its own domain."""
    env = dict(os.environ)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_DOMAIN_ID'] = str(domain_id)
    return env


def start_node(model_path: Path, correction: str, env: dict, log_path: Path) -> subprocess.Popen:
    """``hpm_pose_node`` as its own process, reading the demo topics."""
    command = [sys.executable, '-m', 'hpm_ros.ros.node', '--ros-args',
               '-p', f'model_path:={model_path}', '-p', f'correction_preset:={correction}',
               '-p', 'threads:=1',
               '-r', f'image:={IMAGE_TOPIC}', '-r', f'camera_info:={CAMERA_INFO_TOPIC}']
    log = open(log_path, 'w')
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_node(process: subprocess.Popen, timeout_s: float = 15.0) -> int:
    """SIGINT first (Fast DDS cleans its shared memory), SIGKILL only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _camera_stream(sequence, rate_hz: float, record: DemoRecord, node_log: Path,
                   process: subprocess.Popen, startup_timeout_s: float) -> None:
    """Publish every frame at ``rate_hz`` and collect the node's poses (runs rclpy)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                         seconds_to_stamp, stamp_to_seconds)

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('hpm_demo_camera', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    image_publisher = node.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
    info_publisher = node.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, 10)
    base = 1_000_000.0

    def on_pose(message: PoseArray) -> None:
        index = int(round((stamp_to_seconds(message.header.stamp) - base) * rate_hz))
        positions = np.array([[p.position.x, p.position.y, p.position.z]
                              for p in message.poses], dtype=np.float64)
        with record.lock:
            record.received[index] = (time.perf_counter(), positions, message.header.frame_id)

    node.create_subscription(PoseArray, POSE_TOPIC, on_pose, 10)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while (image_publisher.get_subscription_count() == 0
               or node.count_publishers(POSE_TOPIC) == 0):
            if process.poll() is not None:
                raise RuntimeError(f'the node exited with code {process.returncode}; its log: '
                                   f'{node_log}\n{node_log.read_text()[-2000:]}')
            if time.monotonic() > deadline:
                raise RuntimeError(f'the node did not come up within {startup_timeout_s:.0f} s; '
                                   f'its log: {node_log}')
            time.sleep(0.1)
        time.sleep(0.5)
        height, width = sequence.frames.shape[1:3]
        period = 1.0 / rate_hz
        start = time.perf_counter()
        for index, frame in enumerate(sequence.frames):
            header = Header(frame_id=FRAME_ID, stamp=seconds_to_stamp(base + index * period))
            info_publisher.publish(
                intrinsics_to_camera_info(sequence.intrinsics, width, height, header))
            message = rgb_to_image_msg(frame, header)
            with record.lock:
                record.sent[index] = time.perf_counter()
            image_publisher.publish(message)
            delay = start + (index + 1) * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        last = len(sequence.frames) - 1
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and last not in record.received:
            time.sleep(0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def summarise(record: DemoRecord, sequence, rate_hz: float) -> dict:
    """Rate, latency, drops and errors of what came back, against the generated truth."""
    indices = sorted(record.received)
    valid = [i for i in indices if len(record.received[i][1]) == 17]
    truth_mm = sequence.joints3d_camera[valid].astype(np.float64)
    predicted_mm = np.array([record.received[i][1] for i in valid]).reshape(-1, 17, 3) * 1000.0
    latency_ms = np.array([(record.received[i][0] - record.sent[i]) * 1000.0 for i in indices])
    times = np.array([record.received[i][0] for i in indices])
    from hpm_ros.metrics import mpjpe, p_mpjpe

    relative_truth = truth_mm - truth_mm[:, :1]
    relative_predicted = predicted_mm - predicted_mm[:, :1]
    summary = {
        'frames_published': len(record.sent), 'poses_received': len(indices),
        'poses_with_person': len(valid), 'frames_dropped': len(record.sent) - len(indices),
        'camera_rate_hz': rate_hz,
        'output_rate_hz': float((len(times) - 1) / (times[-1] - times[0]))
        if len(times) > 1 else 0.0,
        'latency_ms_p50': float(np.percentile(latency_ms, 50)) if len(latency_ms) else None,
        'latency_ms_p95': float(np.percentile(latency_ms, 95)) if len(latency_ms) else None,
        'frame_ids': sorted({record.received[i][2] for i in indices}),
    }
    if valid:
        summary['mpjpe_mm'] = float(mpjpe(relative_predicted, relative_truth).mean())
        summary['p_mpjpe_mm'] = float(p_mpjpe(relative_predicted, relative_truth).mean())
        summary['root_position_error_mm'] = float(np.linalg.norm(
            predicted_mm[:, 0] - truth_mm[:, 0], axis=-1).mean())
    return summary


def render_gif(record: DemoRecord, sequence, path: Path, every: int = 2) -> Path:
    """Animated GIF: each received frame with the projected skeleton beside a side view of
    the predicted (colour) and true (grey) root-relative pose."""
    from PIL import Image

    from hpm_ros.geometry import project_points
    from hpm_ros.render import draw_pose_2d, draw_side_view, strip

    pictures = []
    for index in sorted(record.received)[::every]:
        positions = record.received[index][1]
        frame = sequence.frames[index]
        if len(positions) != 17:
            pictures.append(Image.fromarray(strip([frame, np.zeros((256, 256, 3), np.uint8)])))
            continue
        points = project_points(positions * 1000.0, sequence.intrinsics)
        truth = sequence.joints3d_camera[index]
        side = draw_side_view(positions * 1000.0 - positions[0] * 1000.0, truth=truth - truth[0])
        pictures.append(Image.fromarray(strip([draw_pose_2d(frame, points), side], height=240)))
    if pictures:
        pictures[0].save(path, save_all=True, append_images=pictures[1:], loop=0,
                         duration=int(1000 * every / 15))
    return path


def run_demo(output: Path, frames: int = 90, rate_hz: float = 15.0, seed: int = 7,
             model_path: Path = None, correction: str = 'aligned', domain_id: int = DEMO_DOMAIN_ID,
             startup_timeout_s: float = 120.0) -> dict:
    """Run the whole demo; returns the summary (also written to ``output``)."""
    from hpm_ros.data.motion import generate_motion
    from hpm_ros.data.synthetic import render_sequence
    from hpm_ros.resources import default_model_path

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model_path = Path(model_path or default_model_path())
    env = demo_environment(domain_id)
    os.environ.update({key: env[key]
                       for key in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID')})
    print(f'rendering {frames} frames of a walking person ({IMAGE_SIZE[0]}×{IMAGE_SIZE[1]}) ...',
          flush=True)
    motion = generate_motion('walk', frames, rate_hz, np.random.default_rng(seed))
    sequence = render_sequence(motion, IMAGE_SIZE, seed=seed)
    node_log = output / 'node.log'
    print(f'starting hpm_pose_node on {model_path.name} (log: {node_log}) ...', flush=True)
    process = start_node(model_path, correction, env, node_log)
    record = DemoRecord()
    try:
        _camera_stream(sequence, rate_hz, record, node_log, process, startup_timeout_s)
    finally:
        exit_code = stop_node(process)
    summary = summarise(record, sequence, rate_hz)
    summary.update({'model': str(model_path), 'correction': correction,
                    'node_exit_code': exit_code, 'domain_id': domain_id})
    (output / 'results.json').write_text(json.dumps(summary, indent=2))
    received = sorted(record.received)
    poses = np.full((len(received), 17, 3), np.nan)
    for row, index in enumerate(received):
        if len(record.received[index][1]) == 17:
            poses[row] = record.received[index][1]
    np.savez(output / 'poses.npz', frames=np.array(received, dtype=np.int64),
             joints3d_camera_m=poses, truth_camera_mm=sequence.joints3d_camera[received],
             intrinsics=sequence.intrinsics)
    render_gif(record, sequence, output / 'demo.gif')
    (output / 'summary.md').write_text(format_summary(summary))
    return summary


def format_summary(summary: dict) -> str:
    """The summary as a short markdown table."""
    lines = ['# hpm demo', '', '| measure | value |', '|---|---|']
    for key, value in summary.items():
        shown = f'{value:.2f}' if isinstance(value, float) else str(value)
        lines.append(f'| {key} | {shown} |')
    return '\n'.join(lines) + '\n'
