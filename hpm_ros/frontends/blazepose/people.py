"""Per-person state of the BlazePose front end: one slot per tracking ID, duplicates, search.

A slot holds what mediapipe keeps for its one person, for each ID: the ROI of the next frame
(from the smoothed auxiliary landmarks) and the landmark filters. An ID observed in a frame
keeps both; an ID not observed loses its ROI and its filters are reset (mediapipe: "a frame
without a pose resets every filter"), while its ID lives on in the tracker for the expiry
time. Two tracked ROIs that converge onto one person (one walked in front of the other) are
resolved by keeping the observation that best fits its own track's predicted box. ROS-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from hpm_ros.frontends.blazepose.landmarks import NUM_POSE, LandmarkResult
from hpm_ros.frontends.blazepose.roi import Roi
from hpm_ros.frontends.blazepose.tracking import PoseSmoother
from hpm_ros.people_tracking import UNMATCHED, PeopleTracker, box_iou

DUPLICATE_IOU = 0.5


@dataclass
class PersonSlot:
    """One ID's BlazePose state: roi for the next frame (None: not tracked) and filters."""

    roi: Optional[Roi] = None
    smoother: PoseSmoother = field(default_factory=PoseSmoother)

    def lose(self) -> None:
        """Forget the ROI and reset the filters (the person was not seen in this frame)."""
        self.roi = None
        self.smoother.reset()


@dataclass
class Candidate:
    """A landmark result to be associated.

    how: how it was found ('tracking', 'pose_detector', 'face', 'box'); claim: the ID whose
    ROI produced it (-1 for any other source).
    """

    result: LandmarkResult
    how: str
    claim: int = UNMATCHED

    @property
    def box(self) -> tuple:
        """(x0, y0, x1, y1) px around the 33 pose landmarks (unclipped)."""
        points = self.result.points[:NUM_POSE]
        low, high = points.min(axis=0), points.max(axis=0)
        return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def drop_duplicates(candidates: List[Candidate], tracker: PeopleTracker,
                    stamp: float) -> List[Candidate]:
    """Return ``candidates`` without those overlapping a kept one by > :data:`DUPLICATE_IOU`.

    Of such a pair the one whose box fits its claimed track's predicted box best is kept
    (unclaimed ones fit worst), the others in list order.
    """
    if len(candidates) < 2:
        return list(candidates)

    def fit(candidate: Candidate) -> float:
        track = tracker.track(candidate.claim)
        if track is None:
            return -1.0
        predicted = track.predicted_box(stamp, tracker.velocity_decay)
        return float(box_iou(predicted[None], np.asarray(candidate.box)[None])[0, 0])

    order = sorted(range(len(candidates)), key=lambda i: -fit(candidates[i]))
    kept: List[int] = []
    for index in order:
        box = np.asarray(candidates[index].box)[None]
        if all(box_iou(box, np.asarray(candidates[k].box)[None])[0, 0] <= DUPLICATE_IOU
               for k in kept):
            kept.append(index)
    return [candidates[i] for i in sorted(kept)]
