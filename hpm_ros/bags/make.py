"""`hpm make-bag`: a rosbag2 of images, camera info and (when known) 3D ground truth.

Sources: a synthetic sequence (procedural motion rendered by ``data.synthetic``), a
Human3.6M-format sequence (VideoPose3D npz + cameras.h5 + extracted frames), a video file or a
folder of images. Per frame, all at the frame's stamp ``start + i / fps``: ``CameraInfo``
(K = 0, i.e. uncalibrated, when the intrinsics are unknown), ``Image`` (rgb8) or, with
``compressed``, a ``CompressedImage`` (JPEG / PNG, image_transport's format) on
``<image topic>/compressed`` instead, and, with ground truth, a ``PoseArray`` of the H36M-17
joints in metres, camera optical frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpm_ros.bags import io
from hpm_ros.errors import BagError, HpmError

DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000


@dataclass
class BagTopics:
    """Topic names of the image, its camera info and the ground truth."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    truth: str = '/ground_truth/pose3d'


@dataclass
class BagSource:
    """Frames to write: ``frames()`` yields [H, W, 3] uint8 RGB; ``intrinsics`` [3, 3] px or
    None; ``truth_mm`` [T, 17, 3] float32 mm camera frame or None."""

    frames: object
    fps: float
    intrinsics: np.ndarray = None
    truth_mm: np.ndarray = None
    description: str = ''
    extra: dict = field(default_factory=dict)


def synthetic_source(kind: str, num_frames: int, fps: float, size: tuple, seed: int) -> BagSource:
    """A rendered procedural motion of ``kind`` with exact intrinsics and 3D truth."""
    from hpm_ros.data.motion import generate_motion
    from hpm_ros.data.synthetic import render_sequence

    motion = generate_motion(kind, num_frames, fps, np.random.default_rng(seed))
    sequence = render_sequence(motion, size, seed)
    frames = sequence.frames
    return BagSource(lambda: iter(frames), fps, sequence.intrinsics,
                     sequence.joints3d_camera.astype(np.float32),
                     f'synthetic {kind}, {num_frames} frames {size[0]}x{size[1]}, seed {seed}')


def media_source(path: str, fps: float = None) -> BagSource:
    """A video file, an image or an image folder (no intrinsics, no truth); an unreadable
    image stops with its error."""
    from hpm_ros.estimate import open_input

    source = open_input(path, fps)

    def frames():
        for _, frame in source.frames():
            if isinstance(frame, Exception):
                raise frame
            yield frame

    return BagSource(frames, source.fps, description=f'{path} at {source.fps:g} Hz')


def h36m_source(frames, cameras: dict, image_root: str, fps: float = 50.0,
                pattern: str = None) -> BagSource:
    """One (subject, sequence, camera) run of Human3.6M ``PoseFrames`` in the camera frame.

    cameras: {(subject, number): Camera} for the intrinsics (distortion is ignored);
    images come from :func:`hpm_ros.data.h36m.image_paths` under ``image_root``."""
    from hpm_ros.data.h36m import DEFAULT_IMAGE_PATTERN, image_paths, load_image

    if len(frames) == 0 or len(frames.segments()) != 1:
        raise ValueError('pick exactly one (subject, sequence, camera) run of Human3.6M frames')
    if frames.frame_of_reference != 'camera':
        raise ValueError('Human3.6M ground truth must be in the camera frame (give cameras)')
    camera = cameras[(frames.subject[0], int(frames.camera[0]))]
    K = np.array([[camera.focal[0], 0.0, camera.center[0]], [0.0, camera.focal[1],
                                                             camera.center[1]], [0, 0, 1.0]])
    paths = image_paths(frames, image_root, pattern or DEFAULT_IMAGE_PATTERN)
    return BagSource(lambda: (load_image(p) for p in paths), fps, K,
                     frames.poses_3d.astype(np.float32),
                     f'Human3.6M {frames.subject[0]} {frames.sequence[0]} camera '
                     f'{frames.camera[0]}')


def fit_width(image: np.ndarray, intrinsics, max_width: int) -> tuple:
    """(image, intrinsics) scaled down so that the width is at most ``max_width``."""
    height, width = image.shape[:2]
    if not max_width or width <= max_width:
        return image, intrinsics
    from PIL import Image

    scale = max_width / width
    size = (max_width, max(1, round(height * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    if intrinsics is not None:
        sx, sy = size[0] / width, size[1] / height
        intrinsics = np.array(intrinsics, dtype=np.float64)
        intrinsics[0, :] *= sx
        intrinsics[1, :] *= sy
        # pixel centres: x' + 0.5 = s (x + 0.5)
        intrinsics[0, 2] += 0.5 * sx - 0.5
        intrinsics[1, 2] += 0.5 * sy - 0.5
    return resized, intrinsics


def write_bag(path, source: BagSource, storage: str = 'sqlite3', compression: str = 'none',
              topics: BagTopics = BagTopics(), frame_id: str = 'camera_optical_frame',
              start_ns: int = DEFAULT_START_NS, max_width: int = 448, max_frames: int = None,
              progress: bool = True, compressed: str = None, quality: int = 90) -> dict:
    """Write ``source`` as a bag at ``path``; returns {'frames', 'size', 'counts', 'path'}.

    compressed: None (raw Image) or a codec of :mod:`hpm_ros.image_codec` ('jpeg', 'png');
    quality: JPEG quality 1..100.
    """
    if not source.fps > 0:
        raise ValueError(f'fps must be positive, got {source.fps}')
    writer = io.BagWriter(path, storage, compression)
    count, size = 0, None
    try:
        for index, frame in enumerate(tqdm(source.frames(), desc='make-bag', disable=not progress,
                                           total=max_frames)):
            if max_frames is not None and index >= max_frames:
                break
            image, K = fit_width(frame, source.intrinsics, max_width)
            size = (image.shape[1], image.shape[0])
            stamp = start_ns + round(index * 1e9 / source.fps)
            writer.write(topics.camera_info, stamp, io.camera_info_message(
                np.zeros((3, 3)) if K is None else K, size[0], size[1], stamp, frame_id))
            if compressed:
                writer.write(topics.image.rstrip('/') + '/compressed', stamp,
                             io.compressed_image_message(image, stamp, frame_id, compressed,
                                                         quality))
            else:
                writer.write(topics.image, stamp, io.image_message(image, stamp, frame_id))
            if source.truth_mm is not None:
                if index >= len(source.truth_mm):
                    raise BagError(f'ground truth has {len(source.truth_mm)} frames, the images '
                                   'more')
                writer.write(topics.truth, stamp, io.pose_array_message(
                    source.truth_mm[index] / 1000.0, stamp, frame_id))
            count += 1
    except BaseException:
        writer.abort()
        _remove(Path(path))
        raise
    writer.close()
    if count == 0:
        _remove(Path(path))
        raise HpmError('the source holds no frames; no bag written')
    return {'frames': count, 'size': size, 'counts': dict(writer.counts), 'path': str(path)}


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)


def add_parser(commands) -> None:
    """Register `hpm make-bag`."""
    parser = commands.add_parser(
        'make-bag', help='write a rosbag2 (images, camera info, ground truth) from a synthetic '
        'sequence, a Human3.6M sequence, a video or an image folder')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--synthetic', metavar='KIND',
                        help='procedural motion kind (walk, turn, reach, crouch, wave, random)')
    source.add_argument('--input', help='video file or folder of images')
    source.add_argument('--h36m', metavar='DATA_3D_NPZ', help='VideoPose3D data_3d_h36m.npz')
    parser.add_argument('--output', required=True, help='new bag folder')
    parser.add_argument('--storage', default='sqlite3', choices=io.STORAGES)
    parser.add_argument('--compression', default='none', choices=io.COMPRESSIONS,
                        help='zstd per message or per file')
    parser.add_argument('--frames', type=int, help='at most this many frames (synthetic: 60)')
    parser.add_argument('--fps', type=float, help='frame rate (default: video\'s, 30, H36M 50)')
    parser.add_argument('--size', type=int, nargs=2, default=(448, 336), metavar=('W', 'H'),
                        help='synthetic image size')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-width', type=int, default=448,
                        help='resize wider frames (keeps images <= 512 KB for Fast DDS)')
    parser.add_argument('--intrinsics', type=float, nargs=4, metavar=('FX', 'FY', 'CX', 'CY'),
                        help='camera intrinsics of --input in pixels of the original frames')
    parser.add_argument('--h36m-cameras', help='cameras.h5 of 3d-pose-baseline')
    parser.add_argument('--h36m-images', help='root of the extracted Human3.6M frames')
    parser.add_argument('--subject', default='S9')
    parser.add_argument('--sequence', default='Walking 1')
    parser.add_argument('--camera', type=int, default=1, help='camera number 1..4')
    parser.add_argument('--image-topic', default=BagTopics.image)
    parser.add_argument('--camera-info-topic', default=BagTopics.camera_info)
    parser.add_argument('--truth-topic', default=BagTopics.truth)
    parser.add_argument('--frame-id', default='camera_optical_frame')
    parser.add_argument('--compressed', nargs='?', const='jpeg', choices=('jpeg', 'png'),
                        help='write CompressedImage on IMAGE_TOPIC/compressed instead of raw '
                        'images (codec; default jpeg)')
    parser.add_argument('--jpeg-quality', type=int, default=90, help='1..100')


def _h36m_from_args(args) -> BagSource:
    from hpm_ros.data.h36m import load_h36m_cameras, load_h36m_npz

    if not (args.h36m_cameras and args.h36m_images):
        raise ValueError('--h36m needs --h36m-cameras and --h36m-images')
    cameras = load_h36m_cameras(args.h36m_cameras, [args.subject])
    frames = load_h36m_npz(args.h36m, subjects=[args.subject], cameras=cameras)
    chosen = (frames.sequence == args.sequence) & (frames.camera == args.camera)
    if not chosen.any():
        raise ValueError(f'no frames of {args.subject} {args.sequence!r} camera {args.camera}')
    return h36m_source(frames.take(np.flatnonzero(chosen)), cameras, args.h36m_images,
                       args.fps or 50.0)


def run(args) -> int:
    """Entry point of `hpm make-bag`."""
    from hpm_ros.geometry import intrinsics_matrix

    max_frames = args.frames
    if args.synthetic:
        max_frames = max_frames or 60
        source = synthetic_source(args.synthetic, max_frames, args.fps or 30.0,
                                  tuple(args.size), args.seed)
    elif args.h36m:
        source = _h36m_from_args(args)
    else:
        source = media_source(args.input, args.fps)
        if args.intrinsics:
            source.intrinsics = intrinsics_matrix(*args.intrinsics)
    summary = write_bag(args.output, source, args.storage, args.compression,
                        BagTopics(args.image_topic, args.camera_info_topic, args.truth_topic),
                        args.frame_id, max_width=args.max_width, max_frames=max_frames,
                        compressed=args.compressed, quality=args.jpeg_quality)
    counts = ', '.join(f'{topic} {n}' for topic, n in summary['counts'].items())
    print(f'{source.description}: {summary["frames"]} frames {summary["size"][0]}x'
          f'{summary["size"][1]} -> {summary["path"]} ({args.storage}, compression '
          f'{args.compression}; {counts})')
    return 0
