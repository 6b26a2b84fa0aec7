"""A 2D detector's errors, simulated on exact 2D joints: jitter, misses, left/right swaps, box.

The keypoints front end is trained on motion capture seen by virtual cameras; this model makes
the exact projections look like a detector's output (H36M-17 order, pixels):

- jitter: every joint moves by N(0, s²) per axis with s = ``jitter`` × the person's size
  (the longer side of the tight box around the exact joints), × ``extremity_factor`` for the
  wrists and ankles, or × ``joint_factors[j]`` (17 values, H36M-17 order) when given;
- heavy tails: with probability ``tail_rate`` per joint and frame the jitter's s is
  multiplied by ``tail_scale`` (a Gaussian scale mixture);
- misses: with probability ``miss_rate`` per joint and frame the joint lands N(0, s_m²) per
  axis away, s_m = ``miss_offset`` × size, with a low confidence drawn from
  ``miss_confidence``; joints outside the image also get a low confidence (their position
  keeps the ordinary jitter);
- confidence of the other joints: uniform in ``hit_confidence``;
- swaps: with probability ``swap_rate`` per frame one limb (an arm or a leg, chosen evenly:
  its three joints with their confidences) trades places with its mirror image;
- box jitter (:func:`jitter_boxes`, training only): the square box that the front end
  normalises with moves by N(0, (``box_shift`` × side)²) per axis and its side is scaled by
  exp(N(0, ``box_scale``²)). At lift time the box is the deterministic one around the
  detections.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from hpm_ros.errors import ConfigError
from hpm_ros.skeleton import H36M17

EXTREMITIES = tuple(H36M17.index(name) for name in ('RFoot', 'LFoot', 'LWrist', 'RWrist'))
LIMBS = {
    'arm': tuple((H36M17.index('L' + j), H36M17.index('R' + j))
                 for j in ('Shoulder', 'Elbow', 'Wrist')),
    'leg': tuple((H36M17.index('L' + j), H36M17.index('R' + j)) for j in ('Hip', 'Knee', 'Foot')),
}


@dataclass(frozen=True)
class KeypointNoise:
    """Parameters of the detector model (see the module docstring); fractions of the
    person's size unless stated; probabilities in [0, 1]; confidence ranges (low, high)."""

    jitter: float = 0.01
    extremity_factor: float = 1.5
    miss_rate: float = 0.03
    miss_offset: float = 0.15
    miss_confidence: tuple = (0.0, 0.3)
    hit_confidence: tuple = (0.5, 1.0)
    swap_rate: float = 0.01
    box_shift: float = 0.04
    box_scale: float = 0.05
    joint_factors: tuple = ()
    tail_rate: float = 0.0
    tail_scale: float = 1.0

    def __post_init__(self) -> None:
        factors = tuple(float(v) for v in self.joint_factors)
        if factors and (len(factors) != H36M17.num_joints or min(factors) < 0):
            raise ConfigError(f'keypoint noise joint_factors must be {H36M17.num_joints} '
                              f'numbers >= 0, got {self.joint_factors!r}')
        object.__setattr__(self, 'joint_factors', factors)
        if not 0.0 <= self.tail_rate <= 1.0 or not self.tail_scale >= 1.0:
            raise ConfigError('keypoint noise tail_rate must be in [0, 1] and tail_scale '
                              f'>= 1, got {self.tail_rate!r}, {self.tail_scale!r}')
        for name in ('jitter', 'extremity_factor', 'miss_offset', 'box_shift', 'box_scale'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f'keypoint noise {name} must be a finite number >= 0, '
                                  f'got {value!r}')
        for name in ('miss_rate', 'swap_rate'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f'keypoint noise {name} must be in [0, 1], '
                                  f'got {getattr(self, name)!r}')
        for name in ('miss_confidence', 'hit_confidence'):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0.0 <= value[0] <= value[1] <= 1.0:
                raise ConfigError(f'keypoint noise {name} must be (low, high) with '
                                  f'0 <= low <= high <= 1, got {getattr(self, name)!r}')
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, data: dict) -> 'KeypointNoise':
        """Defaults with the given fields replaced; ConfigError for unknown fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f'unknown keypoint noise settings {unknown}; known: '
                              f'{sorted(known)}')
        return cls(**data)

    def without_errors(self) -> 'KeypointNoise':
        """The same confidences with no jitter, misses, swaps or box jitter."""
        return KeypointNoise(jitter=0.0, miss_rate=0.0, swap_rate=0.0, box_shift=0.0,
                             box_scale=0.0, hit_confidence=self.hit_confidence,
                             miss_confidence=self.miss_confidence)


@dataclass
class Detections:
    """Simulated detector output for T frames.

    keypoints [T, 17, 2] float32 px (H36M-17 order); confidence [T, 17] float32 in [0, 1];
    missed [T, 17] bool (drawn misses); outside [T, 17] bool (exact joint outside the image);
    swapped [T] bool; person_size [T] float64 px.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    missed: np.ndarray
    outside: np.ndarray
    swapped: np.ndarray
    person_size: np.ndarray


def person_size(keypoints: np.ndarray) -> np.ndarray:
    """Longer side [...] of the tight box around keypoints [..., K, 2] (px)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    return (keypoints.max(axis=-2) - keypoints.min(axis=-2)).max(axis=-1)


def simulate_detections(keypoints: np.ndarray, rng: np.random.Generator,
                        noise: KeypointNoise, image_size: tuple = None) -> Detections:
    """Detector-like output for exact H36M-17 projections ``keypoints`` [T, 17, 2] px.

    image_size: (W, H) px, or None when every joint counts as inside the image.
    Deterministic given the state of ``rng``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (H36M17.num_joints, 2):
        raise ValueError(f'keypoints must be [T, 17, 2] px, got {keypoints.shape}')
    frames, joints = keypoints.shape[:2]
    size = person_size(keypoints)
    if noise.joint_factors:
        factor = np.array(noise.joint_factors)
    else:
        factor = np.ones(joints)
        factor[list(EXTREMITIES)] = noise.extremity_factor
    std = noise.jitter * size[:, None] * factor
    if noise.tail_rate > 0:
        std = std * np.where(rng.random((frames, joints)) < noise.tail_rate, noise.tail_scale,
                             1.0)
    noisy = keypoints + rng.standard_normal((frames, joints, 2)) * std[..., None]
    missed = rng.random((frames, joints)) < noise.miss_rate
    offset = rng.standard_normal((frames, joints, 2)) * (noise.miss_offset * size)[:, None, None]
    noisy = np.where(missed[..., None], keypoints + offset, noisy)
    if image_size is None:
        outside = np.zeros((frames, joints), dtype=bool)
    else:
        width, height = image_size
        outside = ~np.all((keypoints >= -0.5) & (keypoints < (width - 0.5, height - 0.5)),
                          axis=-1)
    confidence = rng.uniform(*noise.hit_confidence, (frames, joints))
    low = rng.uniform(*noise.miss_confidence, (frames, joints))
    confidence = np.where(missed | outside, low, confidence)
    swapped = rng.random(frames) < noise.swap_rate
    limb = rng.integers(0, len(LIMBS), frames)
    for frame in np.flatnonzero(swapped):
        pairs = np.array(list(LIMBS.values())[limb[frame]])
        left, right = pairs[:, 0], pairs[:, 1]
        noisy[frame, np.r_[left, right]] = noisy[frame, np.r_[right, left]]
        confidence[frame, np.r_[left, right]] = confidence[frame, np.r_[right, left]]
    return Detections(noisy.astype(np.float32), confidence.astype(np.float32), missed, outside,
                      swapped, size)


def jitter_boxes(boxes: np.ndarray, rng: np.random.Generator,
                 noise: KeypointNoise) -> np.ndarray:
    """Boxes [..., 3] (x0, y0, side) px moved and rescaled about their centres (training)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    side = boxes[..., 2]
    centre = boxes[..., :2] + side[..., None] / 2.0
    centre = centre + rng.standard_normal(centre.shape) * (noise.box_shift * side)[..., None]
    side = side * np.exp(rng.standard_normal(side.shape) * noise.box_scale)
    return np.concatenate([centre - side[..., None] / 2.0, side[..., None]], axis=-1)
