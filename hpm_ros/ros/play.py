"""`hpm play`: replay a bag's image and camera_info topics over DDS, optionally recording.

The recorded CDR bytes are published as they are (rclpy ``publish(bytes)``), stamped by the
bag's receive times scaled by ``1 / rate``. Images (sensor_msgs/Image, or CompressedImage when
the bag holds only ``<image topic>/compressed``) go out with sensor-data QoS, camera info with
reliable QoS; the process takes the shipped Fast DDS profile for large images unless told
otherwise (``--fastdds-profile``). With ``--record`` the given topics are
subscribed raw and written to a new rosbag2 (rosbags), stamped with the receive time.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from hpm_ros.ros.transport import add_profile_argument, apply_profile

DEFAULT_RECORD_TOPICS = {'/hpm_pose/pose3d': 'geometry_msgs/msg/PoseArray',
                         '/hpm_pose/markers': 'visualization_msgs/msg/MarkerArray',
                         '/diagnostics': 'diagnostic_msgs/msg/DiagnosticArray'}


def _import_message(msgtype: str):
    """The rclpy class of 'pkg/msg/Name' (without rosidl_runtime_py)."""
    import importlib

    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


class _Recorder:
    """Raw subscriptions of ``topics``, queued by the executor thread and written to a new bag
    by the thread that created it (sqlite3 connections are bound to their thread)."""

    def __init__(self, node, path, topics: dict, storage: str) -> None:
        from hpm_ros.bags.io import BagWriter

        self.writer = BagWriter(path, storage)
        self.lock = threading.Lock()
        self.queue = []
        self.counts = {topic: 0 for topic in topics}
        for topic, msgtype in topics.items():
            node.create_subscription(_import_message(msgtype), topic,
                                     self._callback(topic, msgtype), 10, raw=True)

    def _callback(self, topic: str, msgtype: str):
        def store(data: bytes) -> None:
            with self.lock:
                self.queue.append((topic, msgtype, time.time_ns(), data))
        return store

    def flush(self) -> None:
        """Write what arrived so far."""
        with self.lock:
            queued, self.queue = self.queue, []
        for topic, msgtype, stamp, data in queued:
            self.writer.write_raw(topic, msgtype, stamp, data)
            self.counts[topic] += 1

    def close(self) -> None:
        """Write the rest and finish the bag."""
        self.flush()
        self.writer.close()


def play(bag, image_topic: str = '/camera/image_raw',
         camera_info_topic: str = '/camera/camera_info', rate: float = 1.0,
         remap: dict = None, record: str = None, record_topics: dict = None,
         storage: str = 'sqlite3', wait_s: float = 10.0, linger_s: float = 2.0,
         progress: bool = True) -> dict:
    """Publish the image and camera_info messages of ``bag`` at ``rate`` × recorded speed.

    remap: {bag topic: published topic}. record: new bag path for ``record_topics``
    ({topic: 'pkg/msg/Type'}). Waits up to ``wait_s`` for subscribers of the played topics,
    and ``linger_s`` after the last image for late outputs. Returns counts of what was sent
    and recorded ('interrupted' True after Ctrl-C; the recording is still closed properly).
    The node is created in its own rclpy context."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from tqdm import tqdm

    from hpm_ros.bags.io import BagReader
    from hpm_ros.errors import BagError

    if not rate > 0:
        raise ValueError(f'rate must be positive, got {rate}')
    remap = dict(remap or {})
    with BagReader(bag) as reader:
        topics = reader.topics
        compressed = image_topic.rstrip('/') + '/compressed'
        if image_topic not in topics and compressed in topics:
            remap.setdefault(compressed, remap.pop(image_topic, image_topic).rstrip('/')
                             + '/compressed')
            image_topic = compressed
        if image_topic not in topics:
            raise BagError(f'bag {bag} has no image topic {image_topic!r}; its topics: '
                           f'{", ".join(sorted(topics)) or "none"}')
        wanted = [t for t in (image_topic, camera_info_topic) if t in topics]
        total = sum(reader.count(t) for t in wanted)
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node('hpm_play', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        recorder, sent, interrupted = None, {topic: 0 for topic in wanted}, False
        spinner = threading.Thread(target=executor.spin, daemon=True)
        try:
            publishers = {topic: node.create_publisher(
                _import_message(topics[topic]), remap.get(topic, topic),
                qos_profile_sensor_data if topic == image_topic else 10) for topic in wanted}
            if record:
                recorder = _Recorder(node, record, record_topics or DEFAULT_RECORD_TOPICS,
                                     storage)
            spinner.start()
            try:
                _wait_for_subscribers(list(publishers.values()), wait_s)
                _publish(reader.messages(set(wanted)), publishers, sent, rate, recorder,
                         tqdm(total=total, desc='play', disable=not progress))
                time.sleep(linger_s)
            except KeyboardInterrupt:
                interrupted = True
        finally:
            executor.shutdown()
            if spinner.is_alive():
                spinner.join()  # a thread still in rcl at exit aborts the process
            if recorder is not None:
                recorder.close()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    return {'sent': sent, 'recorded': dict(recorder.counts) if recorder else {},
            'interrupted': interrupted}


def _wait_for_subscribers(publishers: list, wait_s: float) -> None:
    """Wait until every publisher is matched (camera info too, so that the first image does
    not arrive before the intrinsics), at most ``wait_s``; then let discovery settle."""
    deadline = time.monotonic() + wait_s
    while (any(p.get_subscription_count() == 0 for p in publishers)
           and time.monotonic() < deadline):
        time.sleep(0.05)
    for publisher in publishers:
        if publisher.get_subscription_count() == 0:
            print(f'hpm play: no subscriber of {publisher.topic_name} after {wait_s:g} s; '
                  'publishing anyway', file=sys.stderr)
    time.sleep(0.5)


def _publish(messages, publishers: dict, sent: dict, rate: float, recorder, bar) -> None:
    """Publish (connection, stamp ns, CDR bytes) at their recorded spacing divided by rate."""
    first, start = None, time.monotonic()
    for connection, stamp, data in messages:
        first = stamp if first is None else first
        delay = start + (stamp - first) * 1e-9 / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publishers[connection.topic].publish(bytes(data))
        sent[connection.topic] += 1
        bar.update(1)
        if recorder is not None:
            recorder.flush()
    bar.close()


def add_parser(commands) -> None:
    """Register `hpm play`."""
    parser = commands.add_parser(
        'play', help='replay a bag\'s images and camera info over DDS into a running node')
    parser.add_argument('--bag', required=True)
    parser.add_argument('--image-topic', default='/camera/image_raw')
    parser.add_argument('--camera-info-topic', default='/camera/camera_info')
    parser.add_argument('--publish-image-topic', help='publish the images here instead')
    parser.add_argument('--publish-camera-info-topic', help='publish the camera info here instead')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='speed factor: 1 = recorded rate, 0.5 = half speed')
    parser.add_argument('--record', help='new bag of what the node publishes')
    parser.add_argument('--record-topic', action='append', metavar='TOPIC:TYPE',
                        help='topic to record, e.g. /hpm_pose/pose3d:geometry_msgs/msg/PoseArray '
                        '(repeatable; default: the node\'s pose3d, markers and /diagnostics)')
    parser.add_argument('--storage', default='sqlite3', choices=('sqlite3', 'mcap'))
    parser.add_argument('--wait', type=float, default=10.0, help='seconds to wait for the node')
    parser.add_argument('--linger', type=float, default=2.0,
                        help='seconds to keep recording after the last image')
    parser.add_argument('--no-progress', action='store_true')
    add_profile_argument(parser)


def run(args) -> int:
    """Entry point of `hpm play`."""
    record_topics = None
    if args.record_topic:
        record_topics = {}
        for item in args.record_topic:
            topic, _, msgtype = item.rpartition(':')
            if not topic or msgtype.count('/') != 2:
                raise ValueError(f'--record-topic wants TOPIC:pkg/msg/Type, got {item!r}')
            record_topics[topic] = msgtype
    remap = {}
    if args.publish_image_topic:
        remap[args.image_topic] = args.publish_image_topic
    if args.publish_camera_info_topic:
        remap[args.camera_info_topic] = args.publish_camera_info_topic
    if args.record and Path(args.record).exists():
        raise ValueError(f'{args.record} exists already; choose a new --record path')
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    apply_profile(args.fastdds_profile)
    summary = play(args.bag, args.image_topic, args.camera_info_topic, args.rate, remap,
                   args.record, record_topics, args.storage, args.wait, args.linger,
                   not args.no_progress)
    sent = ', '.join(f'{t} {n}' for t, n in summary['sent'].items())
    print(f'sent: {sent}' + (' (interrupted)' if summary['interrupted'] else ''))
    if args.record:
        recorded = ', '.join(f'{t} {n}' for t, n in summary['recorded'].items())
        print(f'recorded into {args.record}: {recorded}')
    return 0
