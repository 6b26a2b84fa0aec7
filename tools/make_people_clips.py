#!/usr/bin/env python3
"""Make the multi-person test material of ``test/data/people`` from the shared room video.

The shared video (``one-by-one-person-detection.mp4``, CC BY 4.0, Intel sample-videos) shows
one person at a time: by eye, every frame with a person in it has exactly one (the people are
separated by empty stretches of 2.6 s or more). Its camera is static (the median backgrounds
of its seven empty stretches differ by 1.2-2.5 grey levels on average), so several people of
different moments can be put into one frame with their own real pixels: a person is cut out of
their frame by the difference to that stretch's empty background, moved sideways by ``dx`` px
(the same image rows: the same distance from the camera in this elevated view) and pasted
onto another frame. Layers are pasted in order, the later ones in front.

Outputs (``--output``, default ``test/data/people``): ``<name>.mp4`` (H.264, CRF 23, 10 fps)
per clip of :data:`CLIPS` and ``people.json``: for each clip and frame, each layer's source
frame, shift and the box (x0, y0, x1, y1) px of its pasted pixels in the clip's frame (null
when none are inside), so tests and benchmarks know who is where.

Run: ``.venv/bin/python tools/make_people_clips.py [--video PATH] [--output DIR]``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

VIDEO = Path('/work/shared/data/video/one-by-one-person-detection.mp4')
# The empty stretches of the video (test/data/blazepose/one_by_one_labels.json).
EMPTY = ((0, 59), (201, 226), (451, 501), (701, 744), (873, 919), (1205, 1233), (1363, 1393))
FOREGROUND_LEVEL = 70       # summed |RGB - background| above which a pixel is a person's
# name -> (frames, layers: (first source frame, dx px)); crop: (x0, width) or None, size (W, H)
CLIPS = {
    # two people standing side by side (person 2 at its place, person 3 moved right)
    'two_standing': {'frames': 30, 'layers': ((300, 0), (560, 230)), 'crop': None,
                     'size': (768, 432)},
    # person 4 stands right of the centre, person 2 walks out to the right in front of them
    'crossing': {'frames': 50, 'layers': ((790, 170), (405, 0)), 'crop': None,
                 'size': (768, 432)},
    # three people at 640 x 480 (the centre 576 x 432 scaled by 10 / 9)
    'three_640x480': {'frames': 20, 'layers': ((300, -170), (560, 0), (1000, 170)),
                      'crop': (96, 576), 'size': (640, 480)},
}


def load_frames(video: Path, wanted: set) -> dict:
    """{index: [H, W, 3] uint8 RGB} of the ``wanted`` frames."""
    from hpm_ros.video import read_frames

    return {i: f for i, f in read_frames(video) if i in wanted}


def stretch_of(index: int) -> tuple:
    """Return the empty stretch whose background is nearest in time to frame ``index``."""
    return min(EMPTY, key=lambda r: min(abs(index - r[0]), abs(index - r[1])))


def person_mask(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """[H, W] bool: the pixels of the person in ``frame`` (largest blobs that differ)."""
    import cv2

    difference = np.abs(frame.astype(np.int16) - background.astype(np.int16)).sum(axis=2)
    mask = (difference > FOREGROUND_LEVEL).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count < 2:
        return np.zeros(mask.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[largest, :4]
    keep = np.zeros(mask.shape, bool)
    for label in range(1, count):      # the person's blob and the pieces inside its box
        lx, ly, lw, lh, area = stats[label]     # left, top, width, height, area
        inside = (lx >= x - 10 and lx + lw <= x + w + 10 and ly >= y - 10
                  and ly + lh <= y + h + 10)
        if label == largest or (inside and area >= 50):
            keep |= labels == label
    return cv2.dilate(keep.astype(np.uint8), kernel).astype(bool)


def composite(base: np.ndarray, layers: list) -> tuple:
    """Paste each (frame, mask, dx) onto ``base``, moved dx px to the right.

    Returns the image and the box (x0, y0, x1, y1) px of each layer's pasted pixels (None
    when none are inside).
    """
    out = base.copy()
    width = base.shape[1]
    boxes = []
    for frame, mask, dx in layers:
        ys, xs = np.nonzero(mask)
        moved = xs + dx
        inside = (moved >= 0) & (moved < width)
        out[ys[inside], moved[inside]] = frame[ys[inside], xs[inside]]
        boxes.append([int(moved[inside].min()), int(ys[inside].min()), int(moved[inside].max()),
                      int(ys[inside].max())] if inside.any() else None)
    return out, boxes


def crop_box(box: list, crop: tuple, scale: float, width: int) -> list:
    """Return a layer box in the cropped and scaled frame (None when it leaves the crop)."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    if crop is not None:
        x0, x1 = max(x0 - crop[0], 0), min(x1 - crop[0], crop[1] - 1)
        if x1 < x0:
            return None
    return [round(x0 * scale, 1), round(y0 * scale, 1), round(min(x1 * scale, width - 1), 1),
            round(y1 * scale, 1)]


def write_clip(path: Path, frames: list, fps: int = 10) -> None:
    """H.264 mp4 (CRF 23, yuv420p) of RGB frames."""
    import av

    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = 'yuv420p'
        stream.options = {'crf': '23'}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> int:
    """Write every clip of :data:`CLIPS` and ``people.json``."""
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--video', type=Path, default=VIDEO)
    parser.add_argument('--output', type=Path, default=Path('test/data/people'))
    args = parser.parse_args()
    wanted = {i for r in EMPTY for i in range(r[0], r[1] + 1, 5)}
    for clip in CLIPS.values():
        for start, _ in clip['layers']:
            wanted.update(range(start, start + clip['frames']))
    frames = load_frames(args.video, wanted)
    backgrounds = {r: np.median(np.stack([frames[i] for i in range(r[0], r[1] + 1, 5)]),
                                axis=0).astype(np.uint8) for r in EMPTY}
    args.output.mkdir(parents=True, exist_ok=True)
    index = {'source': f'{args.video.name} (CC BY 4.0, Intel sample-videos)', 'clips': {}}
    for name, clip in CLIPS.items():
        out_frames, rows = [], []
        for t in range(clip['frames']):
            sources = [(start + t, dx) for start, dx in clip['layers']]
            first = sources[0][0]
            base = backgrounds[stretch_of(first)]
            layers = [(frames[i], person_mask(frames[i], backgrounds[stretch_of(i)]), dx)
                      for i, dx in sources]
            image, boxes = composite(base, layers)
            if clip['crop'] is not None:
                x0, width = clip['crop']
                image = image[:, x0:x0 + width]
            scale = clip['size'][0] / image.shape[1]
            if image.shape[1::-1] != tuple(clip['size']):
                image = cv2.resize(image, tuple(clip['size']), interpolation=cv2.INTER_AREA)
            out_frames.append(np.ascontiguousarray(image))
            rows.append([{'source': i, 'dx': dx,
                          'box': crop_box(box, clip['crop'], scale, clip['size'][0])}
                         for (i, dx), box in zip(sources, boxes)])
        write_clip(args.output / f'{name}.mp4', out_frames)
        index['clips'][name] = {'size': list(clip['size']), 'crop': clip['crop'],
                                'layers_by_frame': rows}
        print(f'{name}: {len(out_frames)} frames -> {args.output / (name + ".mp4")}')
    (args.output / 'people.json').write_text(json.dumps(index, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
