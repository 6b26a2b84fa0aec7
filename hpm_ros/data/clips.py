"""In-memory banks of training clips: images with exact 2D and 3D ground truth."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ClipBank:
    """N clips of T frames.

    images [N, T, S, S, 3] uint8 RGB crops; pose2d [N, T, K, 2] float32 normalised crop
    coordinates; pose3d [N, T, K, 3] float32 mm, root-relative, camera frame; has_3d [N] bool
    (False: a 2D-only sample, its 3D is not used); actions [N] str.
    """

    images: np.ndarray
    pose2d: np.ndarray
    pose3d: np.ndarray
    has_3d: np.ndarray
    actions: np.ndarray

    def __post_init__(self) -> None:
        count, frames = self.images.shape[:2]
        for name in ('pose2d', 'pose3d'):
            if getattr(self, name).shape[:2] != (count, frames):
                raise ValueError(f'{name} must be [{count}, {frames}, K, D], got '
                                 f'{getattr(self, name).shape}')
        if self.has_3d.shape != (count,) or len(self.actions) != count:
            raise ValueError('has_3d and actions need one entry per clip')

    def __len__(self) -> int:
        return self.images.shape[0]

    def indices(self, only_3d: bool) -> np.ndarray:
        """Clip indices, all of them or only those with 3D ground truth."""
        return np.flatnonzero(self.has_3d) if only_3d else np.arange(len(self))

    def batch(self, indices: np.ndarray, normalise_3d, device: torch.device,
              with_inputs: bool = True) -> dict:
        """Tensors for the clips at ``indices``: images [B, T, 3, S, S] float in [0, 1] (left
        out with ``with_inputs=False``, for stages that read cached outputs instead), pose2d,
        pose3d (through ``normalise_3d``, mm -> normalised), has_3d [B] bool."""
        batch = {
            'pose2d': torch.from_numpy(self.pose2d[indices]).to(device),
            'pose3d': normalise_3d(torch.from_numpy(self.pose3d[indices]).to(device)),
            'has_3d': torch.from_numpy(self.has_3d[indices]).to(device),
        }
        if with_inputs:
            images = torch.from_numpy(self.images[indices]).to(device)
            batch['images'] = images.permute(0, 1, 4, 2, 3).float() / 255.0
        return batch

    @staticmethod
    def concatenate(banks: list) -> 'ClipBank':
        """One bank holding the clips of ``banks`` (same T, S, K)."""
        return ClipBank(*(np.concatenate([getattr(b, name) for b in banks])
                          for name in ('images', 'pose2d', 'pose3d', 'has_3d', 'actions')))
