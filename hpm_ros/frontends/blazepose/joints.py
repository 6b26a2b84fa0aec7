"""The 33 BlazePose landmarks, their COCO-17 subset and per-landmark confidence."""
from __future__ import annotations

import numpy as np

from hpm_ros import skeleton

# The landmark names, in model output order, and COCO's joint names: the joint sets of
# hpm_ros.skeleton ('blazepose33', 'coco17').
BLAZEPOSE33 = skeleton.BLAZEPOSE33.joint_names
COCO17 = skeleton.COCO17.joint_names

# COCO-17 joint k is BlazePose landmark COCO17_FROM_BLAZEPOSE[k].
COCO17_FROM_BLAZEPOSE = np.array([BLAZEPOSE33.index(name) for name in COCO17], dtype=np.int64)


def landmark_confidence(visibility: np.ndarray, presence: np.ndarray) -> np.ndarray:
    """Confidence [33] float32 in [0, 1] of each landmark: visibility x presence.

    ``presence``: the model's probability that the landmark is inside the frame;
    ``visibility``: that it is also not occluded (the model learns it given presence, so the
    product is the probability that the joint is seen where it is reported).
    """
    return (np.asarray(visibility, np.float32) * np.asarray(presence, np.float32)).clip(0, 1)


def to_coco17(keypoints: np.ndarray, confidence: np.ndarray) -> tuple:
    """Select the COCO-17 joints: BlazePose [33, 2], [33] -> [17, 2], [17]."""
    return (np.asarray(keypoints)[COCO17_FROM_BLAZEPOSE],
            np.asarray(confidence)[COCO17_FROM_BLAZEPOSE])
