"""ROS-free rosbag2 I/O with ``rosbags``: typed errors, message builders and decoders.

Messages are rosbags dataclasses of the ROS 2 Kilted typestore; their CDR serialisation is
byte-identical to rclpy's. Bags are rosbag2 version 9 in sqlite3 or MCAP storage, optionally
zstd-compressed per message or per file.
"""
from __future__ import annotations

import sqlite3
import struct
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from hpm_ros.errors import BagError, ImageEncodingError
from hpm_ros.skeleton import H36M17, bone_side

STORAGES = ('sqlite3', 'mcap')
COMPRESSIONS = ('none', 'message', 'file')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
POSE_ARRAY_TYPE = 'geometry_msgs/msg/PoseArray'
MARKER_ARRAY_TYPE = 'visualization_msgs/msg/MarkerArray'
DIAGNOSTICS_TYPE = 'diagnostic_msgs/msg/DiagnosticArray'
# encoding -> (channels, source channel of output R, G, B)
_LAYOUTS = {'rgb8': (3, (0, 1, 2)), 'bgr8': (3, (2, 1, 0)), 'rgba8': (4, (0, 1, 2)),
            'bgra8': (4, (2, 1, 0)), 'mono8': (1, (0, 0, 0))}
_SIDE_COLORS = {'left': (1.0, 0.0, 0.0), 'right': (0.0, 1.0, 0.0), 'center': (1.0, 0.85, 0.0)}
# What rosbags and its storage back ends raise on a truncated or corrupt file.
READ_ERRORS = (sqlite3.Error, OSError, EOFError, struct.error, ValueError, KeyError,
               IndexError, AssertionError)


@lru_cache(maxsize=1)
def typestore():
    """The ROS 2 Kilted typestore of rosbags (message classes and CDR (de)serialisers)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _reader_error():
    from rosbags.rosbag2 import ReaderError

    return ReaderError


def header(stamp_ns: int, frame_id: str):
    """A std_msgs/Header of ``stamp_ns`` nanoseconds."""
    types = typestore().types
    stamp = types['builtin_interfaces/msg/Time'](sec=int(stamp_ns // 1_000_000_000),
                                                 nanosec=int(stamp_ns % 1_000_000_000))
    return types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)


def stamp_ns(stamp) -> int:
    """Nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_message(rgb: np.ndarray, stamp: int, frame_id: str):
    """sensor_msgs/Image rgb8 of ``rgb`` [H, W, 3] uint8, unpadded rows."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageEncodingError(f'image must be [H, W, 3] uint8, got {rgb.dtype} {rgb.shape}')
    height, width = rgb.shape[:2]
    return typestore().types[IMAGE_TYPE](
        header=header(stamp, frame_id), height=height, width=width, encoding='rgb8',
        is_bigendian=0, step=width * 3, data=np.ascontiguousarray(rgb).reshape(-1))


def image_to_rgb(msg) -> np.ndarray:
    """[H, W, 3] uint8 RGB copy of an Image (rgb8, bgr8, rgba8, bgra8, mono8; row padding ok).

    ImageEncodingError for another encoding or a size that does not match the data."""
    layout = _LAYOUTS.get(msg.encoding)
    if layout is None:
        raise ImageEncodingError(f'unsupported image encoding {msg.encoding!r}; supported: '
                                 f'{", ".join(_LAYOUTS)}')
    channels, order = layout
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if height == 0 or width == 0 or step < width * channels or data.size != step * height:
        raise ImageEncodingError(f'{msg.encoding} image {width}x{height} step {step} does not '
                                 f'match its {data.size} data bytes')
    rows = data.reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    return np.ascontiguousarray(rows[..., list(order)])


def compressed_image_message(rgb: np.ndarray, stamp: int, frame_id: str, codec: str = 'jpeg',
                             quality: int = 90):
    """Return a sensor_msgs/CompressedImage of ``rgb`` [H, W, 3] uint8 (image_transport format)."""
    from hpm_ros.image_codec import encode_compressed

    data, text = encode_compressed(rgb, codec, quality)
    return typestore().types[COMPRESSED_IMAGE_TYPE](
        header=header(stamp, frame_id), format=text, data=np.frombuffer(data, np.uint8))


def message_to_rgb(msg, msgtype: str) -> np.ndarray:
    """Return [H, W, 3] uint8 RGB of an Image or CompressedImage (ImageEncodingError if bad)."""
    if msgtype == COMPRESSED_IMAGE_TYPE:
        from hpm_ros.image_codec import compressed_msg_to_rgb

        return compressed_msg_to_rgb(msg)
    return image_to_rgb(msg)


def camera_info_message(intrinsics: np.ndarray, width: int, height: int, stamp: int,
                        frame_id: str):
    """sensor_msgs/CameraInfo of [3, 3] K (pixels): plumb_bob, no distortion, P = [K | 0]."""
    types = typestore().types
    K = np.asarray(intrinsics, dtype=np.float64).reshape(3, 3)
    projection = np.concatenate([K, np.zeros((3, 1))], axis=1)
    roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                    do_rectify=False)
    return types[CAMERA_INFO_TYPE](
        header=header(stamp, frame_id), height=int(height), width=int(width),
        distortion_model='plumb_bob', d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
        p=projection.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def camera_info_to_intrinsics(msg):
    """[3, 3] float64 K of a CameraInfo, or None when uncalibrated or unusable."""
    K = np.asarray(msg.k, dtype=np.float64)
    if K.size != 9 or not np.isfinite(K).all() or K[0] <= 0.0 or K[4] <= 0.0:
        return None
    return K.reshape(3, 3)


def _point(xyz):
    return typestore().types['geometry_msgs/msg/Point'](x=float(xyz[0]), y=float(xyz[1]),
                                                        z=float(xyz[2]))


def pose_array_message(joints_m, stamp: int, frame_id: str):
    """geometry_msgs/PoseArray of joints [K, 3] metres (identity orientations); None -> empty."""
    types = typestore().types
    identity = types['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0)
    poses = [] if joints_m is None else [
        types['geometry_msgs/msg/Pose'](position=_point(joint), orientation=identity)
        for joint in np.asarray(joints_m, dtype=np.float64)]
    return types[POSE_ARRAY_TYPE](header=header(stamp, frame_id), poses=poses)


def pose_array_to_joints(msg):
    """[K, 3] float64 metres of a PoseArray, or None when it is empty (no person)."""
    if not msg.poses:
        return None
    return np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])


def markers_message(joints_m, stamp: int, frame_id: str, namespace: str = 'hpm',
                    bodies: list = None):
    """visualization_msgs/MarkerArray: joint spheres and bones coloured by side (left red,
    right green); a DELETEALL marker when ``joints_m`` is None. With ``bodies`` [(tracking
    ID, joints [17, 3] m)] (``joints_m`` unused): a DELETEALL, then per body the same markers
    with ids ID*100 + 0..3, joints and centre bones in the ID's colour (as the node's
    :func:`hpm_ros.ros.humans.body_markers`, without the text label)."""
    types = typestore().types
    marker_type = types['visualization_msgs/msg/Marker']
    vector = types['geometry_msgs/msg/Vector3']
    color = types['std_msgs/msg/ColorRGBA']
    pose = types['geometry_msgs/msg/Pose'](
        position=_point((0, 0, 0)),
        orientation=types['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
    image = types['sensor_msgs/msg/CompressedImage'](header=header(0, ''), format='',
                                                     data=np.zeros(0, np.uint8))
    mesh = types['visualization_msgs/msg/MeshFile'](filename='', data=np.zeros(0, np.uint8))

    def marker(marker_id, kind, action, scale, rgb, points):
        return marker_type(
            header=header(stamp, frame_id), ns=namespace, id=marker_id, type=kind, action=action,
            pose=pose, scale=vector(x=scale, y=scale, z=scale),
            color=color(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0),
            lifetime=types['builtin_interfaces/msg/Duration'](sec=0, nanosec=0),
            frame_locked=False, points=points, colors=[], texture_resource='', texture=image,
            uv_coordinates=[], text='', mesh_resource='', mesh_file=mesh,
            mesh_use_embedded_materials=False)

    def skeleton(joints, base, joint_rgb, centre_rgb):
        joints = np.asarray(joints, dtype=np.float64)
        out = [marker(base, marker_type.SPHERE_LIST, marker_type.ADD, 0.05, joint_rgb,
                      [_point(j) for j in joints])]
        for marker_id, side in enumerate(('left', 'right', 'center'), start=1):
            points = [_point(joints[j]) for bone in H36M17.bones
                      if bone_side(*bone) == side for j in bone]
            rgb = centre_rgb if side == 'center' else _SIDE_COLORS[side]
            out.append(marker(base + marker_id, marker_type.LINE_LIST, marker_type.ADD, 0.02,
                              rgb, points))
        return out

    delete = marker(0, marker_type.SPHERE_LIST, marker_type.DELETEALL, 0.0, (0.0, 0.0, 0.0), [])
    if bodies is not None:
        from hpm_ros.render import track_colour

        markers = [delete]
        for track_id, joints in bodies:
            colour = track_colour(track_id)
            markers += skeleton(joints, max(track_id, 0) * 100, colour, colour)
    elif joints_m is None:
        markers = [delete]
    else:
        markers = skeleton(joints_m, 0, (1.0, 1.0, 1.0), _SIDE_COLORS['center'])
    return types[MARKER_ARRAY_TYPE](markers=markers)


def diagnostics_message(name: str, level: int, text: str, values: dict, stamp: int):
    """diagnostic_msgs/DiagnosticArray with one status of ``values`` (formatted as text)."""
    types = typestore().types
    items = [types['diagnostic_msgs/msg/KeyValue'](
        key=key, value=f'{value:.3f}' if isinstance(value, float) else str(value))
        for key, value in values.items()]
    status = types['diagnostic_msgs/msg/DiagnosticStatus'](
        level=int(level), name=name, message=text, hardware_id='hpm_bag_eval', values=items)
    return types[DIAGNOSTICS_TYPE](header=header(stamp, ''), status=[status])


class BagWriter:
    """A new rosbag2 at ``path``; ``write(topic, stamp_ns, message)`` adds topics on first use.

    storage 'sqlite3' or 'mcap'; compression 'none', 'message' or 'file' (zstd)."""

    def __init__(self, path, storage: str = 'sqlite3', compression: str = 'none') -> None:
        from rosbags.rosbag2 import Writer, WriterError
        from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

        if storage not in STORAGES:
            raise ValueError(f'storage must be one of {STORAGES}, got {storage!r}')
        if compression not in COMPRESSIONS:
            raise ValueError(f'compression must be one of {COMPRESSIONS}, got {compression!r}')
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f'{self.path} exists already; choose a new output path')
        plugin = StoragePlugin.SQLITE3 if storage == 'sqlite3' else StoragePlugin.MCAP
        try:
            self.writer = Writer(self.path, version=9, storage_plugin=plugin)
            if compression != 'none':
                mode = (CompressionMode.MESSAGE if compression == 'message'
                        else CompressionMode.FILE)
                self.writer.set_compression(mode, CompressionFormat.ZSTD)
            self.writer.open()
        except (WriterError, OSError) as error:
            raise BagError(f'cannot create bag {self.path}: {error}') from error
        self.connections = {}
        self.counts = {}

    def connection(self, topic: str, msgtype: str, msgdef: str = None, rihs01: str = None):
        """The connection of ``topic``, added on first use (typestore or given definition)."""
        if topic not in self.connections:
            if msgdef is not None and rihs01 is not None:
                self.connections[topic] = self.writer.add_connection(
                    topic, msgtype, msgdef=msgdef, rihs01=rihs01)
            else:
                self.connections[topic] = self.writer.add_connection(
                    topic, msgtype, typestore=typestore())
            self.counts[topic] = 0
        return self.connections[topic]

    def write(self, topic: str, stamp: int, message) -> None:
        """Serialise ``message`` (a rosbags dataclass) to CDR and store it at ``stamp`` ns."""
        data = typestore().serialize_cdr(message, message.__msgtype__)
        self.write_raw(topic, message.__msgtype__, stamp, data)

    def write_raw(self, topic: str, msgtype: str, stamp: int, data, msgdef: str = None,
                  rihs01: str = None) -> None:
        """Store CDR bytes ``data`` of ``msgtype`` on ``topic`` at ``stamp`` ns."""
        self.writer.write(self.connection(topic, msgtype, msgdef, rihs01), int(stamp), data)
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self.writer.close()

    def abort(self) -> None:
        """Close without caring about the content (used before deleting a partial bag)."""
        try:
            self.writer.close()
        except (OSError, sqlite3.Error, ValueError):
            pass

    def __enter__(self) -> 'BagWriter':
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class BagReader:
    """An existing rosbag2 (folder, .db3 or .mcap); every read error becomes a BagError."""

    def __init__(self, path) -> None:
        from rosbags.rosbag2 import Reader

        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'bag {self.path} does not exist')
        try:
            self.reader = Reader(self.path)
            self.reader.open()
        except (_reader_error(),) + READ_ERRORS as error:
            raise BagError(f'cannot open bag {self.path}: {error} (truncated or corrupt?)'
                           ) from error

    @property
    def topics(self) -> dict:
        """{topic: message type}."""
        return {c.topic: c.msgtype for c in self.reader.connections}

    @property
    def connections(self) -> list:
        """The rosbags connections (topic, msgtype, msgdef, digest)."""
        return list(self.reader.connections)

    def count(self, topic: str) -> int:
        """Number of messages on ``topic`` as the metadata states it."""
        return sum(c.msgcount for c in self.reader.connections if c.topic == topic)

    def messages(self, topics=None) -> Iterator[tuple]:
        """(connection, receive stamp ns, CDR bytes) in storage order, optionally of ``topics``."""
        chosen = [c for c in self.reader.connections if topics is None or c.topic in topics]
        if not chosen:
            return
        try:
            yield from self.reader.messages(connections=chosen)
        except (_reader_error(),) + READ_ERRORS as error:
            raise BagError(f'bag {self.path} is truncated or corrupt: {error}') from error

    def close(self) -> None:
        """Close the storage."""
        try:
            self.reader.close()
        except (_reader_error(),) + READ_ERRORS:
            pass

    def __enter__(self) -> 'BagReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def deserialize(data, msgtype: str):
    """A rosbags message from CDR bytes; ValueError when the bytes do not decode."""
    from rosbags.serde import SerdeError

    try:
        return typestore().deserialize_cdr(data, msgtype)
    except (SerdeError, ValueError, struct.error, IndexError, UnicodeDecodeError,
            AssertionError) as error:
        raise ValueError(f'cannot decode a {msgtype} message: {error}') from error
