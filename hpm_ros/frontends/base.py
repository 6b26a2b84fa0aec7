"""The 2D front-end interface: one RGB frame (+ optional ROI) in, the people it sees out.

Every front end (BlazePose on real images, the paper's Ψ_R, 2D joints given by someone else)
answers :meth:`FrontEnd.process` with a :class:`FrontEndOutput`; the lifting core reads only
that. Pixel coordinates follow ROS CameraInfo / OpenCV: the centre of the top-left pixel is
(0, 0), x right, y down. ROS-free.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hpm_ros.errors import ImageEncodingError


def validate_image(image: np.ndarray) -> None:
    """ImageEncodingError unless ``image`` is a non-empty [H, W, 3] uint8 RGB array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageEncodingError('image must be a uint8 numpy array [H, W, 3] RGB')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageEncodingError(f'image must be [H, W, 3] RGB, got shape {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageEncodingError(f'image is empty ({image.shape[1]}x{image.shape[0]})')


@dataclass
class PersonDetection:
    """One person as a front end sees them in one frame.

    box: (x0, y0, width, height) px, the axis-aligned bounds of the person in the full frame;
    keypoints [K, 2] float32 px, full frame, in the order of ``joint_set``; confidence [K]
    float32 in [0, 1] (0: the joint is missing or not trusted); joint_set: the name of the
    layout ('blazepose33', 'h36m17', 'coco17', ...); score: the front end's confidence that
    this is a person, in [0, 1]; extras: what the front end adds of its own (e.g. BlazePose's
    'world_landmarks' [33, 3] float32 m, hip-centred; Ψ_R's 'features' for Ψ_T).
    """

    box: tuple
    keypoints: np.ndarray
    confidence: np.ndarray
    joint_set: str
    score: float
    extras: dict = field(default_factory=dict)


@dataclass
class FrontEndOutput:
    """What a front end found in one frame: ``people`` (empty when nobody was found, the
    most confident first) and per-stage ``timings_ms`` (stage name -> milliseconds)."""

    people: list
    timings_ms: dict = field(default_factory=dict)

    @property
    def primary(self) -> Optional[PersonDetection]:
        """The first (most confident) person, or None."""
        return self.people[0] if self.people else None


class FrontEnd(abc.ABC):
    """A stateful 2D stage of one camera stream (tracking state between frames).

    ``name`` identifies the implementation ('blazepose', 'psi_r'); ``joint_set`` is the layout
    of the keypoints it yields.
    """

    name = 'abstract'
    joint_set = ''

    @abc.abstractmethod
    def process(self, image: np.ndarray, roi: Optional[tuple] = None) -> FrontEndOutput:
        """The people in ``image`` [H, W, 3] uint8 RGB; roi: (x0, y0, width, height) px where
        the caller knows the person is, or None.

        Raises ImageEncodingError for an array that is not an RGB image; an image with nobody
        in it (or too small to hold anybody) gives an output with no people, never an error.
        """

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the tracking state (time gap, new camera, lost person)."""

    def close(self) -> None:
        """Release runtime resources; the front end is unusable after."""
