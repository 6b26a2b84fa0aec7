"""The paper's Ψ_R as a front end: a square person crop of the frame -> 2D joint maps and joints.

Runs Ψ_R of an image checkpoint (``lite`` or ``paper``, trained here on synthetic renders) on
a backend (:mod:`hpm_ros.backends`). The crop comes from the caller's ROI, else from the last
2D pose (tracking), else the whole frame letterboxed. The person's ``extras`` carry what Ψ_T
of the same model reads: 'features' f2d [1, C, F, F], 'pose2d' [1, K, 2] normalised crop
coordinates, 'confidence' [1, K] and 'crop' (the :class:`hpm_ros.crop.CropBox`).
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from hpm_ros.crop import (CropBox, box_around, box_from_keypoints, crop_image, letterbox_box)
from hpm_ros.frontends.base import FrontEnd, FrontEndOutput, PersonDetection, validate_image

CROP_POLICIES = ('auto', 'roi', 'track', 'full')


class PsiRFrontEnd(FrontEnd):
    """Ψ_R of ``backend`` on one camera stream.

    crop_policy: 'auto' (ROI if given, else a box around the last 2D pose, else the whole
    frame letterboxed), 'roi', 'track' (previous pose, else whole frame) or 'full';
    crop_margin: square crop side / person extent; lost_confidence: mean joint confidence
    below which nobody is reported (and tracking stops); joint_confidence: joints below it do
    not define the tracking box.
    """

    name = 'psi_r'

    def __init__(self, backend, joint_set: str = 'h36m17', crop_policy: str = 'auto',
                 crop_margin: float = 1.25, lost_confidence: float = 0.08,
                 joint_confidence: float = 0.1) -> None:
        if crop_policy not in CROP_POLICIES:
            raise ValueError(f'crop_policy must be one of {CROP_POLICIES}, got {crop_policy!r}')
        if crop_margin < 1.0:
            raise ValueError(f'crop_margin must be >= 1, got {crop_margin}')
        self.backend, self.joint_set = backend, joint_set
        self.crop_policy, self.crop_margin = crop_policy, crop_margin
        self.lost_confidence, self.joint_confidence = lost_confidence, joint_confidence
        self.input_size = backend.config.input_size
        self.track_box: Optional[CropBox] = None

    def reset(self) -> None:
        """Forget the tracked box."""
        self.track_box = None

    def _choose_box(self, width: int, height: int, roi: Optional[tuple]) -> CropBox:
        if roi is not None and self.crop_policy in ('auto', 'roi'):
            return box_around(*roi, margin=self.crop_margin)
        if self.track_box is not None and self.crop_policy in ('auto', 'track'):
            return self.track_box
        return letterbox_box(width, height)

    def process(self, image: np.ndarray, roi: Optional[tuple] = None,
                stamp: Optional[float] = None) -> FrontEndOutput:
        """See :meth:`FrontEnd.process`; ``stamp`` is not used (Ψ_R has no motion model)."""
        validate_image(image)
        start = time.perf_counter()
        height, width = image.shape[:2]
        box = self._choose_box(width, height, roi)
        crop = crop_image(image, box, self.input_size)
        tensor = torch.from_numpy(crop).to(self.backend.device).permute(2, 0, 1)[None]
        mark = time.perf_counter()
        features, _, pose2d, confidence = self.backend.run_pose2d(tensor.float() / 255.0)
        timings = {'crop': (mark - start) * 1000.0,
                   'pose2d': (time.perf_counter() - mark) * 1000.0}
        scores = confidence[0].detach().cpu().numpy().astype(np.float32)
        keypoints = box.to_image(pose2d[0].detach().cpu().numpy()).astype(np.float32)
        if float(scores.mean()) < self.lost_confidence:
            self.track_box = None
            return FrontEndOutput([], timings)
        self.track_box = box_from_keypoints(keypoints, scores, self.crop_margin,
                                            self.joint_confidence)
        present = keypoints[scores >= self.joint_confidence]
        present = present if len(present) >= 2 else keypoints
        low, high = present.min(axis=0), present.max(axis=0)
        person = PersonDetection(
            box=(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1])),
            keypoints=keypoints, confidence=scores, joint_set=self.joint_set,
            score=float(scores.mean()),
            extras={'features': features, 'pose2d': pose2d, 'confidence': confidence,
                    'crop': box})
        return FrontEndOutput([person], timings)
