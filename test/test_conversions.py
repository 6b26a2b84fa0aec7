"""Tests of hpm_ros.ros.conversions: message types only, no node."""
import array
import sys
from types import SimpleNamespace

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from hpm_ros.errors import CalibrationError, HpmError, ImageEncodingError
from hpm_ros.ros import conversions as conv
from hpm_ros.skeleton import H36M17, LEFT_JOINTS, RIGHT_JOINTS

RED, GREEN = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)


def make_header(frame_id='camera_optical', sec=12, nanosec=345):
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def random_rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def raw_image(raw, encoding, padding=0, is_bigendian=0):
    """Image message from raw pixels ``[H, W, C]`` (bytes as laid out), rows padded."""
    height, width = raw.shape[:2]
    rows = raw.reshape(height, -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((height, padding), 0xAB, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=is_bigendian,
                step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


def rgb_tuple(color):
    return (color.r, color.g, color.b)


@pytest.mark.parametrize('encoding,order', [
    ('rgb8', [0, 1, 2]), ('bgr8', [2, 1, 0]), ('rgba8', [0, 1, 2]), ('bgra8', [2, 1, 0])])
@pytest.mark.parametrize('width', [1, 7, 32])
@pytest.mark.parametrize('padding', [0, 1, 5])
def test_colour_encodings_decode_to_rgb(encoding, order, width, padding):
    channels = 4 if encoding.endswith('a8') else 3
    raw = np.random.default_rng(width).integers(0, 256, (5, width, channels), dtype=np.uint8)
    rgb = conv.image_msg_to_rgb(raw_image(raw, encoding, padding))
    assert rgb.shape == (5, width, 3) and rgb.dtype == np.uint8
    assert rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, raw[..., order])


@pytest.mark.parametrize('padding', [0, 3])
def test_mono8_is_replicated(padding):
    gray = np.arange(3 * 5, dtype=np.uint8).reshape(3, 5, 1) * 17
    rgb = conv.image_msg_to_rgb(raw_image(gray, 'mono8', padding))
    np.testing.assert_array_equal(rgb, np.repeat(gray, 3, axis=2))


@pytest.mark.parametrize('is_bigendian', [0, 1])
@pytest.mark.parametrize('padding', [0, 1, 2])
def test_mono16_scales_like_cv_bridge(is_bigendian, padding):
    values = np.array([[0, 128, 129, 65535], [257, 32896, 385, 386]], dtype=np.uint16)
    expected = np.array([[0, 0, 1, 255], [1, 128, 1, 2]], dtype=np.uint8)  # round(v / 257)
    raw = values.astype('>u2' if is_bigendian else '<u2')[..., None]
    rgb = conv.image_msg_to_rgb(raw_image(raw, 'mono16', padding, is_bigendian))
    np.testing.assert_array_equal(rgb, np.repeat(expected[..., None], 3, axis=2))


def test_mono16_byte_order_is_honoured():
    msg = Image(height=1, width=1, encoding='mono16', step=2, data=b'\x01\x02')
    msg.is_bigendian = 1
    assert conv.image_msg_to_rgb(msg)[0, 0, 0] == 1  # 0x0102 = 258 -> round(258 / 257) = 1
    msg.is_bigendian = 0
    assert conv.image_msg_to_rgb(msg)[0, 0, 0] == 2  # 0x0201 = 513 -> round(513 / 257) = 2


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8'])
@pytest.mark.parametrize('shape', [(1, 1), (5, 7), (48, 33)])
def test_rgb_round_trip(encoding, shape):
    rgb = random_rgb(*shape)
    msg = conv.rgb_to_image_msg(rgb, make_header(), encoding)
    assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, shape[0], shape[1],
                                                               shape[1] * 3)
    assert len(msg.data) == msg.step * msg.height
    np.testing.assert_array_equal(conv.image_msg_to_rgb(msg), rgb)


def test_bgr8_message_bytes_are_reversed():
    rgb = np.array([[[10, 20, 30]]], dtype=np.uint8)
    assert bytes(conv.rgb_to_image_msg(rgb, make_header(), 'bgr8').data) == bytes([30, 20, 10])


def test_mono8_output_uses_bt601_and_round_trips_gray():
    pure = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    msg = conv.rgb_to_image_msg(pure, make_header(), 'mono8')
    assert msg.step == 4
    assert list(msg.data) == [76, 150, 29, 255]  # OpenCV RGB2GRAY values
    gray = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    back = conv.image_msg_to_rgb(conv.rgb_to_image_msg(gray, make_header(), 'mono8'))
    np.testing.assert_array_equal(back, gray)


def test_output_header_is_copied():
    header = make_header('cam', 7, 8)
    msg = conv.rgb_to_image_msg(random_rgb(2, 2), header)
    header.frame_id = 'changed'
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ('cam', 7, 8)


def test_unpadded_rgb8_is_a_view_unless_copy():
    msg = conv.rgb_to_image_msg(random_rgb(4, 6), make_header())
    assert isinstance(msg.data, array.array)
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    assert np.shares_memory(conv.image_msg_to_rgb(msg), buffer)
    assert not np.shares_memory(conv.image_msg_to_rgb(msg, copy=True), buffer)


def test_deserialized_message_decodes():
    rgb = random_rgb(9, 11)
    wire = serialize_message(conv.rgb_to_image_msg(rgb, make_header(), 'bgr8'))
    msg = deserialize_message(wire, Image)
    np.testing.assert_array_equal(conv.image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize('as_data', [bytes, list, lambda b: np.frombuffer(b, np.uint8)])
def test_duck_typed_messages_decode_writable(as_data):
    rgb = random_rgb(3, 4)
    msg = SimpleNamespace(height=3, width=4, step=12, encoding='rgb8', is_bigendian=0,
                          data=as_data(rgb.tobytes()))
    out = conv.image_msg_to_rgb(msg)
    np.testing.assert_array_equal(out, rgb)
    assert out.flags.writeable


def test_truncated_and_oversized_data_raise():
    msg = conv.rgb_to_image_msg(random_rgb(4, 5), make_header())
    full = bytes(msg.data)
    msg.data = full[:-1]
    with pytest.raises(ImageEncodingError, match='truncated'):
        conv.image_msg_to_rgb(msg)
    msg.data = full + b'\x00'
    with pytest.raises(ImageEncodingError, match='too long'):
        conv.image_msg_to_rgb(msg)
    msg.data = b''
    with pytest.raises(ImageEncodingError, match='truncated'):
        conv.image_msg_to_rgb(msg)


def test_step_shorter_than_row_raises():
    msg = Image(height=2, width=4, encoding='bgr8', step=11, data=bytes(22))
    with pytest.raises(ImageEncodingError, match='step'):
        conv.image_msg_to_rgb(msg)


def test_zero_size_raises():
    with pytest.raises(ImageEncodingError, match='zero size'):
        conv.image_msg_to_rgb(Image(height=0, width=4, encoding='rgb8', step=12))


@pytest.mark.parametrize('encoding,hint', [
    ('32FC1', 'depth'), ('16UC1', 'depth'), ('bayer_rggb8', 'debayer'), ('yuv422', 'convert'),
    ('8UC3', 'supported'), ('', 'supported')])
def test_unsupported_encodings_raise(encoding, hint):
    msg = Image(height=2, width=2, encoding=encoding, step=8, data=bytes(16))
    with pytest.raises(ImageEncodingError, match=hint) as info:
        conv.image_msg_to_rgb(msg)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HpmError)


def test_rgb_to_image_msg_rejects_bad_input():
    with pytest.raises(TypeError):
        conv.rgb_to_image_msg(np.zeros((2, 2, 3), np.float32), make_header())
    with pytest.raises(ValueError):
        conv.rgb_to_image_msg(np.zeros((2, 2), np.uint8), make_header())
    with pytest.raises(ImageEncodingError):
        conv.rgb_to_image_msg(np.zeros((2, 2, 3), np.uint8), make_header(), 'rgba8')


def skeleton_m(seed=0):
    return np.random.default_rng(seed).normal(0.0, 0.3, (17, 3)) + (0.0, 0.0, 3.0)


def test_pose_array_positions_frame_and_order():
    joints = skeleton_m()
    msg = conv.pose_to_pose_array(joints, make_header('cam_optical', 5, 6))
    assert msg.header.frame_id == 'cam_optical'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 6)
    positions = [(p.position.x, p.position.y, p.position.z) for p in msg.poses]
    np.testing.assert_array_equal(np.array(positions), joints)
    assert all((p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)
               == (0.0, 0.0, 0.0, 1.0) for p in msg.poses)


def test_pose_array_rejects_bad_joints():
    with pytest.raises(ValueError):
        conv.pose_to_pose_array(np.zeros((17, 2)), make_header())
    bad = skeleton_m()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match='non-finite'):
        conv.pose_to_pose_array(bad, make_header())


def test_markers_ids_types_and_lifetime():
    msg = conv.pose_to_markers(skeleton_m(), make_header('cam'), lifetime_s=0.25,
                               namespace='person', marker_id_base=10)
    markers = msg.markers
    assert [m.id for m in markers] == [10, 11, 12, 13]
    assert [m.type for m in markers] == [Marker.SPHERE_LIST] + [Marker.LINE_LIST] * 3
    for marker in markers:
        assert marker.ns == 'person' and marker.header.frame_id == 'cam'
        assert marker.action == Marker.ADD and marker.pose.orientation.w == 1.0
        assert (marker.lifetime.sec, marker.lifetime.nanosec) == (0, 250_000_000)
        assert marker.color.a == 1.0
    assert (markers[0].scale.x, markers[0].scale.y, markers[0].scale.z) == (0.08, 0.08, 0.08)
    assert markers[1].scale.x == 0.02
    again = conv.pose_to_markers(skeleton_m(1), make_header('cam'), 0.25, 'person', 10)
    assert [m.id for m in again.markers] == [10, 11, 12, 13]


def test_marker_points_and_colours_by_side():
    joints = skeleton_m()
    joint_marker, left, right, center = conv.pose_to_markers(joints, make_header(), 0.1).markers
    points = np.array([(p.x, p.y, p.z) for p in joint_marker.points])
    np.testing.assert_array_equal(points, joints)
    colours = [rgb_tuple(c) for c in joint_marker.colors]
    assert len(colours) == 17
    assert all(colours[j] == RED for j in LEFT_JOINTS)
    assert all(colours[j] == GREEN for j in RIGHT_JOINTS)
    assert colours[H36M17.index('Head')] not in (RED, GREEN)
    assert rgb_tuple(left.color) == RED and rgb_tuple(right.color) == GREEN
    assert rgb_tuple(center.color) not in (RED, GREEN)
    assert (len(left.points), len(right.points), len(center.points)) == (12, 12, 8)
    lhip, lknee = H36M17.index('LHip'), H36M17.index('LKnee')
    first_left = [(p.x, p.y, p.z) for p in left.points[2:4]]
    np.testing.assert_array_equal(first_left, joints[[lhip, lknee]])
    for marker, side in ((left, LEFT_JOINTS), (right, RIGHT_JOINTS)):
        children = [np.flatnonzero((joints == (p.x, p.y, p.z)).all(axis=1))[0]
                    for p in marker.points[1::2]]
        assert sorted(children) == sorted(side)


def test_markers_reject_bad_arguments():
    with pytest.raises(ValueError):
        conv.pose_to_markers(np.zeros((16, 3)), make_header(), 0.1)
    with pytest.raises(ValueError):
        conv.pose_to_markers(skeleton_m(), make_header(), -1.0)
    with pytest.raises(ValueError):
        conv.pose_to_markers(skeleton_m(), make_header(), 0.1, joint_radius_m=0.0)


def test_delete_markers():
    markers = conv.delete_markers(make_header('cam'), namespace='person').markers
    assert len(markers) == 1
    assert markers[0].action == Marker.DELETEALL
    assert (markers[0].ns, markers[0].header.frame_id) == ('person', 'cam')


def test_diagnostics_message():
    values = {'fps': 29.97123, 'dropped': np.int64(3), 'backend': 'onnxruntime', 'lost': False}
    msg = conv.diagnostics_message('hpm: pose', 'cam0', 'WARN', 'slow', values, 12.5)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 500_000_000)
    (status,) = msg.status
    assert status.level == DiagnosticStatus.WARN
    assert (status.name, status.hardware_id, status.message) == ('hpm: pose', 'cam0', 'slow')
    assert {kv.key: kv.value for kv in status.values} == {
        'fps': '29.9712', 'dropped': '3', 'backend': 'onnxruntime', 'lost': 'false'}
    stamped = conv.diagnostics_message('n', 'h', DiagnosticStatus.ERROR, '', {}, Time(sec=4))
    assert stamped.status[0].level == DiagnosticStatus.ERROR and stamped.header.stamp.sec == 4
    assert conv.diagnostics_message('n', 'h', 0, '', {}, 1.0).status[0].level == b'\x00'


def test_diagnostics_message_rejects_bad_level_and_value():
    with pytest.raises(ValueError):
        conv.diagnostics_message('n', 'h', 'FINE', '', {}, 1.0)
    with pytest.raises(ValueError):
        conv.diagnostics_message('n', 'h', 4, '', {}, 1.0)
    with pytest.raises(TypeError):
        conv.diagnostics_message('n', 'h', 'OK', '', {'bad': [1, 2]}, 1.0)


K_EXAMPLE = np.array([[500.0, 0.0, 320.5], [0.0, 510.0, 240.25], [0.0, 0.0, 1.0]])


def test_intrinsics_camera_info_round_trip():
    info = conv.intrinsics_to_camera_info(K_EXAMPLE, 640, 480, make_header('cam'))
    assert (info.width, info.height, info.header.frame_id) == (640, 480, 'cam')
    assert info.distortion_model == 'plumb_bob' and list(info.d) == [0.0] * 5
    np.testing.assert_array_equal(np.reshape(info.r, (3, 3)), np.eye(3))
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4)),
                                  np.hstack([K_EXAMPLE, np.zeros((3, 1))]))
    K = conv.camera_info_to_intrinsics(info)
    assert K.dtype == np.float64
    np.testing.assert_array_equal(K, K_EXAMPLE)


def camera_info_with_k(k):
    info = CameraInfo()
    info.k = np.asarray(k, dtype=np.float64).reshape(-1)
    return info


def test_uncalibrated_camera_info_gives_none():
    assert conv.camera_info_to_intrinsics(CameraInfo()) is None
    assert conv.camera_info_to_intrinsics(camera_info_with_k(np.diag([0.0, 0.0, 1.0]))) is None


@pytest.mark.parametrize('row,col,value,match', [
    (0, 2, np.nan, 'non-finite'), (1, 1, np.inf, 'non-finite'), (0, 0, 0.0, 'fx=0.0'),
    (1, 1, -510.0, 'fy=-510.0'), (2, 2, 0.0, 'last row')])
def test_invalid_camera_info_raises(row, col, value, match):
    K = K_EXAMPLE.copy()
    K[row, col] = value
    with pytest.raises(CalibrationError, match=match):
        conv.camera_info_to_intrinsics(camera_info_with_k(K))


def test_intrinsics_to_camera_info_rejects_bad_arguments():
    K = K_EXAMPLE.copy()
    K[0, 0] = 0.0
    with pytest.raises(ValueError):
        conv.intrinsics_to_camera_info(K, 640, 480, make_header())
    with pytest.raises(CalibrationError):
        conv.intrinsics_to_camera_info(np.eye(4), 640, 480, make_header())
    with pytest.raises(ValueError):
        conv.intrinsics_to_camera_info(K_EXAMPLE, 0, 480, make_header())
    with pytest.raises(TypeError):
        conv.intrinsics_to_camera_info(K_EXAMPLE, 640.0, 480, make_header())


@pytest.mark.parametrize('roi,box', [
    ((0, 0, 0, 0), None), ((10, 20, 0, 5), None), ((10, 20, 30, 40), (10, 20, 30, 40)),
    ((600, 450, 100, 100), (600, 450, 40, 30)), ((640, 10, 5, 5), None), ((5, 480, 5, 5), None)])
def test_roi_to_box(roi, box):
    x, y, width, height = roi
    msg = RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)
    assert conv.roi_to_box(msg, 640, 480) == box


@pytest.mark.parametrize('seconds,sec,nanosec', [
    (0.0, 0, 0), (1.5, 1, 500_000_000), (12.000000001, 12, 1), (0.9999999999, 1, 0),
    (1_700_000_000.25, 1_700_000_000, 250_000_000)])
def test_seconds_to_stamp(seconds, sec, nanosec):
    stamp = conv.seconds_to_stamp(seconds)
    assert (stamp.sec, stamp.nanosec) == (sec, nanosec)
    assert conv.stamp_to_seconds(stamp) == pytest.approx(seconds, abs=1e-9, rel=1e-15)


@pytest.mark.parametrize('seconds', [-0.5, float('nan'), float('inf'), 2.0 ** 31])
def test_seconds_to_stamp_rejects_out_of_range(seconds):
    with pytest.raises(ValueError):
        conv.seconds_to_stamp(seconds)


def test_stamp_to_seconds():
    assert conv.stamp_to_seconds(Time(sec=3, nanosec=250_000_000)) == 3.25


def test_cv_bridge_is_used_when_importable(monkeypatch):
    calls = []

    class FakeBridge:
        def imgmsg_to_cv2(self, msg, desired_encoding):
            calls.append((msg.encoding, desired_encoding))
            return np.zeros((msg.height, msg.width, 3), np.uint8)

    monkeypatch.setitem(sys.modules, 'cv_bridge', SimpleNamespace(CvBridge=FakeBridge))
    monkeypatch.setattr(conv, '_BRIDGE_STATE', {})
    rgb = np.full((2, 3, 3), 7, np.uint8)
    message = conv.rgb_to_image_msg(rgb, Header(), encoding='bgr8')
    assert conv.image_msg_to_rgb(message).shape == (2, 3, 3)
    assert calls == [('bgr8', 'rgb8')]
    message.data = message.data[:-1]
    with pytest.raises(ImageEncodingError, match='truncated'):
        conv.image_msg_to_rgb(message)
    assert len(calls) == 1, 'validated before cv_bridge sees it'
