"""MPII Human Pose in the JSON annotation format of common 2D pose code bases.

``mpii_train.json`` / ``mpii_val.json`` (HRNet, mmpose): a list with one entry per annotated
person, ``{"image": "015601864.jpg", "joints": [[x, y] x 16], "joints_vis": [16 x 0/1],
"center": [x, y], "scale": s}``. Coordinates are MATLAB 1-based pixels; like those code bases
we subtract 1 so that the centre of the top-left pixel is (0, 0). ``scale`` is the person
height / 200 pixels. Images live in a folder: ``{image_root}/{image}``.

Joints are mapped to H36M-17 with ``hpm_ros.skeleton.to_h36m(.., 'mpii16')``: Spine is the
midpoint of pelvis and thorax, visible when both are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpm_ros.data.h36m import load_image
from hpm_ros.skeleton import MPII16, to_h36m

_REQUIRED_KEYS = ('image', 'joints', 'joints_vis', 'center', 'scale')


@dataclass
class MpiiSamples:
    """One entry per annotated person.

    ``image`` [N] str file names; ``joints_2d`` [N, 17, 2] float32 pixels, H36M-17 order;
    ``visible`` [N, 17] bool; ``center`` [N, 2] float32 pixels; ``scale`` [N] float32
    (person height / 200 px); ``image_root`` the image folder or None.
    """

    image: np.ndarray
    joints_2d: np.ndarray
    visible: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    image_root: Path | None = None

    def __len__(self) -> int:
        """Number of annotated persons N."""
        return len(self.image)

    def image_path(self, index: int) -> Path:
        """Path of sample ``index``'s image; ValueError when no image_root was given."""
        if self.image_root is None:
            raise ValueError('MpiiSamples has no image_root; pass one to load_mpii_json')
        return self.image_root / str(self.image[index])

    def load_image(self, index: int) -> np.ndarray:
        """Sample ``index``'s whole image, [H, W, 3] uint8 RGB."""
        return load_image(self.image_path(index))


def _entry_array(entry: dict, key: str, shape: tuple, where: str) -> np.ndarray:
    try:
        value = np.asarray(entry[key], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{where}: {key!r} is not numeric: {error}') from error
    if value.shape != shape:
        raise ValueError(f'{where}: {key!r} must have shape {shape}, got {value.shape}')
    return value


def load_mpii_json(path, image_root=None, check_images: bool = False,
                   matlab_coordinates: bool = True) -> MpiiSamples:
    """Read an MPII JSON annotation list -> :class:`MpiiSamples`.

    ``matlab_coordinates`` subtracts 1 from joints and centres (the files are 1-based).
    With ``check_images`` every image must exist under ``image_root`` (FileNotFoundError).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: annotation file not found')
    with open(path, encoding='utf-8') as stream:
        try:
            entries = json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path}: not valid JSON: {error}') from error
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{path}: expected a non-empty JSON list of annotations')
    images, joints, visible, centres, scales = [], [], [], [], []
    for number, entry in enumerate(entries):
        where = f'{path}[{number}]'
        if not isinstance(entry, dict):
            raise ValueError(f'{where}: expected an object, got {type(entry).__name__}')
        missing = [key for key in _REQUIRED_KEYS if key not in entry]
        if missing:
            raise ValueError(f'{where}: missing keys {missing}')
        images.append(str(entry['image']))
        joints.append(_entry_array(entry, 'joints', (MPII16.num_joints, 2), where))
        visible.append(_entry_array(entry, 'joints_vis', (MPII16.num_joints,), where) > 0)
        centres.append(_entry_array(entry, 'center', (2,), where))
        scales.append(float(_entry_array(entry, 'scale', (), where)))
    offset = 1.0 if matlab_coordinates else 0.0
    joints_2d, _ = to_h36m(np.stack(joints) - offset, MPII16.name)
    # A joint is visible when every MPII joint it is built from is: map 0/1 like positions.
    visible_h36m, _ = to_h36m(np.stack(visible)[..., None].astype(np.float64), MPII16.name)
    root = None if image_root is None else Path(image_root)
    samples = MpiiSamples(
        np.array(images), joints_2d.astype(np.float32), visible_h36m[..., 0] == 1.0,
        (np.stack(centres) - offset).astype(np.float32), np.array(scales, dtype=np.float32),
        root)
    if check_images:
        for index in range(len(samples)):
            if not samples.image_path(index).is_file():
                raise FileNotFoundError(f'{samples.image_path(index)}: image of {path}'
                                        f'[{index}] not found')
    return samples
