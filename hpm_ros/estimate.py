"""`hpm estimate`: the node's pipeline offline, on a video file or a folder of images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpm_ros.errors import HpmError, ImageEncodingError
from hpm_ros.geometry import intrinsics_matrix
from hpm_ros.pipeline import PipelineConfig, PosePipeline

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff', '.webp')
TIMING_KEYS = ('crop', 'pose2d', 'transformer', 'correction', 'placement', 'total')


@dataclass
class EstimateInput:
    """A source of frames: names [T] and an iterator factory of [H, W, 3] uint8 RGB."""

    names: list
    frames: object
    fps: float


def image_folder(folder: Path, fps: float) -> EstimateInput:
    """The images of ``folder`` sorted by file name."""
    from PIL import Image, UnidentifiedImageError

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise HpmError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {folder}')

    def frames():
        for path in paths[:len(source.names)]:
            try:
                with Image.open(path) as image:
                    yield np.asarray(image.convert('RGB'))
            except (UnidentifiedImageError, OSError) as error:
                raise ImageEncodingError(f'cannot read image {path}: {error}') from error

    source = EstimateInput([p.name for p in paths], frames, fps)
    return source


def video_file(path: Path, fps: float = None, max_frames: int = None) -> EstimateInput:
    """The frames of a video file (decoded with PyAV), the first ``max_frames`` if given."""
    from hpm_ros.video import probe_video, read_frames

    info = probe_video(path)
    count = info.num_frames if max_frames is None else min(max_frames, info.num_frames)
    return EstimateInput([str(i) for i in range(count)],
                         lambda: (frame for _, frame in read_frames(path, count)), fps or info.fps)


def open_input(path: str, fps: float = None, max_frames: int = None) -> EstimateInput:
    """A video file or an image folder (the first ``max_frames`` frames or images if given);
    clear errors for anything else."""
    source = Path(path)
    if source.is_dir():
        folder = image_folder(source, fps or 30.0)
        if max_frames is not None:
            folder.names = folder.names[:max_frames]
        return folder
    if source.is_file():
        return video_file(source, fps, max_frames)
    raise FileNotFoundError(f'input {source} is neither a video file nor a folder of images')


def estimate(pipeline: PosePipeline, source: EstimateInput, intrinsics: np.ndarray = None,
             progress: bool = True) -> dict:
    """Run every frame of ``source`` in order; returns the arrays `hpm estimate` saves.

    A frame without a person gives a row with ``valid`` False (NaN poses)."""
    rows = {key: [] for key in ('keypoints2d', 'joints3d', 'joints3d_raw', 'joints3d_camera',
                                'correction_applied', 'valid', 'confidence')}
    timings = {key: [] for key in TIMING_KEYS}
    pipeline.reset()
    names = []
    for index, frame in enumerate(tqdm(source.frames(), total=len(source.names),
                                       desc='estimate', disable=not progress)):
        result = pipeline.process(frame, stamp=index / source.fps, frame_id='camera',
                                  intrinsics=intrinsics)
        names.append(source.names[index] if index < len(source.names) else str(index))
        nan3 = np.full_like(result.joints3d, np.nan)
        rows['keypoints2d'].append(result.keypoints2d)
        rows['confidence'].append(result.confidence)
        rows['joints3d'].append(result.joints3d if result.valid else nan3)
        rows['joints3d_raw'].append(result.joints3d_raw if result.valid else nan3)
        rows['joints3d_camera'].append(result.joints3d_camera if result.valid else nan3)
        rows['correction_applied'].append(result.correction_applied and result.valid)
        rows['valid'].append(result.valid)
        for key in TIMING_KEYS:
            timings[key].append(result.timings_ms[key])
    if not names:
        raise HpmError('the input holds no frames')
    output = {key: np.asarray(values) for key, values in rows.items()}
    for key in ('keypoints2d', 'joints3d', 'joints3d_raw', 'joints3d_camera', 'confidence'):
        output[key] = output[key].astype(np.float32)
    if intrinsics is None:
        del output['joints3d_camera']
    output['timings_ms'] = np.stack([timings[key] for key in TIMING_KEYS], 1).astype(np.float32)
    output['timing_names'] = np.array(TIMING_KEYS)
    output['joint_names'] = np.array(pipeline.joint_names)
    output['frames'] = np.array(names)
    return output


def render_strip(source: EstimateInput, output: dict, png_path: str, count: int = 4) -> Path:
    """PNG of ``count`` evenly spaced frames, each with its 2D overlay and 3D side view."""
    from PIL import Image

    from hpm_ros.render import draw_pose_2d, draw_side_view, strip

    chosen = set(np.linspace(0, len(output['frames']) - 1, count).round().astype(int).tolist())
    panels = []
    for index, frame in enumerate(source.frames()):
        if index in chosen:
            panels.append(draw_pose_2d(frame, output['keypoints2d'][index]))
            if output['valid'][index]:
                panels.append(draw_side_view(output['joints3d'][index]))
    path = Path(png_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip(panels)).save(path)
    return path


def main(args) -> int:
    """Entry point of `hpm estimate`."""
    from hpm_ros.resources import default_model_path

    intrinsics = intrinsics_matrix(*args.intrinsics) if args.intrinsics else None
    config = PipelineConfig(model_path=str(args.model or default_model_path()),
                            backend=args.backend, correction_preset=args.correction)
    pipeline = PosePipeline(config)
    output = estimate(pipeline, open_input(args.input, args.fps, args.max_frames), intrinsics)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **output)
    total = output['timings_ms'][:, -1]
    print(f'{len(output["frames"])} frames, {output["valid"].mean() * 100:.0f} % with a person, '
          f'correction applied on {output["correction_applied"].mean() * 100:.0f} %, '
          f'{np.median(total):.1f} ms/frame median -> {path}')
    if args.render:
        frames = open_input(args.input, args.fps, args.max_frames)
        print(f'render: {render_strip(frames, output, args.render)}')
    return 0
