"""`hpm estimate`: the node's pipeline offline, on a video file, an image or a folder of images.

The npz holds the primary person's arrays (``keypoints2d`` [T, 17, 2] px, ``joints3d`` [T, 17,
3] mm, ...) and every person's, with a person axis after the frame axis: P is the most people
of any frame, slots in the pipeline's order (primary first, then by decreasing 2D box), empty
slots NaN with ``track_id`` -1 (see :func:`people_arrays`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from hpm_ros.errors import HpmError, ImageEncodingError
from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.pipeline import (STAGES, PosePipeline, add_pipeline_arguments,
                              config_from_arguments)

DRAW_CONFIDENCE = 0.1
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff', '.webp')


@dataclass
class EstimateInput:
    """A source of frames: names [T] (None: not known before decoding, as for video
    containers that store no frame count), a factory of iterators of (name, [H, W, 3] uint8
    RGB or an ImageEncodingError for a file that cannot be read), and the frame rate."""

    names: Optional[list]
    frames: object
    fps: float


def image_files(paths: list, fps: float) -> EstimateInput:
    """Images read in the given order; an unreadable one is yielded as its error."""
    from PIL import Image, UnidentifiedImageError

    def frames():
        for path in paths:
            try:
                with Image.open(path) as image:
                    yield path.name, np.asarray(image.convert('RGB'))
            except (UnidentifiedImageError, OSError, ValueError) as error:
                yield path.name, ImageEncodingError(f'cannot read image {path}: {error}')

    return EstimateInput([p.name for p in paths], frames, fps)


def video_file(path: Path, fps: float = None, max_frames: int = None) -> EstimateInput:
    """The frames of a video file (decoded with PyAV), the first ``max_frames`` if given.

    The frame count is taken while decoding: MKV / WebM webcam recordings store none."""
    from hpm_ros.video import probe_video, read_frames

    info = probe_video(path)
    count = info.num_frames or None
    if count is not None and max_frames is not None:
        count = min(count, max_frames)

    def frames():
        for index, frame in read_frames(path, max_frames):
            yield str(index), frame

    return EstimateInput(None if count is None else [str(i) for i in range(count)], frames,
                         fps or info.fps)


def open_input(path: str, fps: float = None, max_frames: int = None) -> EstimateInput:
    """A video file, a single image file or an image folder (the first ``max_frames`` frames
    or images if given); clear errors for anything else."""
    source = Path(path)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise HpmError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {source}')
        return image_files(paths[:max_frames], fps or 30.0)
    if source.is_file():
        if source.suffix.lower() in IMAGE_SUFFIXES:
            return image_files([source], fps or 30.0)
        return video_file(source, fps, max_frames)
    raise FileNotFoundError(f'input {source} is neither a video file, an image nor a folder of '
                            'images')


def estimate(pipeline: PosePipeline, source: EstimateInput, intrinsics: np.ndarray = None,
             progress: bool = True) -> dict:
    """Run every frame of ``source`` in order; returns the arrays `hpm estimate` saves.

    A frame without a person gives a row with ``valid`` False (NaN poses); an image file that
    cannot be read is skipped, listed in ``skipped`` and counted (the run goes on)."""
    rows = {key: [] for key in ('keypoints2d', 'joints3d', 'joints3d_raw', 'joints3d_camera',
                                'correction_applied', 'valid', 'confidence')}
    people = []
    timings = {key: [] for key in STAGES}
    pipeline.reset()
    names, skipped = [], []
    total = None if source.names is None else len(source.names)
    for index, (name, frame) in enumerate(tqdm(source.frames(), total=total, desc='estimate',
                                               disable=not progress)):
        if isinstance(frame, ImageEncodingError):
            skipped.append(name)
            print(f'hpm estimate: skipped: {frame}', file=sys.stderr)
            continue
        result = pipeline.process(frame, stamp=index / source.fps, frame_id='camera',
                                  intrinsics=intrinsics)
        names.append(name)
        rows['keypoints2d'].append(result.keypoints2d)
        rows['confidence'].append(result.confidence)
        rows['joints3d'].append(result.joints3d)
        rows['joints3d_raw'].append(result.joints3d_raw)
        rows['joints3d_camera'].append(result.joints3d_camera)
        rows['correction_applied'].append(result.correction_applied and result.valid)
        rows['valid'].append(result.valid)
        people.append(result.people)
        for key in STAGES:
            timings[key].append(result.timings_ms.get(key, 0.0))
    if not names:
        raise HpmError('the input holds no frames' + (
            f' that could be read ({len(skipped)} unreadable)' if skipped else ''))
    output = {key: np.asarray(values) for key, values in rows.items()}
    for key in ('keypoints2d', 'joints3d', 'joints3d_raw', 'joints3d_camera', 'confidence'):
        output[key] = output[key].astype(np.float32)
    if intrinsics is None:
        del output['joints3d_camera']
    output.update(people_arrays(people, pipeline.machine.config.num_joints,
                                camera=intrinsics is not None))
    output['timings_ms'] = np.stack([timings[key] for key in STAGES], 1).astype(np.float32)
    output['timing_names'] = np.array(STAGES)
    output['joint_names'] = np.array(pipeline.joint_names)
    output['frames'] = np.array(names)
    output['skipped'] = np.array(skipped, dtype=str)
    return output


def people_arrays(people: list, num_joints: int, camera: bool = False) -> dict:
    """Return the person-axis arrays of T frames' lifted people.

    people: per frame a list of :class:`hpm_ros.lifting.LiftedPerson`. Arrays:
    ``keypoints2d_people`` [T, P, K, 2] float32 px, ``confidence_people`` [T, P, K],
    ``joints3d_people`` [T, P, K, 3] float32 mm root-relative after correction,
    ``joints3d_camera_people`` [T, P, K, 3] m camera frame (with ``camera``), ``track_id``
    [T, P] int64; P = max(1, the most people of a frame); empty slots NaN (confidence 0) and
    track_id -1.
    """
    count, slots = len(people), max([1] + [len(frame) for frame in people])
    out = {'keypoints2d_people': np.full((count, slots, num_joints, 2), np.nan, np.float32),
           'confidence_people': np.zeros((count, slots, num_joints), np.float32),
           'joints3d_people': np.full((count, slots, num_joints, 3), np.nan, np.float32),
           'track_id': np.full((count, slots), -1, np.int64)}
    if camera:
        out['joints3d_camera_people'] = np.full((count, slots, num_joints, 3), np.nan,
                                                np.float32)
    for t, frame in enumerate(people):
        for slot, person in enumerate(frame):
            out['keypoints2d_people'][t, slot] = person.keypoints2d
            out['confidence_people'][t, slot] = person.confidence
            out['joints3d_people'][t, slot] = person.joints3d
            out['track_id'][t, slot] = person.track_id
            if camera:
                out['joints3d_camera_people'][t, slot] = person.joints3d_camera
    return out


def render_strip(source: EstimateInput, output: dict, png_path: str, count: int = 4) -> Path:
    """Write a PNG of ``count`` evenly spaced frames; return its path.

    Each frame shows every person's 2D overlay (and ID) and the primary person's 3D side view.
    """
    from PIL import Image

    from hpm_ros.render import draw_people_2d, draw_side_view, strip

    rows = {name: row for row, name in enumerate(output['frames'].tolist())}
    chosen = set(np.linspace(0, len(rows) - 1, count).round().astype(int).tolist())
    panels = []
    for name, frame in source.frames():
        row = rows.get(name)
        if row is None or row not in chosen:
            continue
        panels.append(draw_people_2d(frame, output['keypoints2d_people'][row],
                                     output['confidence_people'][row], output['track_id'][row],
                                     DRAW_CONFIDENCE))
        if output['valid'][row]:
            panels.append(draw_side_view(output['joints3d'][row]))
    path = Path(png_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip(panels)).save(path)
    return path


def add_parser(commands) -> None:
    """The `hpm estimate` sub-command."""
    parser = commands.add_parser(
        'estimate', help='3D poses of a video, an image or an image folder, offline, as npz')
    parser.add_argument('--input', required=True,
                        help='video file (anything PyAV decodes), image file or image folder')
    parser.add_argument('--output', required=True, help='output .npz')
    parser.add_argument('--intrinsics', type=float, nargs=4, metavar=('FX', 'FY', 'CX', 'CY'),
                        help='camera intrinsics in pixels (adds joints3d_camera)')
    add_pipeline_arguments(parser)
    parser.add_argument('--fps', type=float, help='frame rate (default: the video\'s, or 30)')
    parser.add_argument('--max-frames', type=int, help='only the first N frames or images')
    parser.add_argument('--render', help='also write a PNG strip of frames with skeletons')


def run(args) -> int:
    """Entry point of `hpm estimate`."""
    intrinsics = intrinsics_matrix(*args.intrinsics) if args.intrinsics else None
    pipeline = PosePipeline(config_from_arguments(args))
    output = estimate(pipeline, open_input(args.input, args.fps, args.max_frames), intrinsics)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **output)
    total = output['timings_ms'][:, -1]
    skipped = len(output['skipped'])
    ids = output['track_id']
    lifted = np.isfinite(output['joints3d_people'][..., 0, 0]).sum(axis=1)
    print(f'{len(output["frames"])} frames, {output["valid"].mean() * 100:.0f} % with a person, '
          f'up to {int(lifted.max(initial=0))} people in a frame, '
          f'{len(np.unique(ids[ids >= 0]))} track IDs, '
          f'correction applied on {output["correction_applied"].mean() * 100:.0f} %, '
          f'{np.median(total):.1f} ms/frame median'
          + (f', {skipped} unreadable images skipped' if skipped else '') + f' -> {path}')
    if args.render:
        frames = open_input(args.input, args.fps, args.max_frames)
        print(f'render: {render_strip(frames, output, args.render)}')
    return 0
