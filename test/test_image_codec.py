"""CompressedImage decoding as image_transport's compressed plugin writes it (no ROS graph)."""
import cv2
import numpy as np
import pytest

from hpm_ros.errors import ImageEncodingError
from hpm_ros.image_codec import (compressed_msg_to_rgb, decode_compressed, encode_compressed,
                                 parse_format)


def colour_bars(height=48, width=64) -> np.ndarray:
    """Four vertical bars, RGB: red, green, blue, white (large flat areas survive JPEG)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    for index, colour in enumerate(colours):
        rgb[:, index * width // 4:(index + 1) * width // 4] = colour
    return rgb


def centres(rgb: np.ndarray) -> list:
    width = rgb.shape[1]
    return [tuple(int(v) for v in rgb[rgb.shape[0] // 2, (2 * i + 1) * width // 8])
            for i in range(4)]


@pytest.mark.parametrize('text, expected', [
    ('rgb8; jpeg compressed bgr8', ('rgb8', 'jpeg', 'bgr8')),
    ('bgr8; png compressed bgr8', ('bgr8', 'png', 'bgr8')),
    ('mono8; jpeg compressed mono8', ('mono8', 'jpeg', 'mono8')),
    ('rgb8; png compressed rgb8', ('rgb8', 'png', 'rgb8')),
    ('jpeg', (None, 'jpeg', None)),
    ('PNG', (None, 'png', None)),
    ('', (None, None, None)),
])
def test_format_strings_of_image_transport_and_older_publishers(text, expected):
    parsed = parse_format(text)
    assert (parsed.encoding, parsed.codec, parsed.compressed_encoding) == expected
    assert parsed.rgb_order == (expected[2] == 'rgb8')


def test_compressed_depth_is_refused_with_a_hint():
    with pytest.raises(ImageEncodingError, match='compressedDepth'):
        parse_format('16UC1; compressedDepth png')


def test_jpeg_as_the_cpp_plugin_writes_it_decodes_to_true_colours():
    """The C++ plugin hands a bgr8 cv::Mat to imencode: the file holds true colours."""
    rgb = colour_bars()
    ok, data = cv2.imencode('.jpg', rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    for text in ('rgb8; jpeg compressed bgr8', 'bgr8; jpeg compressed bgr8', 'jpeg'):
        decoded = decode_compressed(data.tobytes(), text)
        assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
        assert decoded.flags.c_contiguous
        np.testing.assert_allclose(centres(decoded), centres(rgb), atol=8)


def test_an_rgb_tagged_stream_is_not_swapped():
    rgb = colour_bars()
    ok, data = cv2.imencode('.png', rgb)  # an encoder given RGB, tagged so
    assert ok
    decoded = decode_compressed(data, 'rgb8; png compressed rgb8')
    np.testing.assert_array_equal(decoded, rgb)


def test_png_round_trip_is_exact_and_jpeg_is_close():
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    data, text = encode_compressed(rgb, 'png')
    assert text == 'rgb8; png compressed bgr8'
    np.testing.assert_array_equal(decode_compressed(data, text), rgb)
    bars = colour_bars()
    data, text = encode_compressed(bars, 'jpeg', quality=95)
    assert text == 'rgb8; jpeg compressed bgr8' and data[:2] == b'\xff\xd8'
    np.testing.assert_allclose(centres(decode_compressed(data, text)), centres(bars), atol=8)


def test_mono_sixteen_bit_and_alpha_pngs():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    ok, data = cv2.imencode('.png', grey)
    decoded = decode_compressed(data, 'mono8; png compressed mono8')
    assert decoded.shape == (3, 4, 3)
    np.testing.assert_array_equal(decoded[..., 1], grey)
    deep = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    ok, data = cv2.imencode('.png', deep)
    decoded = decode_compressed(data, 'mono16; png compressed mono16')
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 1, 255, 128])
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 200, 10  # blue, nearly transparent
    ok, data = cv2.imencode('.png', bgra)
    decoded = decode_compressed(data, 'bgra8; png compressed bgra8')
    assert decoded.shape == (2, 2, 3) and decoded[0, 0].tolist() == [0, 0, 200]


def test_bad_data_raises_a_clear_error():
    with pytest.raises(ImageEncodingError, match='no data'):
        decode_compressed(b'', 'jpeg')
    with pytest.raises(ImageEncodingError, match=r"cannot decode.*'jpeg'.*12 bytes"):
        decode_compressed(b'not an image', 'jpeg')
    truncated, _ = encode_compressed(colour_bars(), 'png')
    with pytest.raises(ImageEncodingError):
        decode_compressed(truncated[:40], 'png')
    with pytest.raises(ImageEncodingError, match='byte buffer'):
        decode_compressed(12345, 'jpeg')
    with pytest.raises(ValueError, match='codec'):
        encode_compressed(colour_bars(), 'tiff')
    with pytest.raises(ImageEncodingError, match='uint8'):
        encode_compressed(np.zeros((4, 4), np.uint8))


def test_rclpy_and_rosbags_messages_decode_alike():
    from sensor_msgs.msg import CompressedImage

    from hpm_ros.bags import io

    rgb = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    data, text = encode_compressed(rgb, 'png')
    rclpy_message = CompressedImage(format=text, data=data)
    bag_message = io.deserialize(io.typestore().serialize_cdr(
        io.compressed_image_message(rgb, 5, 'cam', 'png'), io.COMPRESSED_IMAGE_TYPE),
        io.COMPRESSED_IMAGE_TYPE)
    assert bag_message.format == text
    np.testing.assert_array_equal(compressed_msg_to_rgb(rclpy_message), rgb)
    np.testing.assert_array_equal(io.message_to_rgb(bag_message, io.COMPRESSED_IMAGE_TYPE), rgb)
