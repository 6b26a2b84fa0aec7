"""Video files as RGB frames (PyAV / FFmpeg)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hpm_ros.errors import HpmError


class VideoError(HpmError):
    """A video file that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoInfo:
    """Frame count (as the container states it), rate in Hz and size in pixels."""

    num_frames: int
    fps: float
    width: int
    height: int


def _open(path: Path):
    import av

    if not Path(path).is_file():
        raise VideoError(f'video not found: {path}')
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(f'cannot open video {path}: {error}') from error
    if not container.streams.video:
        container.close()
        raise VideoError(f'{path} has no video stream')
    return container


def probe_video(path: Path) -> VideoInfo:
    """Frame count, rate and size of the first video stream of ``path``."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 30.0
        return VideoInfo(int(stream.frames), fps, stream.width, stream.height)
    finally:
        container.close()


def read_frames(path: Path, max_frames: int = None, stride: int = 1) -> Iterator[tuple]:
    """(index, [H, W, 3] uint8 RGB) for every ``stride``-th frame, at most ``max_frames``."""
    import av

    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    container = _open(path)
    yielded = 0
    try:
        for index, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and yielded >= max_frames:
                break
            if index % stride == 0:
                yield index, np.ascontiguousarray(frame.to_ndarray(format='rgb24'))
                yielded += 1
    except av.error.FFmpegError as error:
        raise VideoError(f'cannot decode video {path}: {error}') from error
    finally:
        container.close()
