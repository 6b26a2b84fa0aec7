"""Conversions between ROS 2 messages and the arrays of the ROS-free core.

Images are decoded with numpy alone (no cv_bridge): a strided view of ``msg.data``, then one
copy into RGB order (none for unpadded rgb8). Supported input encodings: rgb8, bgr8, rgba8,
bgra8, mono8 and mono16 (intensity, scaled to 8 bits as ``round(v * 255 / 65535)`` like
cv_bridge). Depth (16UC1, 32FC1), Bayer and YUV images raise :class:`ImageEncodingError` with
a hint.

The functions read messages by attribute only, so rosbags messages work as well as rclpy ones.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Tuple, Union

from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion, Vector3
import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from hpm_ros.errors import CalibrationError, ImageEncodingError
from hpm_ros.skeleton import bone_side, H36M17, LEFT_JOINTS, RIGHT_JOINTS

# encoding -> (bytes per channel, channels, source channel of output R, G, B)
_INPUT_LAYOUTS = {
    'rgb8': (1, 3, (0, 1, 2)),
    'bgr8': (1, 3, (2, 1, 0)),
    'rgba8': (1, 4, (0, 1, 2)),
    'bgra8': (1, 4, (2, 1, 0)),
    'mono8': (1, 1, (0, 0, 0)),
    'mono16': (2, 1, (0, 0, 0)),
}
SUPPORTED_INPUT_ENCODINGS = tuple(_INPUT_LAYOUTS)
SUPPORTED_OUTPUT_ENCODINGS = ('rgb8', 'bgr8', 'mono8')
_DEPTH_ENCODINGS = ('16UC1', '32FC1')
_YUV_ENCODINGS = ('yuv422', 'yuv422_yuy2', 'uyvy', 'yuyv', 'nv12', 'nv21', 'nv24')
# ITU-R BT.601 luma in 14-bit fixed point, the weights of OpenCV's RGB2GRAY (sum 2**14).
_LUMA_WEIGHTS = (4899, 9617, 1868)

JOINTS_MARKER_ID = 0
LEFT_BONES_MARKER_ID = 1
RIGHT_BONES_MARKER_ID = 2
CENTER_BONES_MARKER_ID = 3
SIDE_COLORS = {
    'left': (1.0, 0.0, 0.0),
    'right': (0.0, 1.0, 0.0),
    'center': (1.0, 0.85, 0.0),
}
_JOINT_SIDES = tuple(
    'left' if j in LEFT_JOINTS else 'right' if j in RIGHT_JOINTS else 'center'
    for j in range(H36M17.num_joints))
_BONE_MARKERS = tuple(
    (side, marker_id, tuple(bone for bone in H36M17.bones if bone_side(*bone) == side))
    for side, marker_id in (('left', LEFT_BONES_MARKER_ID), ('right', RIGHT_BONES_MARKER_ID),
                            ('center', CENTER_BONES_MARKER_ID)))

_DIAGNOSTIC_LEVELS = {'OK': 0, 'WARN': 1, 'ERROR': 2, 'STALE': 3}
_INT32_MAX = 2 ** 31 - 1


def _unsupported_encoding(encoding: str) -> ImageEncodingError:
    if encoding in _DEPTH_ENCODINGS:
        hint = 'it is a depth image; subscribe to the colour or mono image topic instead'
    elif encoding.startswith('bayer_'):
        hint = 'debayer it first (e.g. image_proc) or set the driver to rgb8/bgr8'
    elif encoding in _YUV_ENCODINGS:
        hint = 'convert it to rgb8/bgr8 first (e.g. image_proc) or change the driver format'
    else:
        hint = 'change the camera driver output or convert the image upstream'
    return ImageEncodingError(
        f'unsupported image encoding {encoding!r} ({hint}); supported: '
        f'{", ".join(SUPPORTED_INPUT_ENCODINGS)}')


def _byte_buffer(data) -> np.ndarray:
    """Flat uint8 view of a message's ``data`` (array.array, bytes, ndarray); lists are copied."""
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as error:
        raise ImageEncodingError(
            f'image data of type {type(data).__name__} is not a byte buffer') from error


def _copy_header(header) -> Header:
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=str(header.frame_id))


def _reorder(pixels: np.ndarray, order: Tuple[int, int, int]) -> np.ndarray:
    """C-contiguous ``[H, W, 3]`` copy taking output channel c from ``pixels[..., order[c]]``."""
    out = np.empty(pixels.shape[:2] + (3,), dtype=np.uint8)
    if pixels.shape[2] == 3 and order == (0, 1, 2):
        out[...] = pixels
    else:
        for target, source in enumerate(order):
            out[..., target] = pixels[..., source]
    return out


_BRIDGE_STATE = {}


def cv_bridge_converter():
    """The one module-wide ``cv_bridge.CvBridge`` when cv_bridge is importable, else None."""
    if 'bridge' not in _BRIDGE_STATE:
        try:
            from cv_bridge import CvBridge
        except ImportError:
            _BRIDGE_STATE['bridge'] = None
        else:
            _BRIDGE_STATE['bridge'] = CvBridge()
    return _BRIDGE_STATE['bridge']


def image_msg_to_rgb(msg, copy: bool = False) -> np.ndarray:
    """Decode a sensor_msgs/Image into ``[H, W, 3] uint8`` RGB, C-contiguous.

    The message is validated here; 8-bit encodings are then converted by cv_bridge when it is
    importable (a ROS install), else by the exact numpy conversion of this module.
    Honours ``step`` (padded rows) and, for mono16, ``is_bigendian``. With ``copy=False`` an
    unpadded rgb8 message is returned as a view of ``msg.data`` (no copy; writing to it writes
    into the message). ImageEncodingError for an unsupported encoding, zero size,
    ``step < width * bytes per pixel`` or ``len(data) != step * height``.
    """
    encoding = msg.encoding
    layout = _INPUT_LAYOUTS.get(encoding)
    if layout is None:
        raise _unsupported_encoding(encoding)
    depth, channels, order = layout
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageEncodingError(f'{encoding} image has zero size ({width}x{height})')
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageEncodingError(
            f'{encoding} image of width {width} needs step >= {row_bytes} bytes, got {step}')
    data = _byte_buffer(msg.data)
    if data.size != step * height:
        problem = 'truncated' if data.size < step * height else 'too long'
        raise ImageEncodingError(
            f'{encoding} image data {problem}: {width}x{height} with step {step} needs '
            f'{step * height} bytes, got {data.size}')
    if depth == 2:
        dtype = np.dtype('>u2' if msg.is_bigendian else '<u2')
        mono16 = np.ndarray((height, width), dtype=dtype, buffer=data, strides=(step, 2))
        wide = mono16.astype(np.uint32)
        wide += 128
        wide //= 257
        pixels = wide.astype(np.uint8)[..., None]
    elif isinstance(msg, Image) and cv_bridge_converter() is not None:
        return np.ascontiguousarray(
            cv_bridge_converter().imgmsg_to_cv2(msg, desired_encoding='rgb8'))
    else:
        pixels = np.ndarray((height, width, channels), dtype=np.uint8, buffer=data,
                            strides=(step, channels, 1))
        view_ok = encoding == 'rgb8' and step == row_bytes and pixels.flags.writeable
        if view_ok and not copy:
            return pixels
    return _reorder(pixels, order)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Compute BT.601 luma of ``[H, W, 3] uint8`` RGB as ``[H, W] uint8`` (as OpenCV RGB2GRAY)."""
    luma = rgb[..., 0].astype(np.uint32) * _LUMA_WEIGHTS[0]
    luma += rgb[..., 1].astype(np.uint32) * _LUMA_WEIGHTS[1]
    luma += rgb[..., 2].astype(np.uint32) * _LUMA_WEIGHTS[2]
    luma += 1 << 13
    luma >>= 14
    return luma.astype(np.uint8)


def rgb_to_image_msg(rgb: np.ndarray, header, encoding: str = 'rgb8') -> Image:
    """Encode ``[H, W, 3] uint8`` RGB as a sensor_msgs/Image in rgb8, bgr8 or mono8."""
    array = np.asarray(rgb)
    if array.dtype != np.uint8:
        raise TypeError(f'rgb must be uint8, got {array.dtype}')
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'rgb must have shape [H, W, 3] with H, W > 0, got {array.shape}')
    if encoding == 'rgb8':
        pixels = array
    elif encoding == 'bgr8':
        pixels = _reorder(array, (2, 1, 0))
    elif encoding == 'mono8':
        pixels = rgb_to_gray(array)
    else:
        raise ImageEncodingError(
            f'cannot write encoding {encoding!r}; supported: '
            f'{", ".join(SUPPORTED_OUTPUT_ENCODINGS)}')
    height, width = array.shape[:2]
    msg = Image(header=_copy_header(header), height=height, width=width, encoding=encoding,
                is_bigendian=0, step=width * (1 if pixels.ndim == 2 else 3))
    msg.data = pixels.tobytes()
    return msg


def _joints_array(joints_m, num_joints: Optional[int] = None) -> np.ndarray:
    joints = np.asarray(joints_m, dtype=np.float64)
    if joints.ndim != 2 or joints.shape[1] != 3:
        raise ValueError(f'joints must have shape [J, 3], got {joints.shape}')
    if num_joints is not None and joints.shape[0] != num_joints:
        raise ValueError(f'joints must have {num_joints} rows (H36M-17), got {joints.shape[0]}')
    if not np.isfinite(joints).all():
        raise ValueError('joints contain non-finite values')
    return joints


def pose_to_pose_array(joints_m: np.ndarray, header) -> PoseArray:
    """Build a PoseArray from ``[J, 3]`` joints (m, camera optical frame), identity orientations.

    Joint order is kept (H36M-17 for the node); frame_id and stamp come from ``header``.
    """
    joints = _joints_array(joints_m)
    return PoseArray(header=_copy_header(header), poses=[
        Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(w=1.0))
        for x, y, z in joints.tolist()])


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f'{name} must be a positive finite number, got {value}')
    return value


def _color(rgb: Tuple[float, float, float]) -> ColorRGBA:
    return ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)


def _marker(header, namespace: str, marker_id: int, marker_type: int, lifetime: Duration,
            scale: Vector3, color: ColorRGBA, points: list) -> Marker:
    return Marker(header=_copy_header(header), ns=namespace, id=marker_id, type=marker_type,
                  action=Marker.ADD, pose=Pose(orientation=Quaternion(w=1.0)), scale=scale,
                  color=color, lifetime=lifetime, points=points)


def pose_to_markers(joints_m: np.ndarray, header, lifetime_s: float, namespace: str = 'hpm',
                    marker_id_base: int = 0, joint_radius_m: float = 0.04,
                    bone_width_m: float = 0.02) -> MarkerArray:
    """Build skeleton markers for ``[17, 3]`` H36M-17 joints (m, in ``header.frame_id``).

    Ids are ``marker_id_base`` + 0 (SPHERE_LIST of joints, per-joint colours), 1 (left bones,
    red), 2 (right bones, green), 3 (centre bones, yellow); all LINE_LISTs. ``lifetime_s`` 0
    means forever.
    """
    joints = _joints_array(joints_m, H36M17.num_joints)
    diameter = 2.0 * _positive(joint_radius_m, 'joint_radius_m')
    width = _positive(bone_width_m, 'bone_width_m')
    lifetime = seconds_to_duration(lifetime_s)
    points = [Point(x=x, y=y, z=z) for x, y, z in joints.tolist()]
    markers = [_marker(header, namespace, marker_id_base + JOINTS_MARKER_ID, Marker.SPHERE_LIST,
                       lifetime, Vector3(x=diameter, y=diameter, z=diameter),
                       _color((1.0, 1.0, 1.0)), points)]
    markers[0].colors = [_color(SIDE_COLORS[side]) for side in _JOINT_SIDES]
    for side, marker_id, bones in _BONE_MARKERS:
        markers.append(_marker(
            header, namespace, marker_id_base + marker_id, Marker.LINE_LIST, lifetime,
            Vector3(x=width), _color(SIDE_COLORS[side]),
            [points[joint] for bone in bones for joint in bone]))
    return MarkerArray(markers=markers)


def delete_markers(header, namespace: str = 'hpm') -> MarkerArray:
    """Build a MarkerArray with one DELETEALL marker for ``namespace`` (clears the skeleton)."""
    return MarkerArray(markers=[Marker(header=_copy_header(header), ns=namespace,
                                       action=Marker.DELETEALL)])


def _diagnostic_level(level: Union[str, int, bytes]) -> bytes:
    if isinstance(level, bytes):
        level = level[0] if len(level) == 1 else -1
    elif isinstance(level, str):
        level = _DIAGNOSTIC_LEVELS.get(level.upper(), -1)
    if not isinstance(level, int) or not 0 <= level <= 3:
        raise ValueError(f'diagnostic level must be OK, WARN, ERROR, STALE or 0-3, got {level!r}')
    return bytes([level])


def _diagnostic_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return 'true' if value else 'false'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f'{float(value):.6g}'
    if isinstance(value, str):
        return value
    raise TypeError(f'diagnostic values must be float, int, bool or str, got {type(value)}')


def diagnostics_message(name: str, hardware_id: str, level: Union[str, int, bytes],
                        message: str, values: Mapping[str, object],
                        stamp: Union[Time, float]) -> DiagnosticArray:
    """Build a DiagnosticArray with one DiagnosticStatus stamped ``stamp`` (Time or seconds).

    ``level`` is 'OK', 'WARN', 'ERROR', 'STALE' (or 0-3, or a DiagnosticStatus constant);
    floats in ``values`` are written with 6 significant digits.
    """
    if isinstance(stamp, (int, float)):
        stamp = seconds_to_stamp(stamp)
    status = DiagnosticStatus(
        level=_diagnostic_level(level), name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=str(key), value=_diagnostic_value(value))
                for key, value in values.items()])
    header = Header(stamp=Time(sec=int(stamp.sec), nanosec=int(stamp.nanosec)))
    return DiagnosticArray(header=header, status=[status])


def _check_intrinsics(K: np.ndarray, source: str) -> np.ndarray:
    if K.shape != (3, 3):
        raise CalibrationError(f'{source}: intrinsics must be 3x3, got shape {K.shape}')
    if not np.isfinite(K).all():
        raise CalibrationError(f'{source}: intrinsics contain non-finite values: {K.tolist()}')
    if not (K[0, 0] > 0.0 and K[1, 1] > 0.0):
        raise CalibrationError(
            f'{source}: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}')
    if not np.allclose(K[2], (0.0, 0.0, 1.0)):
        raise CalibrationError(f'{source}: last row of K must be [0, 0, 1], got {K[2].tolist()}')
    return K


def camera_info_to_intrinsics(msg) -> Optional[np.ndarray]:
    """Return ``[3, 3] float64`` K of a CameraInfo (pixels); None if uncalibrated (fx = fy = 0).

    CalibrationError for non-finite entries, a non-positive focal length or a bad last row.
    Distortion is not applied: the pipeline assumes rectified (or nearly undistorted) images.
    """
    K = np.array(msg.k, dtype=np.float64)
    if K.size == 9 and K[0] == 0.0 and K[4] == 0.0:
        return None
    return _check_intrinsics(K.reshape(3, 3) if K.size == 9 else K, 'camera_info')


def intrinsics_to_camera_info(K: np.ndarray, width: int, height: int, header) -> CameraInfo:
    """Build a CameraInfo for ``[3, 3]`` K (pixels): plumb_bob, no distortion, P = [K | 0]."""
    K = _check_intrinsics(np.array(K, dtype=np.float64), 'K')
    for name, value in (('width', width), ('height', height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f'{name} must be an int, got {type(value).__name__}')
        if value <= 0:
            raise ValueError(f'{name} must be positive, got {value}')
    return CameraInfo(
        header=_copy_header(header), width=int(width), height=int(height),
        distortion_model='plumb_bob', d=[0.0] * 5, k=K.reshape(-1),
        r=np.eye(3).reshape(-1), p=np.hstack([K, np.zeros((3, 1))]).reshape(-1))


def roi_to_box(msg, image_w: int, image_h: int) -> Optional[Tuple[int, int, int, int]]:
    """Return a RegionOfInterest as a pixel box ``(x0, y0, w, h)`` clipped to the image.

    None when the ROI is unset (width or height 0) or lies outside the image.
    """
    if image_w <= 0 or image_h <= 0:
        raise ValueError(f'image size must be positive, got {image_w}x{image_h}')
    if msg.width == 0 or msg.height == 0:
        return None
    x0, y0 = int(msg.x_offset), int(msg.y_offset)
    if x0 >= image_w or y0 >= image_h:
        return None
    return (x0, y0, min(int(msg.width), image_w - x0), min(int(msg.height), image_h - y0))


def stamp_to_seconds(stamp) -> float:
    """Convert a builtin_interfaces Time (or Duration) to float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def _split_seconds(seconds: float, name: str) -> Tuple[int, int]:
    seconds = float(seconds)
    if not (math.isfinite(seconds) and 0.0 <= seconds <= _INT32_MAX):
        raise ValueError(f'{name} must be finite and in [0, 2**31 - 1] s, got {seconds}')
    whole = math.floor(seconds)
    nanosec = round((seconds - whole) * 1e9)
    if nanosec >= 1_000_000_000:
        whole, nanosec = whole + 1, nanosec - 1_000_000_000
    if whole > _INT32_MAX:
        raise ValueError(f'{name} {seconds} does not fit a ROS time')
    return whole, nanosec


def seconds_to_stamp(t: float) -> Time:
    """Convert ``t`` seconds (>= 0) to a builtin_interfaces Time, rounded to the nanosecond."""
    sec, nanosec = _split_seconds(t, 'time')
    return Time(sec=sec, nanosec=nanosec)


def seconds_to_duration(t: float) -> Duration:
    """Convert ``t`` seconds (>= 0) to a builtin_interfaces Duration, rounded to the ns."""
    sec, nanosec = _split_seconds(t, 'duration')
    return Duration(sec=sec, nanosec=nanosec)
