"""`hpm camera`: a camera publisher for a plain venv (no ROS camera driver needed).

Reads a V4L2 webcam (``--device N``, ``/dev/videoN``, through PyAV/FFmpeg) or a video file
(``--video FILE``) and publishes, stamped with this machine's clock at capture, in
``--namespace`` (default ``/camera``):

- ``image_raw`` (sensor_msgs/Image, rgb8),
- ``image_raw/compressed`` (sensor_msgs/CompressedImage, JPEG or PNG as ``image_transport``'s
  compressed plugin writes it) with ``--compressed``,
- ``camera_info`` (sensor_msgs/CameraInfo) from ``--camera-info calib.yaml`` (the
  ``camera_calibration_parsers`` format, scaled when ``--size`` differs) or, without one, the
  nominal calibration of :func:`hpm_ros.calibration.nominal_calibration` (60° horizontal
  field of view, centred, no distortion).

Like ``image_transport``, an image topic is only encoded and published while it has
subscribers; camera_info goes with every frame. QoS: best effort (sensor data, keep last 5),
``--reliable`` for reliable. The process takes the shipped Fast DDS profile for large images
unless told otherwise (``--fastdds-profile``, :mod:`hpm_ros.ros.transport`); DDS discovery
stays on this machine unless ``ROS_AUTOMATIC_DISCOVERY_RANGE`` says otherwise.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

from hpm_ros.calibration import CameraCalibration, load_calibration, nominal_calibration
from hpm_ros.image_codec import CODECS
from hpm_ros.ros.transport import add_profile_argument
from hpm_ros.video import VideoError

DEFAULT_NAMESPACE = '/camera'
DEVICE_RATE_HZ = 30.0


def parse_size(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``'1280x720'`` -> ``(1280, 720)``; None stays None; ValueError otherwise."""
    if text is None:
        return None
    width, separator, height = text.lower().partition('x')
    if not separator or not width.isdigit() or not height.isdigit() or '0' in (width, height):
        raise ValueError(f'--size wants WIDTHxHEIGHT in pixels, e.g. 1280x720; got {text!r}')
    return int(width), int(height)


def device_frames(index: int, size: Optional[Tuple[int, int]],
                  rate_hz: Optional[float]) -> Tuple[Iterator[np.ndarray], float]:
    """(RGB frames of ``/dev/video<index>``, the device's rate in Hz) through PyAV's v4l2.

    VideoError naming the device when it is missing or cannot be opened.
    """
    import av

    path = f'/dev/video{index}'
    if not Path(path).exists():
        raise VideoError(f'no camera device {path}: list the cameras with ls /dev/video*; in '
                         f'a container, pass the device in (docker run --device {path})')
    options = {}
    if size is not None:
        options['video_size'] = f'{size[0]}x{size[1]}'
    if rate_hz is not None:
        options['framerate'] = f'{rate_hz:g}'
    try:
        container = av.open(path, format='v4l2', options=options)
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(f'cannot open camera {path} (V4L2): {error}') from error
    stream = container.streams.video[0]
    rate = float(stream.average_rate) if stream.average_rate else DEVICE_RATE_HZ

    def frames() -> Iterator[np.ndarray]:
        try:
            for frame in container.decode(video=0):
                yield np.ascontiguousarray(frame.to_ndarray(format='rgb24'))
        except av.error.FFmpegError as error:
            raise VideoError(f'camera {path} failed: {error}') from error
        finally:
            container.close()
    return frames(), rate


def video_frames(path: str, loop: bool) -> Tuple[Iterator[np.ndarray], float]:
    """(RGB frames of a video file, repeated with ``loop``, its rate in Hz)."""
    from hpm_ros.video import probe_video, read_frames

    rate = probe_video(Path(path)).fps

    def frames() -> Iterator[np.ndarray]:
        while True:
            count = 0
            for _, frame in read_frames(Path(path)):
                count += 1
                yield frame
            if not loop or count == 0:
                return
    return frames(), rate


def resize(rgb: np.ndarray, size: Optional[Tuple[int, int]]) -> np.ndarray:
    """``rgb`` at ``size`` (W, H) with area interpolation; unchanged when it already is."""
    if size is None or (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    import cv2

    return cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_AREA)


def camera_info_message(calibration: CameraCalibration, header):
    """sensor_msgs/CameraInfo of ``calibration`` with ``header``."""
    from sensor_msgs.msg import CameraInfo

    return CameraInfo(header=header, width=calibration.width, height=calibration.height,
                      distortion_model=calibration.distortion_model,
                      d=[float(v) for v in calibration.D], k=calibration.K.reshape(-1),
                      r=calibration.R.reshape(-1), p=calibration.P.reshape(-1))


def calibration_for(path: Optional[str], width: int, height: int) -> CameraCalibration:
    """Return the calibration of ``path`` scaled to ``width`` x ``height``, or a nominal one."""
    if path is None:
        return nominal_calibration(width, height)
    calibration = load_calibration(path)
    if (calibration.width, calibration.height) != (width, height):
        print(f'hpm camera: {path} is for {calibration.width}x{calibration.height}; scaled to '
              f'{width}x{height}', file=sys.stderr)
    return calibration.scaled_to(width, height)


class CameraPublisher:
    """The publishers of one camera; ``publish(rgb)`` sends one stamped frame."""

    def __init__(self, node, namespace: str, frame_id: str, reliable: bool,
                 codec: Optional[str], quality: int, calibration_path: Optional[str]) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        base = namespace.rstrip('/') + '/image_raw'
        self.node = node
        self.frame_id = frame_id
        self.codec, self.quality = codec, quality
        self.calibration_path = calibration_path
        self.calibration = None
        self.raw = node.create_publisher(Image, base, qos)
        self.compressed = (node.create_publisher(CompressedImage, base + '/compressed', qos)
                           if codec else None)
        self.info = node.create_publisher(CameraInfo, namespace.rstrip('/') + '/camera_info',
                                          qos)
        self.counts = {'frames': 0, 'image_raw': 0, 'image_raw/compressed': 0,
                       'camera_info': 0}

    def subscribers(self) -> int:
        """Subscriptions matched to the image topics."""
        return self.raw.get_subscription_count() + (
            self.compressed.get_subscription_count() if self.compressed else 0)

    def publish(self, rgb: np.ndarray) -> None:
        """Publish ``rgb`` ([H, W, 3] uint8) stamped now, with its camera_info."""
        from sensor_msgs.msg import CompressedImage
        from std_msgs.msg import Header

        from hpm_ros.image_codec import encode_compressed
        from hpm_ros.ros.conversions import rgb_to_image_msg

        height, width = rgb.shape[:2]
        if self.calibration is None or (self.calibration.width,
                                        self.calibration.height) != (width, height):
            self.calibration = calibration_for(self.calibration_path, width, height)
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=self.frame_id)
        self.info.publish(camera_info_message(self.calibration, header))
        self.counts['camera_info'] += 1
        if self.raw.get_subscription_count():
            self.raw.publish(rgb_to_image_msg(rgb, header))
            self.counts['image_raw'] += 1
        if self.compressed is not None and self.compressed.get_subscription_count():
            data, text = encode_compressed(rgb, self.codec, self.quality)
            self.compressed.publish(CompressedImage(header=header, format=text, data=data))
            self.counts['image_raw/compressed'] += 1
        self.counts['frames'] += 1


def _wait_for_subscribers(camera: CameraPublisher, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while camera.subscribers() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if wait_s > 0 and camera.subscribers() == 0:
        print(f'hpm camera: no subscriber after {wait_s:g} s; publishing anyway',
              file=sys.stderr)


def stream(camera: CameraPublisher, frames: Iterator[np.ndarray], rate_hz: float,
           size: Optional[Tuple[int, int]], max_frames: Optional[int], paced: bool) -> float:
    """Publish ``frames`` at ``rate_hz``; returns the achieved rate (Hz).

    paced: sleep until each frame is due (files); else skip frames that come early (a
    device delivering faster than ``rate_hz``). A late frame moves the schedule on, so a
    slow source never bursts.
    """
    period = 1.0 / rate_hz
    due = time.perf_counter()
    published = []
    for rgb in frames:
        now = time.perf_counter()
        if paced and due > now:
            time.sleep(due - now)
        elif not paced and due - now > 0.25 * period:
            continue
        published.append(time.perf_counter())
        camera.publish(resize(rgb, size))
        due = max(due + period, time.perf_counter() - period)
        if max_frames is not None and camera.counts['frames'] >= max_frames:
            break
    if len(published) < 2:
        return 0.0
    return (len(published) - 1) / (published[-1] - published[0])


def add_parser(commands) -> None:
    """Register `hpm camera`."""
    parser = commands.add_parser(
        'camera', help='publish a webcam or a video file as a ROS camera: image_raw, '
        'image_raw/compressed, camera_info')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--device', type=int, metavar='N', help='V4L2 camera /dev/videoN')
    source.add_argument('--video', metavar='FILE', help='video file (any FFmpeg format)')
    parser.add_argument('--rate', type=float,
                        help="frames per second (default: the video's or the device's)")
    parser.add_argument('--size', metavar='WxH', help='publish at this size, e.g. 1280x720')
    parser.add_argument('--compressed', nargs='?', const='jpeg', choices=CODECS,
                        help='also publish image_raw/compressed (codec; default jpeg)')
    parser.add_argument('--jpeg-quality', type=int, default=90, help='1..100')
    parser.add_argument('--camera-info', metavar='CALIB_YAML',
                        help='camera_calibration_parsers YAML (default: nominal calibration)')
    parser.add_argument('--reliable', action='store_true',
                        help='reliable QoS (default: best effort, sensor data)')
    parser.add_argument('--namespace', default=DEFAULT_NAMESPACE)
    parser.add_argument('--frame-id', default='camera_optical_frame')
    parser.add_argument('--loop', action='store_true', help='restart the video at its end')
    parser.add_argument('--frames', type=int, help='stop after this many frames')
    parser.add_argument('--wait', type=float, default=0.0,
                        help='seconds to wait for a subscriber of the images before starting')
    add_profile_argument(parser)


def run(args) -> int:
    """Entry point of `hpm camera`."""
    from hpm_ros.ros.transport import apply_profile, describe

    size = parse_size(args.size)
    if args.rate is not None and not args.rate > 0:
        raise ValueError(f'--rate must be positive, got {args.rate}')
    if not 1 <= args.jpeg_quality <= 100:
        raise ValueError(f'--jpeg-quality must be in [1, 100], got {args.jpeg_quality}')
    if args.camera_info:
        load_calibration(args.camera_info)
    if args.video is not None:
        frames, source_rate = video_frames(args.video, args.loop)
    else:
        frames, source_rate = device_frames(args.device, size, args.rate)
    rate = args.rate or source_rate
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    profile = apply_profile(args.fastdds_profile)
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('hpm_camera', context=context)
    camera = CameraPublisher(node, args.namespace, args.frame_id, args.reliable,
                             args.compressed, args.jpeg_quality, args.camera_info)
    source = args.video or f'/dev/video{args.device}'
    print(f'hpm camera: {source} at {rate:g} Hz -> {camera.raw.topic_name}'
          f'{" (+ compressed " + args.compressed + ")" if args.compressed else ""}, '
          f'{"reliable" if args.reliable else "best effort"}; {describe(profile)}', flush=True)
    achieved, interrupted = 0.0, False
    try:
        _wait_for_subscribers(camera, args.wait)
        achieved = stream(camera, frames, rate, size, args.frames, args.video is not None)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    counts = ', '.join(f'{topic} {n}' for topic, n in camera.counts.items())
    print(f'hpm camera: published {counts} at {achieved:.1f} Hz'
          + (' (interrupted)' if interrupted else ''), flush=True)
    return 0
