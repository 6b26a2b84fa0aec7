"""JPEG / PNG images as ``image_transport``'s compressed plugin writes them (ROS-free, OpenCV).

A sensor_msgs/CompressedImage carries ``format`` and ``data``. The compressed plugin of
``image_transport`` (ROS 2) writes ``format`` as ``"<encoding>; <codec> compressed
<compressed encoding>"``, e.g. ``"rgb8; jpeg compressed bgr8"``: the raw image's encoding, the
codec, and the channel order of the array that was handed to the encoder. Older publishers and
many drivers write only the codec (``"jpeg"``, ``"png"``). Decoding follows that plugin's
subscriber: ``cv2.imdecode`` gives OpenCV's order (BGR); a ``compressed rgb...`` tag means the
encoder was given RGB, so the decoded array already is RGB. 16-bit PNGs are scaled to 8 bits
as ``round(v * 255 / 65535)``, alpha is dropped, grey is replicated to three channels.
``compressedDepth`` images (depth PNGs with a header) are refused with a hint.

The functions read messages by attribute only: rclpy and rosbags messages both work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from hpm_ros.errors import ImageEncodingError

CODECS = ('jpeg', 'png')
_CODEC_ALIASES = {'jpeg': 'jpeg', 'jpg': 'jpeg', 'png': 'png'}
_EXTENSIONS = {'jpeg': '.jpg', 'png': '.png'}


@dataclass(frozen=True)
class CompressedFormat:
    """The parts of a CompressedImage ``format``; None where the string does not say."""

    encoding: Optional[str]
    codec: Optional[str]
    compressed_encoding: Optional[str]

    @property
    def rgb_order(self) -> bool:
        """True when the encoder was given RGB (decoded arrays are then RGB, not BGR)."""
        return bool(self.compressed_encoding) and self.compressed_encoding.startswith('rgb')


def parse_format(text: str) -> CompressedFormat:
    """Split ``"rgb8; jpeg compressed bgr8"`` (or ``"jpeg"``) into its parts.

    ImageEncodingError for a ``compressedDepth`` stream.
    """
    text = (text or '').strip()
    if 'compresseddepth' in text.lower():
        raise ImageEncodingError(
            f'CompressedImage format {text!r} is a compressedDepth (depth) stream; subscribe to '
            "the colour camera's image/compressed topic instead")
    encoding, separator, rest = text.partition(';')
    if not separator:
        encoding, rest = '', text
    words = rest.split()
    codec = _CODEC_ALIASES.get(words[0].lower()) if words else None
    compressed = None
    if len(words) >= 3 and words[1].lower() == 'compressed':
        compressed = words[2].lower()
    return CompressedFormat(encoding.strip() or None, codec, compressed)


def _to_eight_bits(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype != np.uint16:
        raise ImageEncodingError(f'compressed image decodes to {pixels.dtype}; expected 8 or '
                                 '16 bits per channel')
    wide = pixels.astype(np.uint32)
    wide += 128
    wide //= 257
    return wide.astype(np.uint8)


def decode_compressed(data, format_text: str = '') -> np.ndarray:
    """Decode JPEG / PNG bytes into ``[H, W, 3] uint8`` RGB, C-contiguous.

    ``data``: bytes, bytearray, array.array or a uint8 ndarray; ``format_text``: the message's
    ``format``. ImageEncodingError for empty or undecodable data and compressedDepth streams.
    """
    import cv2

    parsed = parse_format(format_text)
    try:
        buffer = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as error:
        raise ImageEncodingError(
            f'compressed image data of type {type(data).__name__} is not a byte buffer'
            ) from error
    if buffer.size == 0:
        raise ImageEncodingError(f'compressed image ({format_text!r}) has no data')
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise ImageEncodingError(
            f'cannot decode compressed image: format {format_text!r}, {buffer.size} bytes '
            f'(starting {bytes(buffer[:4]).hex()}); JPEG and PNG are supported')
    pixels = _to_eight_bits(pixels)
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[..., None], 3, axis=2))
    if pixels.shape[2] not in (3, 4):
        raise ImageEncodingError(f'compressed image has {pixels.shape[2]} channels; expected '
                                 '1, 3 or 4')
    order = [0, 1, 2] if parsed.rgb_order else [2, 1, 0]
    return np.ascontiguousarray(pixels[..., order])


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (rclpy or rosbags) into ``[H, W, 3] uint8`` RGB."""
    return decode_compressed(msg.data, msg.format)


def encode_compressed(rgb: np.ndarray, codec: str = 'jpeg',
                      quality: int = 90) -> Tuple[bytes, str]:
    """Encode ``[H, W, 3] uint8`` RGB as ``(bytes, format)`` the way image_transport does.

    ``format`` is ``"rgb8; jpeg compressed bgr8"`` or ``"rgb8; png compressed bgr8"``.
    ``quality``: JPEG quality 1..100 (ignored for PNG, which is written at level 3).
    """
    import cv2

    array = np.asarray(rgb)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ImageEncodingError(f'image must be [H, W, 3] uint8 RGB with H, W > 0, got '
                                 f'{array.dtype} {array.shape}')
    if codec not in CODECS:
        raise ValueError(f'codec must be one of {CODECS}, got {codec!r}')
    if not 1 <= int(quality) <= 100:
        raise ValueError(f'JPEG quality must be in [1, 100], got {quality}')
    options = ([cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == 'jpeg'
               else [cv2.IMWRITE_PNG_COMPRESSION, 3])
    ok, encoded = cv2.imencode(_EXTENSIONS[codec], array[..., ::-1], options)
    if not ok:
        raise ImageEncodingError(f'OpenCV could not encode a {array.shape} image as {codec}')
    return encoded.tobytes(), f'rgb8; {codec} compressed bgr8'
