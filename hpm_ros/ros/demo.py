"""`hpm demo`: the node in its own process, a real camera clip over DDS, measured output.

The clip is the shipped ``samples/room_walk.mp4`` (CC BY 4.0, see ``samples/SOURCE.md``): a
real room, 768×432 at 10 fps, a person leaving, an empty stretch, a person walking in, across
and out. The demo starts ``hpm_pose_node`` with its defaults (BlazePose front end, the keypoints
lifter, the 'aligned' correction) as a separate process, publishes the frames with a nominal
CameraInfo at the clip's rate from this process (reliable QoS: a raw frame is 995 KB, more
than Fast DDS's default transports carry best effort between processes), collects the node's
PoseArray messages (the primary person) and MarkerArray messages (every body, see
:func:`hpm_ros.ros.humans.body_markers`) and writes an output folder: ``demo.gif`` (each frame
with every body's 3D skeleton projected back onto it and labelled with its ID, beside a side
view of the primary person's 3D pose), ``summary.md`` and ``results.json`` (rates, latency,
bodies per frame, the share of frames with a person against the clip's labels), ``poses.npz``.
``hpm demo --clip test/data/people/crossing.mp4`` shows two people (a composite of real frames,
``test/data/people/SOURCE.md``).
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEMO_DOMAIN_ID = 87
IMAGE_TOPIC = '/hpm_demo/image'
CAMERA_INFO_TOPIC = '/hpm_demo/camera_info'
POSE_TOPIC = '/hpm_pose/pose3d'
MARKER_TOPIC = '/hpm_pose/markers'
FRAME_ID = 'camera_optical_frame'
# Labels of samples/room_walk.mp4, by looking at every frame: most of a body in view, and
# nobody in view (frames with only feet or a head at the border are in neither).
PERSON_FRAMES = (*range(0, 8), *range(60, 178))
EMPTY_FRAMES = (*range(12, 55), *range(182, 200))


@dataclass
class DemoClip:
    """The demo's input: frames [T, H, W, 3] uint8 RGB, rate in Hz, nominal intrinsics
    [3, 3] (focal length = image width, principal point at the centre)."""

    frames: np.ndarray
    rate_hz: float
    intrinsics: np.ndarray


def load_clip(path: Path = None, max_frames: int = None) -> DemoClip:
    """The shipped sample clip (or ``path``), decoded with PyAV."""
    from hpm_ros.geometry import intrinsics_matrix
    from hpm_ros.resources import sample_video_path
    from hpm_ros.video import probe_video, read_frames

    path = Path(path or sample_video_path())
    info = probe_video(path)
    frames = np.stack([frame for _, frame in read_frames(path, max_frames)])
    height, width = frames.shape[1:3]
    return DemoClip(frames, info.fps, intrinsics_matrix(width, width, (width - 1) / 2.0,
                                                        (height - 1) / 2.0))


@dataclass
class DemoRecord:
    """What came back.

    sent, received: send times and received poses by frame index; bodies: {frame index:
    {body ID: joints [17, 3] m}} from the markers.
    """

    sent: dict = field(default_factory=dict)
    received: dict = field(default_factory=dict)
    bodies: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_node(model_path: Path, correction: str, domain_id: int, log_path: Path):
    """``hpm_pose_node`` as its own process (:class:`hpm_ros.ros.processes.NodeProcess`),
    reading the demo topics (reliable images)."""
    from hpm_ros.ros.processes import NodeProcess

    arguments = ['-p', f'correction_preset:={correction}', '-p', 'threads:=1',
                 '-p', f'qos_overrides.{IMAGE_TOPIC}.subscription.reliability:=reliable',
                 '-r', f'image:={IMAGE_TOPIC}', '-r', f'camera_info:={CAMERA_INFO_TOPIC}']
    if model_path is not None:
        arguments += ['-p', f'model_path:={model_path}']
    return NodeProcess('hpm_ros.ros.node', arguments, domain_id, log_path)


def _camera_stream(clip: DemoClip, rate_hz: float, record: DemoRecord, node_log: Path,
                   process, startup_timeout_s: float) -> None:
    """Publish every frame at ``rate_hz`` and collect the node's poses (runs rclpy)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker, MarkerArray

    from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                         seconds_to_stamp, stamp_to_seconds)

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('hpm_demo_camera', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    image_publisher = node.create_publisher(
        Image, IMAGE_TOPIC, QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
    info_publisher = node.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, 10)
    base = 1_000_000.0

    def on_pose(message: PoseArray) -> None:
        index = int(round((stamp_to_seconds(message.header.stamp) - base) * rate_hz))
        positions = np.array([[p.position.x, p.position.y, p.position.z]
                              for p in message.poses], dtype=np.float64)
        with record.lock:
            record.received[index] = (time.perf_counter(), positions, message.header.frame_id)

    def on_markers(message: MarkerArray) -> None:
        from hpm_ros.ros.humans import MARKERS_PER_BODY

        for marker in message.markers:
            if marker.action == Marker.ADD and marker.type == Marker.SPHERE_LIST:
                index = int(round((stamp_to_seconds(marker.header.stamp) - base) * rate_hz))
                joints = np.array([[p.x, p.y, p.z] for p in marker.points], dtype=np.float64)
                with record.lock:
                    record.bodies.setdefault(index, {})[marker.id // MARKERS_PER_BODY] = joints

    node.create_subscription(PoseArray, POSE_TOPIC, on_pose, 10)
    node.create_subscription(MarkerArray, MARKER_TOPIC, on_markers, 10)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while (image_publisher.get_subscription_count() == 0
               or node.count_publishers(POSE_TOPIC) == 0):
            if not process.alive():
                raise RuntimeError(f'the node exited with code {process.process.returncode}; '
                                   f'its log: {node_log}\n{process.output()[-2000:]}')
            if time.monotonic() > deadline:
                raise RuntimeError(f'the node did not come up within {startup_timeout_s:.0f} s; '
                                   f'its log: {node_log}')
            time.sleep(0.1)
        time.sleep(0.5)
        height, width = clip.frames.shape[1:3]
        period = 1.0 / rate_hz
        start = time.perf_counter()
        for index, frame in enumerate(clip.frames):
            header = Header(frame_id=FRAME_ID, stamp=seconds_to_stamp(base + index * period))
            info_publisher.publish(
                intrinsics_to_camera_info(clip.intrinsics, width, height, header))
            message = rgb_to_image_msg(frame, header)
            with record.lock:
                record.sent[index] = time.perf_counter()
            image_publisher.publish(message)
            delay = start + (index + 1) * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        last = len(clip.frames) - 1
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and last not in record.received:
            time.sleep(0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def summarise(record: DemoRecord, clip: DemoClip, rate_hz: float,
              labelled: bool = True) -> dict:
    """Rates, latency, drops and bodies of what came back; with ``labelled`` (the shipped
    clip) recall on the labelled frames with a person and false poses on the labelled empty
    frames."""
    indices = sorted(record.received)
    with_person = {i for i in indices if len(record.received[i][1]) == 17}
    latency_ms = np.array([(record.received[i][0] - record.sent[i]) * 1000.0 for i in indices])
    times = np.array([record.received[i][0] for i in indices])
    person = [i for i in PERSON_FRAMES if i < len(clip.frames)] if labelled else []
    empty = [i for i in EMPTY_FRAMES if i < len(clip.frames)] if labelled else []
    summary = {
        'frames_published': len(record.sent), 'poses_received': len(indices),
        'poses_with_person': len(with_person), 'frames_dropped': len(record.sent) - len(indices),
        'camera_rate_hz': rate_hz,
        'output_rate_hz': float((len(times) - 1) / (times[-1] - times[0]))
        if len(times) > 1 else 0.0,
        'latency_ms_p50': float(np.percentile(latency_ms, 50)) if len(latency_ms) else None,
        'latency_ms_p95': float(np.percentile(latency_ms, 95)) if len(latency_ms) else None,
        'labelled_person_frames': len(person),
        'person_recall_pct': 100.0 * len(with_person.intersection(person)) / max(1, len(person)),
        'labelled_empty_frames': len(empty),
        'false_pose_pct': 100.0 * len(with_person.intersection(empty)) / max(1, len(empty)),
        'frame_ids': sorted({record.received[i][2] for i in indices}),
        'bodies_max': max([len(b) for b in record.bodies.values()] + [0]),
        'frames_with_two_or_more_bodies': sum(len(b) >= 2 for b in record.bodies.values()),
        'body_ids': sorted({i for b in record.bodies.values() for i in b}),
    }
    if not labelled:
        for key in ('labelled_person_frames', 'person_recall_pct', 'labelled_empty_frames',
                    'false_pose_pct'):
            del summary[key]
    return summary


def render_gif(record: DemoRecord, clip: DemoClip, path: Path, every: int = 2) -> Path:
    """Animated GIF: each received frame with every body's 3D skeleton projected onto it (the
    node's camera-frame output through the CameraInfo it was sent) and its ID, beside a side
    view of the primary person's root-relative 3D pose; frames without a person show the
    frame alone."""
    from PIL import Image

    from hpm_ros.geometry import project_points
    from hpm_ros.render import draw_people_2d, draw_side_view, strip

    pictures = []
    blank = np.full((256, 256, 3), 255, np.uint8)
    for index in sorted(record.received)[::every]:
        positions = record.received[index][1]
        frame = clip.frames[index]
        if len(positions) != 17:
            pictures.append(Image.fromarray(strip([frame, blank], height=240)))
            continue
        bodies = record.bodies.get(index) or {-1: positions}
        points = np.stack([project_points(joints * 1000.0, clip.intrinsics)
                           for joints in bodies.values()])
        overlay = draw_people_2d(frame, points, np.ones(points.shape[:2]), np.array(list(bodies)))
        side = draw_side_view(positions * 1000.0 - positions[0] * 1000.0)
        pictures.append(Image.fromarray(strip([overlay, side], height=240)))
    if pictures:
        pictures[0].save(path, save_all=True, append_images=pictures[1:], loop=0,
                         duration=int(1000 * every / clip.rate_hz))
    return path


def run_demo(output: Path, max_frames: int = None, model_path: Path = None,
             correction: str = 'aligned', domain_id: int = DEMO_DOMAIN_ID,
             startup_timeout_s: float = 120.0, clip_path: Path = None) -> dict:
    """Run the whole demo; returns the summary (also written to ``output``)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID=str(domain_id))
    clip = load_clip(clip_path, max_frames)
    height, width = clip.frames.shape[1:3]
    print(f'{len(clip.frames)} real frames ({width}x{height}, {clip.rate_hz:g} fps) of '
          f'{clip_path or "samples/room_walk.mp4"} ...', flush=True)
    node_log = output / 'node.log'
    print(f'starting hpm_pose_node (log: {node_log}) ...', flush=True)
    process = start_node(model_path, correction, domain_id, node_log)
    record = DemoRecord()
    try:
        _camera_stream(clip, clip.rate_hz, record, node_log, process, startup_timeout_s)
    finally:
        exit_code = process.stop()
    summary = summarise(record, clip, clip.rate_hz, labelled=clip_path is None)
    summary.update({'model': str(model_path or 'default'), 'correction': correction,
                    'node_exit_code': exit_code, 'domain_id': domain_id})
    (output / 'results.json').write_text(json.dumps(summary, indent=2))
    received = sorted(record.received)
    poses = np.full((len(received), 17, 3), np.nan)
    for row, index in enumerate(received):
        if len(record.received[index][1]) == 17:
            poses[row] = record.received[index][1]
    slots = max([len(record.bodies.get(i, {})) for i in received] + [1])
    bodies = np.full((len(received), slots, 17, 3), np.nan)
    body_ids = np.full((len(received), slots), -1, dtype=np.int64)
    for row, index in enumerate(received):
        for slot, (body, joints) in enumerate(sorted(record.bodies.get(index, {}).items())):
            if joints.shape == (17, 3):
                bodies[row, slot], body_ids[row, slot] = joints, body
    np.savez(output / 'poses.npz', frames=np.array(received, dtype=np.int64),
             joints3d_camera_m=poses, intrinsics=clip.intrinsics,
             joints3d_camera_people_m=bodies, track_id=body_ids)
    render_gif(record, clip, output / 'demo.gif')
    (output / 'summary.md').write_text(format_summary(summary))
    return summary


def format_summary(summary: dict) -> str:
    """The summary as a short markdown table."""
    lines = ['# hpm demo', '', '| measure | value |', '|---|---|']
    for key, value in summary.items():
        shown = f'{value:.2f}' if isinstance(value, float) else str(value)
        lines.append(f'| {key} | {shown} |')
    return '\n'.join(lines) + '\n'
