"""Is this a person? Checks on one landmark result before the front end reports it.

mediapipe's own graph reports whatever the landmark model scores above 0.5; in an empty room
that is a small "skeleton" folded onto the furniture on most frames. The gate adds checks
that such a result fails and a person passes: enough confidently seen landmarks, a skeleton
of a minimum size and a ROI that is not collapsed.

The defaults come from the shared room video (768 x 432, 1394 frames, labelled by eye; see
``bench/blazepose.py --gating``). With only the presence check, tracking, the front end
reported a pose on 198 of 288 empty frames; those skeletons (seen landmarks' box, longer
side) measured 4-89 px while the people measured 155-324 px (177-324 px while tracking).
Seen-landmark counts do not separate them (false poses: 3-33, people: 15-25).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from hpm_ros.frontends.blazepose.roi import Roi, roi_is_sane


@dataclass(frozen=True)
class GateThresholds:
    """Thresholds of :func:`rejection`.

    min_presence: the model's pose-presence score (mediapipe's min_tracking_confidence, 0.5);
    min_landmark_confidence: confidence (visibility x presence) from which a landmark counts
    as seen; min_visible_landmarks: how many of the 33 must be seen; min_skeleton_px: the
    longer side of the box around the seen landmarks, px; min_roi_px: the smallest ROI side
    (px) worth running the landmark model on.
    """

    min_presence: float = 0.5
    min_landmark_confidence: float = 0.5
    min_visible_landmarks: int = 8
    min_skeleton_px: float = 100.0
    min_roi_px: float = 24.0

    def __post_init__(self) -> None:
        for name in ('min_presence', 'min_landmark_confidence'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        if not 0 <= self.min_visible_landmarks <= 33:
            raise ValueError(f'min_visible_landmarks must be in [0, 33], got '
                             f'{self.min_visible_landmarks}')
        if self.min_skeleton_px < 0 or self.min_roi_px < 0:
            raise ValueError('min_skeleton_px and min_roi_px must be >= 0')


def skeleton_size(points: np.ndarray, seen: np.ndarray) -> float:
    """Longer side (px) of the box around ``points`` [33, 2] where ``seen`` [33]; 0 if none."""
    if not np.any(seen):
        return 0.0
    extent = points[seen].max(axis=0) - points[seen].min(axis=0)
    return float(extent.max())


def rejection(presence: float, points: np.ndarray, confidence: np.ndarray, roi: Roi,
              width: int, height: int, thresholds: GateThresholds) -> Optional[str]:
    """Why the result is not a person ('presence', 'visible', 'size', 'roi'), or None.

    presence: pose-presence score; points [33, 2] px, full frame; confidence [33] in [0, 1];
    roi: the ROI the landmarks came from, in a ``width`` x ``height`` frame.
    """
    if not presence >= thresholds.min_presence:
        return 'presence'
    if not roi_is_sane(roi, width, height, thresholds.min_roi_px):
        return 'roi'
    seen = confidence >= thresholds.min_landmark_confidence
    if int(seen.sum()) < thresholds.min_visible_landmarks:
        return 'visible'
    if skeleton_size(points, seen) < thresholds.min_skeleton_px:
        return 'size'
    return None
