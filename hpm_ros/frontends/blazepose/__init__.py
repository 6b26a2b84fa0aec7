"""BlazePose GHUM (full) as the 2D front end on real images: detector, landmarks, tracking.

A re-implementation of mediapipe 0.10.21's ``PoseLandmarkCpu`` graph around the shipped
models (``models/blazepose``): the person detector gives a rotated ROI, the landmark model
the 33 landmarks in it; while tracking, the next frame's ROI comes from the smoothed
auxiliary landmarks and the detector runs again only when the person is lost. A gate
(:mod:`.gating`) refuses results that are not a person. ROS-free; no download at run time.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from hpm_ros.frontends.base import FrontEnd, FrontEndOutput, PersonDetection, validate_image
from hpm_ros.frontends.blazepose.detector import MIN_SCORE, PoseDetector
from hpm_ros.frontends.blazepose.gating import GateThresholds, rejection
from hpm_ros.frontends.blazepose.joints import BLAZEPOSE33, landmark_confidence, to_coco17
from hpm_ros.frontends.blazepose.landmarks import AUX, NUM_POSE, LandmarkModel, LandmarkResult
from hpm_ros.frontends.blazepose.roi import Roi, roi_from_box, roi_from_points, roi_is_sane
from hpm_ros.frontends.blazepose.runtime import (DETECTOR_STEM, LANDMARK_STEM, RUNTIMES,
                                                 create_runtime, default_model_dir,
                                                 model_file)
from hpm_ros.frontends.blazepose.tracking import PoseSmoother

__all__ = ['BlazePoseFrontEnd', 'BLAZEPOSE33', 'GateThresholds', 'RUNTIMES']

NOMINAL_PERIOD_S = 1.0 / 30.0


class BlazePoseFrontEnd(FrontEnd):
    """The BlazePose 2D front end (at most one person per frame).

    runtime: 'litert' (the .tflite files, CPU), 'onnxruntime' (the .onnx conversions) or
    'tensorrt' (.engine files built offline; unverified, see runtime.py); model_dir: folder
    of the model files (default: the shipped ``models/blazepose``); threads: CPU threads of
    each model; device: 'cpu' or 'cuda[:N]'. tracking: take the next ROI from this frame's
    landmarks (detector only when the person is lost), else detect on every frame; smooth:
    mediapipe's landmark filters while tracking; redetect_on_loss: when the tracked person is
    lost, run the detector on the same frame (mediapipe waits for the next one).
    min_detection_score: detector score threshold (0.5, mediapipe's min_detection_confidence).
    The gate (:class:`GateThresholds`, where the defaults are explained): min_presence 0.5
    (pose presence, mediapipe's min_tracking_confidence), min_landmark_confidence 0.5 (a
    landmark counts as seen), min_visible_landmarks 8, min_skeleton_px 100 (longer side of the
    seen landmarks' box), min_roi_px 24.
    """

    name = 'blazepose'
    joint_set = 'blazepose33'

    def __init__(self, runtime: str = 'litert', model_dir=None, threads: int = 1,
                 device: str = 'cpu', tracking: bool = True, smooth: bool = True,
                 redetect_on_loss: bool = True, min_detection_score: float = MIN_SCORE,
                 min_presence: float = GateThresholds.min_presence,
                 min_landmark_confidence: float = GateThresholds.min_landmark_confidence,
                 min_visible_landmarks: int = GateThresholds.min_visible_landmarks,
                 min_skeleton_px: float = GateThresholds.min_skeleton_px,
                 min_roi_px: float = GateThresholds.min_roi_px) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
        if threads < 1:
            raise ValueError(f'threads must be >= 1, got {threads}')
        self.gate = GateThresholds(min_presence, min_landmark_confidence, min_visible_landmarks,
                                   min_skeleton_px, min_roi_px)
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.runtime = runtime
        self.tracking = tracking
        self.smooth = smooth
        self.redetect_on_loss = redetect_on_loss
        detector_runtime = create_runtime(runtime, model_file(model_dir, DETECTOR_STEM, runtime),
                                          threads, device)
        self.detector = PoseDetector(detector_runtime, min_detection_score)
        self.landmarks = LandmarkModel(create_runtime(
            runtime, model_file(model_dir, LANDMARK_STEM, runtime), threads, device))
        self.smoother = PoseSmoother()
        self.last_rejection: Optional[str] = None
        self._roi: Optional[Roi] = None
        self._clock = 0.0

    def reset(self) -> None:
        """Forget the tracked ROI and the filters (time gap, new camera, lost person)."""
        self._roi = None
        self.smoother.reset()

    def close(self) -> None:
        """Release both models."""
        self.detector.runtime.close()
        self.landmarks.runtime.close()

    def _detect(self, image: np.ndarray, timings: dict) -> Optional[LandmarkResult]:
        start = time.perf_counter()
        detections = self.detector.detect(image)
        timings['detect'] += (time.perf_counter() - start) * 1000.0
        if not detections:
            self.last_rejection = 'no detection'
            return None
        return self._landmarks(image, detections[0].roi(), timings)

    def _landmarks(self, image: np.ndarray, roi: Roi, timings: dict) -> Optional[LandmarkResult]:
        if not roi_is_sane(roi, image.shape[1], image.shape[0], self.gate.min_roi_px):
            self.last_rejection = 'roi'
            return None
        start = time.perf_counter()
        result = self.landmarks.run(image, roi)
        timings['landmarks'] += (time.perf_counter() - start) * 1000.0
        if not result.presence >= self.gate.min_presence:
            self.last_rejection = 'presence'
            return None
        return result

    def process(self, image: np.ndarray, roi: Optional[tuple] = None,
                stamp: Optional[float] = None) -> FrontEndOutput:
        """Find the person in ``image`` [H, W, 3] uint8 RGB (see :meth:`FrontEnd.process`).

        roi: (x0, y0, width, height) px where the person is: replaces the detector (an upright
        square, 1.25 x the long side, around it). stamp: the frame's time in seconds, for the
        filters (None: a nominal 30 Hz clock). The person's keypoints are [33, 2] float32 px,
        full frame; confidence [33] = visibility x presence; score = pose presence; extras:
        'world_landmarks' [33, 3] float32 m (hip-centred, camera-aligned axes), 'visibility',
        'presence' [33], 'roi' (centre, size, rotation), 'coco17' {'keypoints' [17, 2],
        'confidence' [17]}, 'tracking' (the ROI came from the previous frame).
        """
        start = time.perf_counter()
        validate_image(image)
        image = np.ascontiguousarray(image)
        stamp = self._clock + NOMINAL_PERIOD_S if stamp is None else float(stamp)
        self._clock = stamp
        timings = {'detect': 0.0, 'landmarks': 0.0}
        self.last_rejection = None
        tracked = roi is None and self.tracking and self._roi is not None
        if roi is not None:
            result = self._landmarks(image, roi_from_box(roi), timings)
        elif tracked:
            result = self._landmarks(image, self._roi, timings)
            if result is None:
                self.reset()
                tracked = False
                if self.redetect_on_loss:
                    result = self._detect(image, timings)
        else:
            result = self._detect(image, timings)
        people = []
        if result is None:
            self.reset()
        else:
            person = self._person(image, result, stamp, tracked)
            if person is None:
                self.reset()
            else:
                people.append(person)
        timings['total'] = (time.perf_counter() - start) * 1000.0
        return FrontEndOutput(people, timings)

    def _person(self, image: np.ndarray, result: LandmarkResult, stamp: float,
                tracked: bool) -> Optional[PersonDetection]:
        points = result.points[:NUM_POSE]
        aux = result.points[list(AUX)]
        world = result.world
        visibility = result.visibility[:NUM_POSE]
        if self.tracking and self.smooth:
            points, aux, world, visibility = self.smoother.apply(points, aux, world, visibility,
                                                                 stamp)
        presence = result.landmark_presence[:NUM_POSE]
        confidence = landmark_confidence(visibility, presence)
        height, width = image.shape[:2]
        self.last_rejection = rejection(result.presence, points, confidence, result.roi, width,
                                        height, self.gate)
        if self.last_rejection is not None:
            return None
        if self.tracking:
            self._roi = roi_from_points(aux[0], aux[1])
        low = np.clip(points.min(axis=0), 0, [width - 1, height - 1])
        high = np.clip(points.max(axis=0), 0, [width - 1, height - 1])
        coco_points, coco_confidence = to_coco17(points, confidence)
        extras = {'world_landmarks': world, 'visibility': visibility, 'presence': presence,
                  'roi': result.roi.as_dict(),
                  'coco17': {'keypoints': coco_points, 'confidence': coco_confidence},
                  'tracking': tracked}
        return PersonDetection(
            box=(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1])),
            keypoints=points.astype(np.float32), confidence=confidence, joint_set=self.joint_set,
            score=float(result.presence), extras=extras)
