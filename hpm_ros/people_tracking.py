"""Tracking IDs of the people of one camera stream: association frame to frame, expiry.

Each track holds a person's box (x0, y0, x1, y1) px, its velocity (px/s, per corner, a
constant-velocity motion model smoothed over frames) and the last 2D joints. Every frame:

1. :meth:`PeopleTracker.match` predicts each live track's box at the frame's time and
   scores every (track, observation) pair: IoU of the predicted and observed boxes and an
   OKS-like similarity of the joints (Gaussian of their distance in units of the track's box
   size, over the joints both sides see); cost = 1 - the larger of the two. Pairs with an
   IoU below ``min_iou`` and a joint similarity below ``min_similarity`` are not allowed. An
   observation may *claim* a track (BlazePose's landmarks found from that track's own ROI):
   that pair is always allowed and costs ``claim_bonus`` less, so an ROI that slid onto
   another person who fits an unseen track better gives that person their own ID back. The
   assignment is Hungarian (``scipy.optimize.linear_sum_assignment``).
2. The caller keeps the observations it accepts and calls :meth:`PeopleTracker.commit`:
   matched tracks are updated, the others get new IDs (never reused, increasing from 1).

A track not observed keeps its ID for ``expiry_s`` (short occlusions: a person reappearing
near the predicted box gets the old ID back); the prediction then coasts with the velocity
decaying (``velocity_decay`` per second). ROS-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

UNMATCHED = -1
_FORBIDDEN = 1e6


@dataclass
class Track:
    """One person's track.

    track_id: int >= 1; box [4] float64 px (x0, y0, x1, y1) as last observed; velocity [4]
    px/s; keypoints [K, 2] px and confidence [K] of the last observation (None when the
    observations carry none); first_seen, last_seen: s; hits: frames observed.
    """

    track_id: int
    box: np.ndarray
    velocity: np.ndarray
    keypoints: Optional[np.ndarray]
    confidence: Optional[np.ndarray]
    first_seen: float
    last_seen: float
    hits: int = 1

    def predicted_box(self, stamp: float, velocity_decay: float) -> np.ndarray:
        """Return the box [4] px expected at ``stamp`` s (constant velocity, decaying)."""
        dt = max(0.0, stamp - self.last_seen)
        if velocity_decay > 0:
            travel = (1.0 - np.exp(-velocity_decay * dt)) / velocity_decay
        else:
            travel = dt
        return self.box + self.velocity * travel


@dataclass
class Observation:
    """One person seen in one frame.

    box [4] px (x0, y0, x1, y1); keypoints [K, 2] px and confidence [K] in [0, 1] (optional);
    claim: the track ID it was found from, or -1.
    """

    box: np.ndarray
    keypoints: Optional[np.ndarray] = None
    confidence: Optional[np.ndarray] = None
    claim: int = UNMATCHED

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        if not np.isfinite(self.box).all() or self.box[2] < self.box[0] \
                or self.box[3] < self.box[1]:
            raise ValueError(f'an observation box must be finite (x0, y0, x1, y1) with x1 >= '
                             f'x0, y1 >= y0, got {self.box.tolist()}')


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the IoU [N, M] of boxes a [N, 4] and b [M, 4] (x0, y0, x1, y1)."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0,
                     None)
    inter = width * height
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def keypoint_similarity(track: Track, observation: Observation, min_confidence: float,
                        sigma: float) -> float:
    """Return the OKS-like similarity in [0, 1] of a track's last joints and an observation's.

    The mean of exp(-d^2 / (2 (sigma s)^2)) over the joints both see with ``min_confidence``,
    s = sqrt(area of the track's box); 0 without common joints.
    """
    if track.keypoints is None or observation.keypoints is None \
            or track.keypoints.shape != observation.keypoints.shape:
        return 0.0
    seen = (track.confidence >= min_confidence) & (observation.confidence >= min_confidence)
    if not seen.any():
        return 0.0
    size = np.sqrt(max((track.box[2] - track.box[0]) * (track.box[3] - track.box[1]), 1.0))
    distance = np.sum((track.keypoints[seen] - observation.keypoints[seen]) ** 2, axis=1)
    return float(np.mean(np.exp(-distance / (2.0 * (sigma * size) ** 2))))


@dataclass
class PeopleTracker:
    """IDs of the people of one stream (see the module docstring).

    expiry_s: how long an unseen track keeps its ID; min_iou, min_similarity: the least IoU
    or joint similarity of an allowed pair; joint_confidence: joints below it are not
    compared; sigma: the joint distance scale (fraction of the box size); velocity_smoothing:
    weight of the newest velocity estimate (1: no smoothing); velocity_decay: 1/s;
    claim_bonus: cost taken off a claimed pair.
    """

    expiry_s: float = 1.0
    min_iou: float = 0.2
    min_similarity: float = 0.3
    joint_confidence: float = 0.5
    sigma: float = 0.1
    velocity_smoothing: float = 0.5
    velocity_decay: float = 2.0
    claim_bonus: float = 0.3
    tracks: List[Track] = field(default_factory=list)
    next_id: int = 1

    def __post_init__(self) -> None:
        import scipy.optimize  # noqa: F401  (imported now: ~0.3 s that the first frame would pay)

        if not self.expiry_s >= 0:
            raise ValueError(f'expiry_s must be >= 0, got {self.expiry_s}')
        for name in ('min_iou', 'min_similarity', 'joint_confidence', 'velocity_smoothing'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {getattr(self, name)}')

    def reset(self) -> None:
        """Forget every track (IDs keep increasing: an ID is never given twice)."""
        self.tracks = []

    def expire(self, stamp: float) -> List[int]:
        """Drop the tracks unseen for more than ``expiry_s`` at ``stamp``; return their IDs."""
        gone = [t.track_id for t in self.tracks if stamp - t.last_seen > self.expiry_s]
        self.tracks = [t for t in self.tracks if t.track_id not in gone]
        return gone

    def track(self, track_id: int) -> Optional[Track]:
        """Return the live track of ``track_id``, or None."""
        return next((t for t in self.tracks if t.track_id == track_id), None)

    def cost_matrix(self, observations: Sequence[Observation], stamp: float) -> np.ndarray:
        """[T, N] costs in [0, 1] of live tracks x observations; _FORBIDDEN where not allowed."""
        if not self.tracks or not observations:
            return np.zeros((len(self.tracks), len(observations)))
        predicted = np.stack([t.predicted_box(stamp, self.velocity_decay) for t in self.tracks])
        iou = box_iou(predicted, np.stack([o.box for o in observations]))
        similarity = np.array([[keypoint_similarity(t, o, self.joint_confidence, self.sigma)
                                for o in observations] for t in self.tracks])
        allowed = (iou >= self.min_iou) | (similarity >= self.min_similarity)
        return np.where(allowed, 1.0 - np.maximum(iou, similarity), _FORBIDDEN)

    def match(self, observations: Sequence[Observation], stamp: float) -> List[int]:
        """Return the track ID of each observation at ``stamp`` s, or -1 (a new person).

        Expired tracks are dropped first. A claimed pair is always allowed and its cost
        lowered by ``claim_bonus``; observations and live tracks are then assigned by minimum
        total cost over the allowed pairs. Nothing is updated: :meth:`commit` the
        observations that are kept.
        """
        from scipy.optimize import linear_sum_assignment

        self.expire(stamp)
        ids = [UNMATCHED] * len(observations)
        if not self.tracks or not observations:
            return ids
        cost = self.cost_matrix(observations, stamp)
        row_of = {t.track_id: row for row, t in enumerate(self.tracks)}
        for column, observation in enumerate(observations):
            row = row_of.get(observation.claim)
            if row is not None:
                cost[row, column] = min(cost[row, column], 1.0) - self.claim_bonus
        for row, column in zip(*linear_sum_assignment(cost)):
            if cost[row, column] < _FORBIDDEN:
                ids[column] = self.tracks[row].track_id
        return ids

    def commit(self, observations: Sequence[Observation], ids: Sequence[int],
               stamp: float) -> List[int]:
        """Record the kept ``observations`` with the IDs :meth:`match` gave them (-1: new).

        Returns their final IDs.
        """
        final = []
        for observation, track_id in zip(observations, ids):
            track = self.track(track_id) if track_id != UNMATCHED else None
            keypoints = (None if observation.keypoints is None
                         else np.asarray(observation.keypoints, np.float64))
            confidence = (None if observation.confidence is None
                          else np.asarray(observation.confidence, np.float64))
            if track is None:
                track = Track(self.next_id, observation.box.copy(), np.zeros(4), keypoints,
                              confidence, stamp, stamp)
                self.next_id += 1
                self.tracks.append(track)
            else:
                dt = stamp - track.last_seen
                if dt > 0:
                    measured = (observation.box - track.box) / dt
                    track.velocity = (self.velocity_smoothing * measured
                                      + (1.0 - self.velocity_smoothing) * track.velocity)
                track.box = observation.box.copy()
                track.keypoints, track.confidence = keypoints, confidence
                track.last_seen = stamp
                track.hits += 1
            final.append(track.track_id)
        return final

    def update(self, observations: Sequence[Observation], stamp: float) -> List[int]:
        """Match and commit every observation; return their IDs."""
        return self.commit(observations, self.match(observations, stamp), stamp)
