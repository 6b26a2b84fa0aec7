"""The BlazePose GHUM landmark model on a rotated ROI: mediapipe's ``PoseLandmarkByRoiCpu``.

The ROI is cropped to 256 x 256 (values in [0, 1], border pixels repeated outside the frame);
the model gives 39 landmarks (the 33 of the pose, 2 auxiliary ones that define the next ROI,
4 unused) as x, y, z in crop px with visibility and presence logits, a pose-presence score,
64 x 64 x 39 heatmap logits and 39 world landmarks (m, origin between the hips, crop axes).
Landmarks are refined from the heatmap (``RefineLandmarksFromHeatmapCalculator``, kernel 7,
min confidence 0.5, x and y only) and projected back to the full frame; world landmarks are
turned by the ROI's rotation (``WorldLandmarkProjectionCalculator``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.errors import CheckpointError
from hpm_ros.frontends.blazepose.roi import Roi, crop, to_frame
from hpm_ros.frontends.blazepose.runtime import Runtime

INPUT_SIZE = 256
NUM_LANDMARKS = 39
NUM_POSE = 33
AUX = (33, 34)
HEATMAP_KERNEL = 7
MIN_REFINE_CONFIDENCE = 0.5
OUTPUT_SHAPES = {'landmarks': (1, NUM_LANDMARKS * 5), 'presence': (1, 1),
                 'heatmap': (1, 64, 64, NUM_LANDMARKS), 'world': (1, NUM_LANDMARKS * 3)}


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function, float32 (computed in float64: no overflow for large logits)."""
    return (1.0 / (1.0 + np.exp(-np.asarray(values, dtype=np.float64)))).astype(np.float32)


@dataclass
class LandmarkResult:
    """The landmark model's answer for one ROI.

    presence: pose presence score in [0, 1]; points [39, 2] float32 px, full frame (33 pose
    landmarks, then the auxiliary 33, 34 and 4 unused ones); visibility, landmark_presence
    [39] float32 in [0, 1]; world [33, 3] float32 m, hip-centred, crop axes turned by the ROI
    rotation; roi: the ROI that was cropped.
    """

    presence: float
    points: np.ndarray
    visibility: np.ndarray
    landmark_presence: np.ndarray
    world: np.ndarray
    roi: Roi


def refine_from_heatmap(points: np.ndarray, heatmap: np.ndarray,
                        kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = MIN_REFINE_CONFIDENCE) -> np.ndarray:
    """Refine landmarks x, y from the heatmap: mediapipe's ``RefineLandmarksFromHeatMap``.

    points [L, 2] normalised to the crop ([0, 1]); heatmap [H, W, L] logits. For each
    landmark: the cell int(x W), int(y H) (truncation toward zero, as C++), a ``kernel``-wide
    window clipped at the heatmap's edges, sigmoid confidences; when their maximum reaches
    ``min_confidence`` the point becomes the confidence-weighted mean of the window's cell
    indices divided by W, H (no half-cell offset). Points whose column is outside the heatmap,
    or whose row is negative, stay as they are (mediapipe checks the column bound twice and
    never the row's upper bound; a row just below the heatmap still refines from its last
    rows). Returns the refined [L, 2] float32.
    """
    points = np.asarray(points, dtype=np.float32)
    height, width, count = heatmap.shape
    cols = np.trunc(points[:, 0] * width).astype(np.int64)
    rows = np.trunc(points[:, 1] * height).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0)
    offsets = np.arange(kernel) - (kernel - 1) // 2
    window_rows = rows[:, None] + offsets[None, :]
    window_cols = cols[:, None] + offsets[None, :]
    valid = (((window_rows >= 0) & (window_rows < height))[:, :, None]
             & ((window_cols >= 0) & (window_cols < width))[:, None, :])
    index = np.arange(count)[:, None, None]
    logits = heatmap[np.clip(window_rows, 0, height - 1)[:, :, None],
                     np.clip(window_cols, 0, width - 1)[:, None, :], index]
    confidence = np.where(valid, sigmoid(logits), np.float32(0.0))
    total = confidence.sum(axis=(1, 2))
    peak = confidence.max(axis=(1, 2))
    mean_col = (confidence * window_cols[:, None, :]).sum(axis=(1, 2))
    mean_row = (confidence * window_rows[:, :, None]).sum(axis=(1, 2))
    refine = inside & (peak >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    refined = points.copy()
    refined[refine, 0] = (mean_col / width / safe)[refine]
    refined[refine, 1] = (mean_row / height / safe)[refine]
    return refined


def project_world(world: np.ndarray, rotation: float) -> np.ndarray:
    """World landmarks [N, 3] m turned about z by ``rotation`` rad (x, y only)."""
    c, s = np.cos(rotation), np.sin(rotation)
    out = np.array(world, dtype=np.float32, copy=True)
    out[:, 0] = c * world[:, 0] - s * world[:, 1]
    out[:, 1] = s * world[:, 0] + c * world[:, 1]
    return out


class LandmarkModel:
    """The landmark model on a runtime; outputs are found by their shapes."""

    def __init__(self, runtime: Runtime, refine: bool = True) -> None:
        self.runtime = runtime
        self.refine = refine
        shapes = [tuple(shape) for shape in runtime.output_shapes]
        self._index = {}
        for key, shape in OUTPUT_SHAPES.items():
            if shape not in shapes:
                raise CheckpointError(f'{runtime.path} has outputs {shapes}: no {key} output '
                                      f'of shape {shape}; not the BlazePose landmark model')
            self._index[key] = shapes.index(shape)

    def run(self, image: np.ndarray, roi: Roi) -> LandmarkResult:
        """Landmarks of the person in ``roi`` of ``image`` [H, W, 3] uint8 RGB."""
        pixels = crop(image, roi, INPUT_SIZE)
        tensor = (pixels.astype(np.float32) * np.float32(1.0 / 255.0))[None]
        outputs = self.runtime.run(tensor)
        return self.decode({key: outputs[index] for key, index in self._index.items()}, roi)

    def decode(self, outputs: dict, roi: Roi) -> LandmarkResult:
        """Model outputs by name (see OUTPUT_SHAPES) for ``roi`` -> a LandmarkResult."""
        raw = np.asarray(outputs['landmarks'], dtype=np.float32).reshape(NUM_LANDMARKS, 5)
        normalised = raw[:, :2] / np.float32(INPUT_SIZE)
        if self.refine:
            heatmap = np.asarray(outputs['heatmap'], dtype=np.float32).reshape(
                OUTPUT_SHAPES['heatmap'][1:])
            normalised = refine_from_heatmap(normalised, heatmap)
        world = np.asarray(outputs['world'], dtype=np.float32).reshape(NUM_LANDMARKS, 3)
        return LandmarkResult(
            presence=float(np.asarray(outputs['presence']).reshape(-1)[0]),
            points=to_frame(normalised * INPUT_SIZE, roi, INPUT_SIZE),
            visibility=sigmoid(raw[:, 3]), landmark_presence=sigmoid(raw[:, 4]),
            world=project_world(world[:NUM_POSE], roi.rotation), roi=roi)
