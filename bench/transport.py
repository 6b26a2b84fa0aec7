"""Delivery of raw rgb8 images between two processes under Fast DDS transport settings.

Usage: python bench/transport.py [--seconds 4] [--streams 1280x720@30,1920x1080@15]
       [--settings default,profile,...] [--qos best_effort,reliable,reliable>best_effort]
       [--domain-id 190]

For every case a publisher process and a subscriber process (this script with ``--role``)
are started with the case's environment; the publisher sends ``--seconds`` of frames at the
stream's rate (one pre-built sensor_msgs/Image, re-stamped, frame index in frame_id) once it
is matched, the subscriber counts the distinct frames that arrive (an ordinary rclpy
subscription, as the node has). Printed: % of frames received, and the p50 latency (publish
stamp to the subscriber's callback) of those that did. Discovery stays on localhost; every
case runs in ``--domain-id``.

QoS column: publisher reliability > subscription reliability. ``reliable>best_effort`` is
what the node did before it matched the publishers (sensor-data QoS whatever the camera).
Settings (publisher env / subscriber env):
  default            nothing set: UDPv4 + shared memory with Fast DDS's 512 KiB segment
  profile            config/fastdds_large_images.xml in both processes
  profile-pub        the profile in the publisher only
  profile-sub        the profile in the subscriber (the node) only
  large-data         FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA?max_msg_size=8MB&sockets_size=16MB
                     in both (UDP discovery, TCP + shared memory for data)
  udp-sub            the subscriber on UDPv4 alone with 4 MiB socket buffers (no shared
                     memory, so a default publisher must send over the loopback), publisher
                     default
  shm-<MiB>          the profile with a <MiB> shared-memory segment, in both (e.g. shm-8)
  shm-<MiB>-buf      the same with 4 MiB UDP socket buffers (capped by net.core.*mem_max)
A QoS entry may end in :<depth> (publisher history depth, default 5): reliable:1.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / 'config' / 'fastdds_large_images.xml'
LARGE_DATA = 'LARGE_DATA?max_msg_size=8MB&sockets_size=16MB'
UDP_ONLY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors><transport_descriptor>
    <transport_id>udp_only</transport_id><type>UDPv4</type>
    <sendBufferSize>4194304</sendBufferSize><receiveBufferSize>4194304</receiveBufferSize>
  </transport_descriptor></transport_descriptors>
  <participant profile_name="udp_only" is_default_profile="true"><rtps>
    <userTransports><transport_id>udp_only</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports>
  </rtps></participant>
</profiles></dds>
"""
SETTINGS = ('default', 'profile', 'profile-pub', 'profile-sub', 'large-data', 'udp-sub')
QOS = ('best_effort', 'reliable', 'reliable>best_effort')
TOPIC = '/bench/image'


def setting_environments(setting: str, scratch: Path) -> tuple:
    """Return (publisher env additions, subscriber env additions) of ``setting``."""
    profile = {'FASTDDS_DEFAULT_PROFILES_FILE': str(PROFILE)}
    if setting == 'default':
        return {}, {}
    if setting == 'profile':
        return profile, profile
    if setting == 'profile-pub':
        return profile, {}
    if setting == 'profile-sub':
        return {}, profile
    if setting == 'large-data':
        large = {'FASTDDS_BUILTIN_TRANSPORTS': LARGE_DATA}
        return large, large
    if setting == 'udp-sub':
        path = scratch / 'udp_only.xml'
        path.write_text(UDP_ONLY_XML)
        return {}, {'FASTDDS_DEFAULT_PROFILES_FILE': str(path)}
    if setting.startswith('shm-'):
        mebibytes, _, variant = setting[4:].partition('-')
        text = re.sub(r'<segment_size>\d+</segment_size>',
                      f'<segment_size>{int(mebibytes) * 2 ** 20}</segment_size>',
                      PROFILE.read_text())
        if variant == 'buf':
            text = text.replace('<type>UDPv4</type>', '<type>UDPv4</type><sendBufferSize>'
                                '4194304</sendBufferSize><receiveBufferSize>4194304'
                                '</receiveBufferSize>')
        path = scratch / f'{setting}.xml'
        path.write_text(text)
        return ({'FASTDDS_DEFAULT_PROFILES_FILE': str(path)},
                {'FASTDDS_DEFAULT_PROFILES_FILE': str(path)})
    raise ValueError(f'unknown setting {setting!r}; one of {", ".join(SETTINGS)}')


def qos_profile(reliability: str):
    """Return keep-last volatile QoS of ``reliability[:depth]`` (depth 5 unless given)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    name, _, depth = reliability.partition(':')
    policy = ReliabilityPolicy.RELIABLE if name == 'reliable' else \
        ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(depth=int(depth or 5), reliability=policy)


def run_publisher(args) -> None:
    """Publish ``args.seconds`` of frames once a subscription is matched; print a JSON line."""
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from hpm_ros.ros.conversions import rgb_to_image_msg, seconds_to_stamp

    width, height = (int(v) for v in args.size.split('x'))
    rclpy.init()
    node = rclpy.create_node('bench_transport_publisher')
    publisher = node.create_publisher(Image, TOPIC, qos_profile(args.reliability))
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    message = rgb_to_image_msg(rgb, Header(frame_id='0'))
    deadline = time.monotonic() + 30.0
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)
    frames = int(round(args.seconds * args.rate))
    start = time.perf_counter()
    publish_ms = []
    for index in range(frames):
        message.header.frame_id = str(index)
        message.header.stamp = seconds_to_stamp(time.time())
        began = time.perf_counter()
        publisher.publish(message)
        publish_ms.append((time.perf_counter() - began) * 1000.0)
        delay = start + (index + 1) / args.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    achieved = frames / (time.perf_counter() - start)
    time.sleep(1.0)
    print(json.dumps({'sent': frames, 'matched': publisher.get_subscription_count(),
                      'publish_ms_p50': sorted(publish_ms)[len(publish_ms) // 2],
                      'rate_hz': achieved}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def run_subscriber(args) -> None:
    """Count distinct frames until SIGINT; print a JSON line."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import Image

    from hpm_ros.ros.conversions import stamp_to_seconds

    rclpy.init()
    node = rclpy.create_node('bench_transport_subscriber')
    seen, latency_ms = set(), []

    def on_image(message: Image) -> None:
        latency_ms.append((time.time() - stamp_to_seconds(message.header.stamp)) * 1000.0)
        seen.add(message.header.frame_id)

    node.create_subscription(Image, TOPIC, on_image, qos_profile(args.reliability))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    latency_ms.sort()
    print(json.dumps({'received': len(seen),
                      'latency_ms_p50': latency_ms[len(latency_ms) // 2] if latency_ms else None
                      }), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def run_case(stream: str, setting: str, qos: str, seconds: float, domain_id: int,
             scratch: Path) -> dict:
    """One publisher / subscriber pair; returns the two JSON summaries merged."""
    size, rate = stream.split('@')
    publisher_qos, _, subscriber_qos = qos.partition('>')
    subscriber_qos = subscriber_qos or publisher_qos.partition(':')[0]
    publisher_env, subscriber_env = setting_environments(setting, scratch)
    base = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
    for key in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE',
                'FASTDDS_BUILTIN_TRANSPORTS'):
        base.pop(key, None)
    script = [sys.executable, str(Path(__file__).resolve())]
    subscriber = subprocess.Popen(
        script + ['--role', 'sub', '--reliability', subscriber_qos],
        env=dict(base, **subscriber_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        published = subprocess.run(
            script + ['--role', 'pub', '--reliability', publisher_qos, '--size', size,
                      '--rate', rate, '--seconds', str(seconds)],
            env=dict(base, **publisher_env), capture_output=True, text=True,
            timeout=60 + 3 * seconds)
    finally:
        subscriber.send_signal(signal.SIGINT)
        out, err = subscriber.communicate(timeout=30)
    result = {'stream': stream, 'setting': setting, 'qos': qos}
    try:
        result.update(json.loads(published.stdout.strip().splitlines()[-1]))
        result.update(json.loads(out.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        result['error'] = (published.stderr + err)[-600:]
    return result


def main() -> None:
    """Run the matrix and print the delivery table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--role', choices=('pub', 'sub'))
    parser.add_argument('--reliability', default='best_effort')
    parser.add_argument('--size', default='1280x720')
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--seconds', type=float, default=4.0)
    parser.add_argument('--streams', default='640x480@30,1280x720@30,1920x1080@30,1920x1080@15')
    parser.add_argument('--settings', default=','.join(SETTINGS))
    parser.add_argument('--qos', default=','.join(QOS))
    parser.add_argument('--domain-id', type=int, default=190)
    args = parser.parse_args()
    if args.role == 'pub':
        return run_publisher(args)
    if args.role == 'sub':
        return run_subscriber(args)
    import platform

    print(f'# {platform.node()}: {os.cpu_count()} cores, {platform.platform()}; '
          f'{args.seconds:g} s per case, domain {args.domain_id}, localhost discovery')
    print('| stream | setting | QoS pub>sub | sent | received | % | latency p50 ms |')
    print('|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as scratch:
        for stream in args.streams.split(','):
            for setting in args.settings.split(','):
                for qos in args.qos.split(','):
                    row = run_case(stream, setting, qos, args.seconds, args.domain_id,
                                   Path(scratch))
                    if 'error' in row:
                        print(f'| {stream} | {setting} | {qos} | error: '
                              f'{row["error"].splitlines()[-1:]} |', flush=True)
                        continue
                    share = 100.0 * row['received'] / max(row['sent'], 1)
                    latency = row['latency_ms_p50']
                    print(f'| {stream} | {setting} | {qos} | {row["sent"]} | '
                          f'{row["received"]} | {share:.0f} | '
                          f'{"-" if latency is None else f"{latency:.1f}"} |', flush=True)


if __name__ == '__main__':
    main()
