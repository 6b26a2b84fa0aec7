"""The keypoints front end: 2D pose-aware features rendered from given 2D joints, in place of Ψ_R.

Section 3.1 of the paper notes that other 2D architectures can replace Ψ_R. This module lets
any 2D detector do so: its joints, mapped to H36M-17 and normalised to the person's square crop
box (:func:`hpm_ros.data.keypoint_clips.normalise_keypoints`), become K Gaussian heatmaps at
feature resolution, each scaled by the joint's confidence (a missing joint, confidence 0, gives
an empty map). Heatmaps are what Ψ_T's convolutions were designed to read: the same kind of
2D pose-aware map that Ψ_R produces, with sub-cell positions carried by the Gaussian's shape.
Optional learned channels add a global code of the joints (a two-layer network on the
coordinates and confidences, constant over the map), a direct path for the exact
coordinates that the max-pools of Ψ_T otherwise blur.
"""
from __future__ import annotations

import torch
from torch import nn

from hpm_ros.model.config import ModelConfig


def render_heatmaps(keypoints: torch.Tensor, confidence: torch.Tensor, size: int,
                    sigma: float) -> torch.Tensor:
    """Gaussian maps [B, K, F, F] of keypoints [B, K, 2] (normalised crop coordinates, x then
    y) with standard deviation ``sigma`` cells and peak value ``confidence`` [B, K]; cell i
    has its centre at (i + 0.5) / F, as in :func:`hpm_ros.model.pose2d.soft_argmax`."""
    cells = (torch.arange(size, dtype=keypoints.dtype, device=keypoints.device) + 0.5) / size
    dx = (cells - keypoints[..., 0:1]) * (size / sigma)
    dy = (cells - keypoints[..., 1:2]) * (size / sigma)
    maps = torch.exp(-0.5 * (dy.square()[..., :, None] + dx.square()[..., None, :]))
    return maps * confidence[..., None, None]


class KeypointEncoder(nn.Module):
    """The keypoints front end: (p2d [B, K, 2] normalised crop coordinates, confidence
    [B, K] in [0, 1]) -> (f2d [B, K + L, F, F], heatmaps [B, K, F, F], p2d, confidence).

    p2d and confidence pass through unchanged: they are the 2D pose that the correction fits.
    Non-finite coordinates are not allowed; give a missing joint any finite position and
    confidence 0.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.front_end != 'keypoints':
            raise ValueError(f'KeypointEncoder needs a keypoints config, got front_end '
                             f'{config.front_end!r}')
        self.num_joints = config.num_joints
        self.size = config.feature_size
        self.sigma = config.keypoint_sigma
        self.code = None
        if config.keypoint_channels > 0:
            self.code = nn.Sequential(
                nn.Linear(3 * config.num_joints, config.head_hidden), nn.ReLU(inplace=True),
                nn.Linear(config.head_hidden, config.keypoint_channels))

    def forward(self, keypoints: torch.Tensor, confidence: torch.Tensor = None) -> tuple:
        """See the class docstring; ``confidence`` None means every joint at 1."""
        if keypoints.dim() != 3 or keypoints.shape[1:] != (self.num_joints, 2):
            raise ValueError(f'keypoints must be [B, {self.num_joints}, 2] normalised crop '
                             f'coordinates, got {tuple(keypoints.shape)}')
        if confidence is None:
            confidence = keypoints.new_ones(keypoints.shape[:2])
        if tuple(confidence.shape) != tuple(keypoints.shape[:2]):
            raise ValueError(f'confidence must be [B, {self.num_joints}] like the keypoints, '
                             f'got {tuple(confidence.shape)}')
        heatmaps = render_heatmaps(keypoints, confidence, self.size, self.sigma)
        features = heatmaps
        if self.code is not None:
            present = (confidence > 0).to(keypoints.dtype)[..., None]
            inputs = torch.cat(((keypoints - 0.5) * present, confidence[..., None]), dim=-1)
            code = self.code(inputs.flatten(1))
            features = torch.cat(
                (heatmaps, code[:, :, None, None].expand(-1, -1, self.size, self.size)), dim=1)
        return features, heatmaps, keypoints, confidence
