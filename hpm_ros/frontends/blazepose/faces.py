"""BlazeFace, mediapipe's multi-face detector, as a seed of person boxes.

The pose detector finds one person per image; the face detectors of the same mediapipe
0.10.21 wheel find every face. Variants (options of mediapipe's
``face_detection_full_range.pbtxt`` / ``face_detection_short_range.pbtxt``, decoding of
``face_detection.pbtxt``):

- 'full' (``face_detection_full_range_sparse.tflite``, faces up to about 5 m): 192 x 192
  input, one anchor layer of stride 4 without interpolated anchors (48 x 48 = 2304 anchors),
  score threshold 0.6;
- 'short' (``face_detection_short_range.tflite``, within about 2 m): 128 x 128, strides
  8, 16, 16, 16 with interpolated anchors (896 anchors), threshold 0.5.

Both: the frame letterboxed (black padding, values in [-1, 1]); raw [1, N, 16] (box x, y,
w, h then 6 keypoints x, y in input pixels relative to the anchor centres) and [1, N, 1]
score logits; sigmoid of the logits clipped to +-100; weighted NMS at IoU 0.3. Keypoints:
right eye, left eye, nose tip, mouth centre, right ear, left ear (the person's sides).

:func:`body_roi` turns a face into the upright square ROI in which the landmark model
expects the whole person (hips at the centre). ROS-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

from hpm_ros.errors import CheckpointError
from hpm_ros.frontends.blazepose.anchors import ssd_anchors
from hpm_ros.frontends.blazepose.detector import (NMS_IOU, decode_boxes, detector_input,
                                                  letterbox_roi, sigmoid_scores, weighted_nms)
from hpm_ros.frontends.blazepose.roi import Roi, to_frame
from hpm_ros.frontends.blazepose.runtime import Runtime

NUM_FACE_KEYPOINTS = 6
# variant -> (model stem, input size, strides, interpolated anchor ratio, score threshold)
VARIANTS = {
    'full': ('face_detection_full_range_sparse', 192, (4,), 0.0, 0.6),
    'short': ('face_detection_short_range', 128, (8, 16, 16, 16), 1.0, 0.5),
}
# A standing adult measured in face-box heights s (the detector's box spans brows to chin,
# about 1/8 of the body height H): hips 3.5 s below the face centre, and the landmark model's
# ROI side about 1.35 H (mediapipe's ROI: 2.5 x the hip-to-head-top distance).
HIPS_BELOW_FACE = 3.5
ROI_SIDE_PER_FACE = 10.5


@dataclass
class Face:
    """One face.

    score in [0, 1]; box (xmin, ymin, xmax, ymax) px, full frame; keypoints [6, 2] float32
    px, full frame (right eye, left eye, nose, mouth, right ear, left ear).
    """

    score: float
    box: tuple
    keypoints: np.ndarray


def body_roi(face: Face) -> Roi:
    """Return the upright ROI [px] where the landmark model should see ``face``'s person."""
    x0, y0, x1, y1 = face.box
    size = max(x1 - x0, y1 - y0)
    centre_x, centre_y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return Roi(centre_x, centre_y + HIPS_BELOW_FACE * size, ROI_SIDE_PER_FACE * size, 0.0)


class FaceDetector:
    """Runs one BlazeFace variant on a frame: every face, best first."""

    def __init__(self, runtime: Runtime, variant: str = 'full', min_score: float = None,
                 nms_iou: float = NMS_IOU) -> None:
        if variant not in VARIANTS:
            raise ValueError(f'face detector variant must be one of {tuple(VARIANTS)}, got '
                             f'{variant!r}')
        _, self.size, strides, interpolated, threshold = VARIANTS[variant]
        self.runtime = runtime
        self.variant = variant
        self.min_score = threshold if min_score is None else min_score
        self.nms_iou = nms_iou
        self.anchors = ssd_anchors(self.size, strides, interpolated_ratio=interpolated)
        count = len(self.anchors)
        shapes = [tuple(shape) for shape in runtime.output_shapes]
        try:
            self._boxes = shapes.index((1, count, 4 + 2 * NUM_FACE_KEYPOINTS))
            self._scores = shapes.index((1, count, 1))
        except ValueError as error:
            raise CheckpointError(
                f'{runtime.path} has outputs {shapes}, not those of the {variant}-range face '
                f'detector ([1, {count}, 16] and [1, {count}, 1])') from error
        if tuple(runtime.input_shape) != (1, self.size, self.size, 3):
            raise CheckpointError(f'{runtime.path} takes {runtime.input_shape}, the {variant}'
                                  f'-range face detector [1, {self.size}, {self.size}, 3]')
        # The first run sets up the runtime's kernels (about 80 ms against 5 ms after): done
        # here, not on the first frame of a stream.
        runtime.run(np.zeros((1, self.size, self.size, 3), np.float32))

    def detect(self, image: np.ndarray) -> List[Face]:
        """Faces in ``image`` [H, W, 3] uint8 RGB, full-frame px, best score first."""
        outputs = self.runtime.run(detector_input(image, self.size))
        return self.decode(outputs[self._boxes], outputs[self._scores], image.shape[1],
                           image.shape[0])

    def decode(self, raw_boxes: np.ndarray, raw_scores: np.ndarray, width: int,
               height: int) -> List[Face]:
        """Raw model outputs -> faces in the full ``width`` x ``height`` frame."""
        scores = sigmoid_scores(raw_scores)
        boxes, keypoints = decode_boxes(raw_boxes, self.anchors, self.size, NUM_FACE_KEYPOINTS)
        keep = ((scores >= self.min_score) & (boxes[:, 2] > boxes[:, 0])
                & (boxes[:, 3] > boxes[:, 1]) & np.isfinite(boxes).all(axis=1))
        frame = letterbox_roi(width, height)
        faces = []
        for score, box, points in weighted_nms(boxes[keep], scores[keep], keypoints[keep],
                                               self.nms_iou):
            corners = to_frame(box.reshape(2, 2) * self.size, frame, self.size)
            faces.append(Face(score, tuple(float(v) for v in corners.reshape(-1)),
                              to_frame(points * self.size, frame, self.size)))
        return faces
