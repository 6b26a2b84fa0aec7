"""Built-in sources of person boxes for several people: where to look for people not yet known.

BlazePose's pose detector reports one person per image even with several in view (the
others' anchors score <= 0.05), so it is run again with the people already found painted
over (**detect-mask-redetect**): each round masks the known people's boxes (10 % margin,
mid grey, i.e. 0 in the detector's [-1, 1] input) and takes the best remaining detection.
People seen from the front are also found by **BlazeFace** (:mod:`.faces`), which reports
every face in one run; each face not inside a known person seeds an upright body ROI.

Every candidate ROI goes to the caller's ``verify`` (the landmark model and the person gate):
a candidate that is not a person, or whose skeleton lies mostly (> ``MAX_OVERLAP`` of its
box) on a known person (the landmark model drawn back to someone already found), costs one
landmark run and, for the detector, is masked before the next round. Sources:
'pose_detector', 'faces' or 'both' (the detector rounds first, then the faces). The measured
comparison is in ``bench/person_boxes.py``. ROS-free.
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional, Sequence

import numpy as np

from hpm_ros.frontends.blazepose.detector import PoseDetector
from hpm_ros.frontends.blazepose.faces import FaceDetector, body_roi
from hpm_ros.frontends.blazepose.roi import Roi

BOX_SOURCES = ('pose_detector', 'faces', 'both')
MASK_MARGIN = 0.1
MAX_OVERLAP = 0.5
MASK_VALUE = 128
# A verified candidate: (box (x0, y0, x1, y1) px of the person found, the caller's payload).
Verify = Callable[[Roi, str], Optional[tuple]]


def inside(point: np.ndarray, boxes: Sequence[tuple], margin: float = 0.0) -> bool:
    """Tell whether ``point`` [2] px lies in one of ``boxes`` (x0, y0, x1, y1).

    The boxes are grown by ``margin`` x their size on every side.
    """
    x, y = float(point[0]), float(point[1])
    for x0, y0, x1, y1 in boxes:
        dx, dy = margin * (x1 - x0), margin * (y1 - y0)
        if x0 - dx <= x <= x1 + dx and y0 - dy <= y <= y1 + dy:
            return True
    return False


def overlap(box: tuple, boxes: Sequence[tuple]) -> float:
    """Return the largest share of ``box``'s area (x0, y0, x1, y1) one of ``boxes`` covers."""
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1e-9)
    shares = [max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
              / area for b in boxes]
    return max(shares, default=0.0)


def mask_boxes(image: np.ndarray, boxes: Sequence[tuple], margin: float = MASK_MARGIN) -> None:
    """Paint ``boxes`` (x0, y0, x1, y1) px, grown by ``margin``, mid grey in ``image``."""
    height, width = image.shape[:2]
    for x0, y0, x1, y1 in boxes:
        dx, dy = margin * (x1 - x0), margin * (y1 - y0)
        left, top = max(0, int(np.floor(x0 - dx))), max(0, int(np.floor(y0 - dy)))
        right = min(width, int(np.ceil(x1 + dx)) + 1)
        bottom = min(height, int(np.ceil(y1 + dy)) + 1)
        if right > left and bottom > top:
            image[top:bottom, left:right] = MASK_VALUE


def roi_core(roi: Roi) -> tuple:
    """Return the central box (x0, y0, x1, y1) of an upright view of ``roi`` (half its side).

    That part of a rejected candidate is masked before the next detector round.
    """
    half = roi.side / 4.0
    return (roi.x - half, roi.y - half, roi.x + half, roi.y + half)


class PersonBoxes:
    """Finds candidate people that are not among the known ones (see the module docstring).

    detector: the pose detector; faces: a BlazeFace detector (needed by 'faces' and 'both');
    source: one of :data:`BOX_SOURCES`; retries: detector rounds allowed to yield a
    candidate that is not a person (0: stop at the first, mediapipe's single-person graph).
    """

    def __init__(self, detector: PoseDetector, faces: Optional[FaceDetector] = None,
                 source: str = 'both', retries: int = 1) -> None:
        if source not in BOX_SOURCES:
            raise ValueError(f'person box source must be one of {BOX_SOURCES}, got {source!r}')
        if source != 'pose_detector' and faces is None:
            raise ValueError(f'person box source {source!r} needs a face detector')
        self.detector = detector
        self.faces = faces
        self.source = source
        self.retries = retries
        self.detector_found_none = False

    def find(self, image: np.ndarray, known: Sequence[tuple], wanted: int, verify: Verify,
             timings: dict) -> List[object]:
        """Find up to ``wanted`` new people in ``image`` [H, W, 3] uint8 RGB.

        Returns the payloads of the candidates ``verify`` accepted, in the order found.

        known: boxes (x0, y0, x1, y1) px of the people already found in this frame (masked,
        and no candidate inside them is tried); timings: 'detect' and 'faces' ms are added.
        :attr:`detector_found_none` tells afterwards whether the detector's first round came
        back empty.
        """
        known = list(known)
        found = []
        self.detector_found_none = False
        if wanted <= 0:
            return found
        if self.source in ('pose_detector', 'both'):
            found += self._redetect(image, known, wanted, verify, timings)
        if self.source in ('faces', 'both') and len(found) < wanted:
            found += self._from_faces(image, known, wanted - len(found), verify, timings)
        return found

    def _redetect(self, image: np.ndarray, known: list, wanted: int, verify: Verify,
                  timings: dict) -> list:
        work = image
        if known:
            work = image.copy()
            mask_boxes(work, known)
        found, misses = [], 0
        while len(found) < wanted and misses <= self.retries:
            start = time.perf_counter()
            detections = self.detector.detect(work)
            timings['detect'] = timings.get('detect', 0.0) + (time.perf_counter() - start) * 1e3
            detections = [d for d in detections if not inside(d.keypoints[0], known)]
            if not detections:
                self.detector_found_none = not found and not misses
                break
            roi = detections[0].roi()
            verified = verify(roi, 'pose_detector')
            if work is image:
                work = image.copy()
            if verified is None or overlap(verified[0], known) > MAX_OVERLAP:
                misses += 1
                mask_boxes(work, [roi_core(roi)], 0.0)
                continue
            box, payload = verified
            known.append(box)
            found.append(payload)
            mask_boxes(work, [box])
        return found

    def _from_faces(self, image: np.ndarray, known: list, wanted: int, verify: Verify,
                    timings: dict) -> list:
        start = time.perf_counter()
        faces = self.faces.detect(image)
        timings['faces'] = timings.get('faces', 0.0) + (time.perf_counter() - start) * 1e3
        found = []
        for face in faces:
            if len(found) >= wanted:
                break
            centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
            if inside(centre, known, MASK_MARGIN):
                continue
            verified = verify(body_roi(face), 'face')
            if verified is not None and overlap(verified[0], known) <= MAX_OVERLAP:
                known.append(verified[0])
                found.append(verified[1])
        return found
