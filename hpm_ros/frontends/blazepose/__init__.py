"""BlazePose GHUM (full) as the 2D front end on real images: detector, landmarks, tracking.

A re-implementation of mediapipe 0.10.21's ``PoseLandmarkCpu`` graph around the shipped
models (``models/blazepose``): the person detector gives a rotated ROI, the landmark model
the 33 landmarks in it; while tracking, the next frame's ROI comes from the smoothed
auxiliary landmarks and the detector runs again only when the person is lost. A gate
(:mod:`.gating`) refuses results that are not a person.

Several people (``max_people`` > 1): every tracking ID (:mod:`hpm_ros.people_tracking`) has
its own ROI and filters (:mod:`.people`); people not yet tracked are looked for with the
built-in box sources (:mod:`.person_boxes`: the detector with the known people masked, and
BlazeFace) or come as boxes from an external detector. With ``max_people`` 1 the front end is
mediapipe's single-person graph (the detector alone, one round). ROS-free; no download at
run time.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from hpm_ros.frontends.base import FrontEnd, FrontEndOutput, PersonDetection, validate_image
from hpm_ros.frontends.blazepose.detector import MIN_SCORE, PoseDetector
from hpm_ros.frontends.blazepose.faces import VARIANTS as FACE_VARIANTS, FaceDetector
from hpm_ros.frontends.blazepose.gating import GateThresholds, rejection
from hpm_ros.frontends.blazepose.joints import BLAZEPOSE33, landmark_confidence, to_coco17
from hpm_ros.frontends.blazepose.landmarks import AUX, NUM_POSE, LandmarkModel, LandmarkResult
from hpm_ros.frontends.blazepose.people import Candidate, PersonSlot, drop_duplicates
from hpm_ros.frontends.blazepose.person_boxes import BOX_SOURCES, PersonBoxes
from hpm_ros.frontends.blazepose.roi import Roi, roi_from_box, roi_from_points, roi_is_sane
from hpm_ros.frontends.blazepose.runtime import (DETECTOR_STEM, LANDMARK_STEM, RUNTIMES,
                                                 create_runtime, default_model_dir,
                                                 model_file)
from hpm_ros.frontends.blazepose.tracking import PoseSmoother
from hpm_ros.people_tracking import Observation, PeopleTracker

__all__ = ['BlazePoseFrontEnd', 'BLAZEPOSE33', 'BOX_SOURCES', 'FACE_VARIANTS', 'GateThresholds',
           'RUNTIMES']

NOMINAL_PERIOD_S = 1.0 / 30.0


class BlazePoseFrontEnd(FrontEnd):
    """The BlazePose 2D front end, one person (the default) or several.

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

    Several people: max_people (1: mediapipe's single-person graph); box_source
    (:data:`BOX_SOURCES`, used when max_people > 1: 'both' = the detector with the known
    people masked, then BlazeFace); face_detector: 'full' (to about 5 m) or 'short' (2 m)
    range, always run by LiteRT on the CPU (only .tflite files exist); search_interval: while
    people are tracked and fewer than max_people, look for new ones every this many frames
    (and on any frame where a tracked person was lost); track_expiry_s: how long an unseen
    person keeps its ID.
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
                 min_roi_px: float = GateThresholds.min_roi_px, max_people: int = 1,
                 box_source: str = 'both', face_detector: str = 'full',
                 search_interval: int = 5, track_expiry_s: float = 1.0) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
        if threads < 1:
            raise ValueError(f'threads must be >= 1, got {threads}')
        if max_people < 1:
            raise ValueError(f'max_people must be >= 1, got {max_people}')
        if search_interval < 1:
            raise ValueError(f'search_interval must be >= 1, got {search_interval}')
        if box_source not in BOX_SOURCES:
            raise ValueError(f'box_source must be one of {BOX_SOURCES}, got {box_source!r}')
        if face_detector not in FACE_VARIANTS:
            raise ValueError(f'face_detector must be one of {tuple(FACE_VARIANTS)}, got '
                             f'{face_detector!r}')
        self.gate = GateThresholds(min_presence, min_landmark_confidence, min_visible_landmarks,
                                   min_skeleton_px, min_roi_px)
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.runtime = runtime
        self.tracking = tracking
        self.smooth = smooth
        self.redetect_on_loss = redetect_on_loss
        self.max_people = max_people
        self.search_interval = search_interval
        detector_runtime = create_runtime(runtime, model_file(model_dir, DETECTOR_STEM, runtime),
                                          threads, device)
        self.detector = PoseDetector(detector_runtime, min_detection_score)
        self.landmarks = LandmarkModel(create_runtime(
            runtime, model_file(model_dir, LANDMARK_STEM, runtime), threads, device))
        self.faces = None
        source = box_source if max_people > 1 else 'pose_detector'
        if source != 'pose_detector':
            stem = FACE_VARIANTS[face_detector][0]
            self.faces = FaceDetector(create_runtime(
                'litert', model_file(model_dir, stem, 'litert'), threads), face_detector)
        self.boxes = PersonBoxes(self.detector, self.faces, source,
                                 retries=1 if max_people > 1 else 0)
        self.tracker = PeopleTracker(expiry_s=track_expiry_s)
        self.slots = {}
        self.last_rejection: Optional[str] = None
        self._clock = 0.0
        self._since_search = 0

    def reset(self) -> None:
        """Forget the tracked people: ROIs, filters and IDs (new IDs keep increasing)."""
        self.slots = {}
        self.tracker.reset()
        self._since_search = 0

    def close(self) -> None:
        """Release the models."""
        self.detector.runtime.close()
        self.landmarks.runtime.close()
        if self.faces is not None:
            self.faces.runtime.close()

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

    def _verify(self, image: np.ndarray, timings: dict):
        """Return the ``verify`` of :class:`PersonBoxes` for ``image``.

        It runs the landmarks on a candidate ROI (twice for a face's guess: the second time on
        the ROI of the first answer), then the gate.
        """
        height, width = image.shape[:2]

        def verify(roi: Roi, how: str):
            result = self._landmarks(image, roi, timings)
            if result is not None and how == 'face':
                refined = self._landmarks(
                    image, roi_from_points(*result.points[list(AUX)]), timings)
                result = refined if refined is not None else result
            if result is None:
                return None
            confidence = landmark_confidence(result.visibility, result.landmark_presence)
            reason = rejection(result.presence, result.points[:NUM_POSE],
                               confidence[:NUM_POSE], result.roi, width, height, self.gate)
            if reason is not None:
                self.last_rejection = reason
                return None
            candidate = Candidate(result, how)
            return candidate.box, candidate
        return verify

    def _should_search(self, tracked: int, lost: bool) -> bool:
        if tracked >= self.max_people:
            return False
        if lost:
            return self.redetect_on_loss
        if tracked == 0 or not self.tracking:
            return True
        return self._since_search >= self.search_interval

    def _candidates(self, image: np.ndarray, boxes, stamp: float, timings: dict) -> list:
        """Return the landmark results of this frame before association.

        They come from the given boxes, or from the tracked ROIs plus the people the box
        sources find.
        """
        if boxes is not None:
            found = [self._landmarks(image, roi_from_box(box), timings)
                     for box in boxes[:self.max_people]]
            return [Candidate(result, 'box') for result in found if result is not None]
        candidates, lost = [], False
        if self.tracking:
            for track_id, slot in self.slots.items():
                if slot.roi is None:
                    continue
                result = self._landmarks(image, slot.roi, timings)
                if result is None:
                    lost = True
                    slot.lose()
                else:
                    candidates.append(Candidate(result, 'tracking', track_id))
        candidates = drop_duplicates(candidates, self.tracker, stamp)
        self._since_search += 1
        if self._should_search(len(candidates), lost):
            self._since_search = 0
            candidates += self.boxes.find(image, [c.box for c in candidates],
                                          self.max_people - len(candidates),
                                          self._verify(image, timings), timings)
            if not candidates and self.boxes.detector_found_none:
                self.last_rejection = 'no detection'
        return candidates

    def process(self, image: np.ndarray, roi: Optional[tuple] = None,
                stamp: Optional[float] = None, boxes: Optional[list] = None) -> FrontEndOutput:
        """Find the people in ``image`` [H, W, 3] uint8 RGB (see :meth:`FrontEnd.process`).

        roi: (x0, y0, width, height) px where the person is: replaces the detector (an upright
        square, 1.25 x the long side, around it); boxes: several such boxes (an external
        detector's), at most ``max_people`` used; roi and boxes together are refused. stamp:
        the frame's time in seconds, for the filters and IDs (None: a nominal 30 Hz clock).
        Each person's keypoints are [33, 2] float32 px, full frame; confidence [33] =
        visibility x presence; score = pose presence; extras: 'world_landmarks' [33, 3]
        float32 m (hip-centred, camera-aligned axes), 'visibility', 'presence' [33], 'roi'
        (centre, size, rotation), 'coco17' {'keypoints' [17, 2], 'confidence' [17]},
        'tracking' (the ROI came from the previous frame), 'track_id' (int >= 1), 'found_by'
        ('tracking', 'pose_detector', 'face' or 'box'). People come largest box first.
        """
        start = time.perf_counter()
        validate_image(image)
        if roi is not None and boxes is not None:
            raise ValueError('give either roi or boxes, not both')
        boxes = [roi] if roi is not None else boxes
        if boxes is not None:
            boxes = [check_box(box) for box in boxes]
        image = np.ascontiguousarray(image)
        stamp = self._clock + NOMINAL_PERIOD_S if stamp is None else float(stamp)
        self._clock = stamp
        timings = {'detect': 0.0, 'landmarks': 0.0}
        if self.faces is not None:
            timings['faces'] = 0.0
        self.last_rejection = None
        candidates = self._candidates(image, boxes, stamp, timings)
        observations = [Observation(c.box, c.result.points[:NUM_POSE], landmark_confidence(
            c.result.visibility, c.result.landmark_presence)[:NUM_POSE], c.claim)
            for c in candidates]
        ids = self.tracker.match(observations, stamp)
        kept, kept_ids, people = [], [], []
        for candidate, observation, track_id in zip(candidates, observations, ids):
            slot = self.slots.get(track_id) or PersonSlot()
            person, aux = self._person(image, candidate.result, stamp,
                                       candidate.how == 'tracking', slot.smoother)
            if person is None:
                slot.lose()
                continue
            person.extras['found_by'] = candidate.how
            kept.append(observation)
            kept_ids.append(track_id)
            people.append((person, slot, aux))
        final = self.tracker.commit(kept, kept_ids, stamp)
        seen = {}
        for track_id, (person, slot, aux) in zip(final, people):
            person.extras['track_id'] = track_id
            slot.roi = roi_from_points(aux[0], aux[1]) if self.tracking else None
            seen[track_id] = slot
        live = {t.track_id for t in self.tracker.tracks}
        for track_id, slot in self.slots.items():
            if track_id not in seen and track_id in live:
                slot.lose()
                seen[track_id] = slot
        self.slots = seen
        found = sorted((p for p, _, _ in people), key=lambda p: -p.box[2] * p.box[3])
        timings['total'] = (time.perf_counter() - start) * 1000.0
        return FrontEndOutput(found, timings)

    def _person(self, image: np.ndarray, result: LandmarkResult, stamp: float,
                tracked: bool, smoother: PoseSmoother) -> tuple:
        points = result.points[:NUM_POSE]
        aux = result.points[list(AUX)]
        world = result.world
        visibility = result.visibility[:NUM_POSE]
        if self.tracking and self.smooth:
            points, aux, world, visibility = smoother.apply(points, aux, world, visibility,
                                                            stamp)
        presence = result.landmark_presence[:NUM_POSE]
        confidence = landmark_confidence(visibility, presence)
        height, width = image.shape[:2]
        self.last_rejection = rejection(result.presence, points, confidence, result.roi, width,
                                        height, self.gate)
        if self.last_rejection is not None:
            return None, aux
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
            score=float(result.presence), extras=extras), aux


def check_box(box) -> tuple:
    """Return a person box (x0, y0, width, height) px as floats.

    ValueError unless finite with a size >= 0 (a box too small for the landmark model gives
    nobody, no error).
    """
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError) as error:
        raise ValueError(f'a person box is (x0, y0, width, height) px, got {box!r}') from error
    if len(values) != 4 or not all(np.isfinite(values)) or values[2] < 0 or values[3] < 0:
        raise ValueError(f'a person box is finite (x0, y0, width, height) px with a size >= 0, '
                         f'got {box!r}')
    return values
