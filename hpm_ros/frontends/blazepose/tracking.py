"""Temporal filtering between frames: mediapipe's ``PoseLandmarkFiltering`` graph.

Values of mediapipe 0.10.21's graph (read from the ``PoseLandmarkFiltering`` subgraph in the
wheel; the ``pose_landmark_filtering.pbtxt`` of older releases has other numbers):

- landmark visibilities: low-pass, alpha 0.1 (presence is not filtered);
- the 33 landmarks (px): One-Euro, min_cutoff 0.05, beta 80, derivative cutoff 1;
- world landmarks (m): One-Euro, min_cutoff 0.1, beta 40, derivative cutoff 1, no value
  scaling;
- the 2 auxiliary landmarks that give the next ROI: One-Euro, min_cutoff 0.01, beta 10,
  derivative cutoff 1.

The landmark and auxiliary filters scale the speed by 1 / object scale, the object scale
being the side of the (unscaled) alignment box of the unfiltered auxiliary landmarks,
2 |aux34 - aux33| px. Timestamps are seconds; a frame whose stamp does not increase passes
through unfiltered (the filter state is kept), as in mediapipe. A frame without a pose resets
every filter.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

LANDMARKS_FILTER = {'min_cutoff': 0.05, 'beta': 80.0, 'derivative_cutoff': 1.0}
WORLD_FILTER = {'min_cutoff': 0.1, 'beta': 40.0, 'derivative_cutoff': 1.0}
AUX_FILTER = {'min_cutoff': 0.01, 'beta': 10.0, 'derivative_cutoff': 1.0}
VISIBILITY_ALPHA = 0.1
DEFAULT_FREQUENCY = 30.0
MIN_OBJECT_SCALE = 1e-6


class LowPassFilter:
    """Exponential smoothing of an array: y = alpha x + (1 - alpha) y_prev; the first x passes."""

    def __init__(self) -> None:
        self.raw: Optional[np.ndarray] = None
        self.value: Optional[np.ndarray] = None

    def apply(self, value: np.ndarray, alpha) -> np.ndarray:
        """Filter ``value`` (any shape) with ``alpha`` (scalar or broadcastable) in [0, 1]."""
        value = np.asarray(value, dtype=np.float64)
        result = value if self.value is None else alpha * value + (1.0 - alpha) * self.value
        self.raw = value
        self.value = result
        return result


def one_euro_alpha(cutoff, frequency: float):
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled at ``frequency`` Hz."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau * frequency)


class OneEuroFilter:
    """The One-Euro filter (Casiez et al. 2012) as mediapipe's ``OneEuroFilter``, vectorised.

    Each element of the array is filtered independently; the sampling frequency comes from
    the timestamps (``DEFAULT_FREQUENCY`` until two stamps are known). The speed is
    multiplied by ``value_scale`` before it raises the cutoff.
    """

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float,
                 frequency: float = DEFAULT_FREQUENCY) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self.frequency = frequency
        self.last_stamp: Optional[float] = None
        self._x = LowPassFilter()
        self._dx = LowPassFilter()

    def apply(self, value: np.ndarray, stamp: float, value_scale: float = 1.0) -> np.ndarray:
        """Filter ``value`` observed at ``stamp`` s; float64, the shape of ``value``."""
        value = np.asarray(value, dtype=np.float64)
        if self.last_stamp is not None and stamp <= self.last_stamp:
            return value
        if self.last_stamp is not None:
            self.frequency = 1.0 / (stamp - self.last_stamp)
        self.last_stamp = stamp
        if self._x.raw is None:
            speed = np.zeros_like(value)
        else:
            speed = (value - self._x.raw) * value_scale * self.frequency
        smoothed_speed = self._dx.apply(speed, one_euro_alpha(self.derivative_cutoff,
                                                              self.frequency))
        cutoff = self.min_cutoff + self.beta * np.abs(smoothed_speed)
        return self._x.apply(value, one_euro_alpha(cutoff, self.frequency))


class PoseSmoother:
    """Filters one person's landmarks over frames; :meth:`reset` when the person is lost."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every filter's state."""
        self._points = OneEuroFilter(**LANDMARKS_FILTER)
        self._aux = OneEuroFilter(**AUX_FILTER)
        self._world = OneEuroFilter(**WORLD_FILTER)
        self._visibility = LowPassFilter()

    def apply(self, points: np.ndarray, aux: np.ndarray, world: np.ndarray,
              visibility: np.ndarray, stamp: float) -> tuple:
        """Smooth one frame.

        points [33, 2] px, aux [2, 2] px (auxiliary landmarks 33, 34), world [33, 3] m,
        visibility [33] in [0, 1]; stamp s. Returns (points, aux, world, visibility) float32,
        same shapes.
        """
        object_scale = 2.0 * float(np.hypot(*(aux[1] - aux[0])))
        smoothed_visibility = self._visibility.apply(visibility, VISIBILITY_ALPHA)
        if object_scale < MIN_OBJECT_SCALE:
            smoothed_points, smoothed_aux = np.asarray(points), np.asarray(aux)
        else:
            scale = 1.0 / object_scale
            smoothed_points = self._points.apply(points, stamp, scale)
            smoothed_aux = self._aux.apply(aux, stamp, scale)
        smoothed_world = self._world.apply(world, stamp)
        return (np.asarray(smoothed_points, np.float32), np.asarray(smoothed_aux, np.float32),
                np.asarray(smoothed_world, np.float32),
                np.asarray(smoothed_visibility, np.float32))
