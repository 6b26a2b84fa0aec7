"""The BlazePose person detector: mediapipe's ``PoseDetectionCpu`` graph re-implemented.

Steps (options from mediapipe 0.10.21's ``pose_detection_cpu.pbtxt``): the frame letterboxed
into 224 x 224 (aspect kept, black padding, values in [-1, 1]); the model's raw tensors
[1, 2254, 12] (box x, y, w, h then 4 keypoints x, y, in 224-px units relative to the anchor
centres: ``reverse_output_order``, i.e. XYWH) and [1, 2254, 1] (score logits); scores clipped
to [-100, 100], sigmoid, kept from 0.5; weighted non-maximum suppression at IoU 0.3; the
letterbox undone. Keypoint 0 is the mid-hip centre, keypoint 1 encodes body size and
rotation (keypoints 2, 3 do the same for the upper body).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

from hpm_ros.errors import CheckpointError
from hpm_ros.frontends.blazepose.anchors import INPUT_SIZE, NUM_ANCHORS, ssd_anchors
from hpm_ros.frontends.blazepose.roi import Roi, crop, roi_from_points, to_frame
from hpm_ros.frontends.blazepose.runtime import Runtime

NUM_COORDS = 12
NUM_KEYPOINTS = 4
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass
class Detection:
    """One detected person.

    score in [0, 1]; box (xmin, ymin, xmax, ymax) px, full frame (the detector's box is
    around the face); keypoints [4, 2] float32 px, full frame.
    """

    score: float
    box: tuple
    keypoints: np.ndarray

    def roi(self) -> Roi:
        """Return the landmark model's ROI: on keypoint 0, sized and turned by keypoint 1."""
        return roi_from_points(self.keypoints[0], self.keypoints[1])


def letterbox_roi(width: int, height: int) -> Roi:
    """Return the upright square around the whole frame that the 224 x 224 letterbox samples."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def detector_input(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """``image`` [H, W, 3] uint8 RGB -> [1, size, size, 3] float32 in [-1, 1], letterboxed."""
    pixels = crop(image, letterbox_roi(image.shape[1], image.shape[0]), size, border_zero=True)
    return (pixels.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0))[None]


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, scale: float = INPUT_SIZE,
                 num_keypoints: int = NUM_KEYPOINTS) -> tuple:
    """Raw [N, 4 + 2 K] (XYWH + K keypoints, ``scale`` units) -> boxes, keypoints.

    Boxes [N, 4], keypoints [N, K, 2] (K = ``num_keypoints``: 4 for the pose detector, 6 for
    the face detectors). Boxes (xmin, ymin, xmax, ymax) and keypoints (x, y) are normalised
    to the model input; anchors [N, 4] (x, y, w, h) as :func:`ssd_anchors` (w = h = 1 for
    the pose detector).
    """
    raw = np.asarray(raw, dtype=np.float32).reshape(-1, 4 + 2 * num_keypoints)
    centre = anchors[:, None, :2]
    size = anchors[:, None, 2:4]
    x_centre = raw[:, 0] / scale * anchors[:, 2] + anchors[:, 0]
    y_centre = raw[:, 1] / scale * anchors[:, 3] + anchors[:, 1]
    width = raw[:, 2] / scale * anchors[:, 2]
    height = raw[:, 3] / scale * anchors[:, 3]
    boxes = np.stack([x_centre - width / 2, y_centre - height / 2,
                      x_centre + width / 2, y_centre + height / 2], axis=1)
    keypoints = raw[:, 4:].reshape(-1, num_keypoints, 2) / scale * size + centre
    return boxes.astype(np.float32), keypoints.astype(np.float32)


def sigmoid_scores(raw: np.ndarray, clip: float = SCORE_CLIP) -> np.ndarray:
    """Score logits [N] or [N, 1] -> probabilities [N] float32, logits clipped to +-clip."""
    logits = np.clip(np.asarray(raw, dtype=np.float64).reshape(-1), -clip, clip)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` [4] with ``boxes`` [N, 4] (xmin, ymin, xmax, ymax)."""
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 threshold: float = NMS_IOU) -> list:
    """Merge overlapping detections: mediapipe's WEIGHTED non-maximum suppression.

    Take the best remaining box; every remaining box whose IoU with it exceeds ``threshold``
    (itself included) is merged into it: box corners and keypoints averaged with the scores as
    weights; the merged detection keeps the best score. Returns [(score, box [4],
    keypoints [K, 2])], best first.
    """
    order = np.argsort(-scores, kind='stable')
    remaining = order
    results = []
    while remaining.size:
        best = remaining[0]
        overlap = iou(boxes[best], boxes[remaining]) > threshold
        members = remaining[overlap]
        if not members.size:
            # A degenerate (zero-area) best box overlaps nothing, itself included: mediapipe
            # keeps it as it is and stops there.
            results.append((float(scores[best]), boxes[best], keypoints[best]))
            break
        weights = scores[members].astype(np.float64)
        total = weights.sum()
        box = (boxes[members] * weights[:, None]).sum(axis=0) / total
        points = (keypoints[members] * weights[:, None, None]).sum(axis=0) / total
        results.append((float(scores[best]), box.astype(np.float32),
                        points.astype(np.float32)))
        remaining = remaining[~overlap]
    return results


class PoseDetector:
    """Runs the detector model on a frame: the people it finds, best first."""

    def __init__(self, runtime: Runtime, min_score: float = MIN_SCORE,
                 nms_iou: float = NMS_IOU) -> None:
        self.runtime = runtime
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.anchors = ssd_anchors()
        shapes = [tuple(shape) for shape in runtime.output_shapes]
        try:
            self._boxes = shapes.index((1, NUM_ANCHORS, NUM_COORDS))
            self._scores = shapes.index((1, NUM_ANCHORS, 1))
        except ValueError as error:
            raise CheckpointError(f'{runtime.path} has outputs {shapes}, not those of the pose '
                                  f'detector ([1, 2254, 12] and [1, 2254, 1])') from error

    def detect(self, image: np.ndarray) -> List[Detection]:
        """People in ``image`` [H, W, 3] uint8 RGB, full-frame px, best score first."""
        outputs = self.runtime.run(detector_input(image))
        return self.decode(outputs[self._boxes], outputs[self._scores],
                           image.shape[1], image.shape[0])

    def decode(self, raw_boxes: np.ndarray, raw_scores: np.ndarray, width: int,
               height: int) -> List[Detection]:
        """Raw model outputs -> detections in the full ``width`` x ``height`` frame."""
        scores = sigmoid_scores(raw_scores)
        boxes, keypoints = decode_boxes(raw_boxes, self.anchors)
        keep = ((scores >= self.min_score) & (boxes[:, 2] >= boxes[:, 0])
                & (boxes[:, 3] >= boxes[:, 1]) & np.isfinite(boxes).all(axis=1))
        merged = weighted_nms(boxes[keep], scores[keep], keypoints[keep], self.nms_iou)
        frame = letterbox_roi(width, height)
        detections = []
        for score, box, points in merged:
            corners = to_frame(box.reshape(2, 2) * INPUT_SIZE, frame, INPUT_SIZE)
            detections.append(Detection(score, tuple(float(v) for v in corners.reshape(-1)),
                                        to_frame(points * INPUT_SIZE, frame, INPUT_SIZE)))
        return detections
