"""SSD anchors of the BlazePose detector, as mediapipe's ``SsdAnchorsCalculator`` makes them.

Options of ``pose_detection_cpu.pbtxt`` (mediapipe 0.10.21): 5 layers, strides 8, 16, 32,
32, 32 on a 224 x 224 input, min_scale 0.1484375, max_scale 0.75, anchor offsets 0.5,
aspect ratio 1.0, fixed anchor size (every anchor is 1 x 1, only the centres matter), and
the option's default ``interpolated_scale_aspect_ratio`` 1.0, which adds one anchor per layer
(scale sqrt(scale * next scale)). Consecutive layers of equal stride share one grid:
28 x 28 x 2 + 14 x 14 x 2 + 7 x 7 x 6 = 2254 anchors.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
MIN_SCALE = 0.1484375
MAX_SCALE = 0.75
NUM_ANCHORS = 2254


def layer_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    """Scale of layer ``index`` of ``count``: linear between min_scale and max_scale."""
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def ssd_anchors(input_size: int = INPUT_SIZE, strides: Sequence[int] = STRIDES,
                min_scale: float = MIN_SCALE, max_scale: float = MAX_SCALE,
                aspect_ratios: Sequence[float] = (1.0,), offset: float = 0.5,
                fixed_anchor_size: bool = True,
                interpolated_ratio: float = 1.0) -> np.ndarray:
    """Anchors [N, 4] float32 (x_centre, y_centre, width, height), normalised to [0, 1].

    Row-major over each grid (y, then x, then the anchors of a cell), layers in order; the
    cells of layers that share a stride hold one anchor per (layer, aspect ratio) and one
    interpolated anchor per layer when ``interpolated_ratio`` > 0.
    """
    anchors = []
    layer = 0
    while layer < len(strides):
        sizes = []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = layer_scale(min_scale, max_scale, last, len(strides))
            for ratio in aspect_ratios:
                sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
            if interpolated_ratio > 0:
                following = (1.0 if last == len(strides) - 1 else
                             layer_scale(min_scale, max_scale, last + 1, len(strides)))
                interpolated = math.sqrt(scale * following)
                sizes.append((interpolated * math.sqrt(interpolated_ratio),
                              interpolated / math.sqrt(interpolated_ratio)))
            last += 1
        cells = math.ceil(input_size / strides[layer])
        for y in range(cells):
            for x in range(cells):
                for width, height in sizes:
                    if fixed_anchor_size:
                        width = height = 1.0
                    anchors.append(((x + offset) / cells, (y + offset) / cells, width, height))
        layer = last
    return np.asarray(anchors, dtype=np.float32)
