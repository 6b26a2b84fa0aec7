"""Ψ_R, the 2D pose sub-network (paper section 3.1, Table 1) with a heatmap head."""
from __future__ import annotations

import torch
from torch import nn

from hpm_ros.model.config import ModelConfig


def soft_argmax(heatmaps: torch.Tensor, beta: float = 1.0) -> tuple:
    """Differentiable argmax of heatmaps [B, K, F, F] (logits).

    Returns (coordinates [B, K, 2] normalised crop coordinates in [0, 1], x then y, cell centres
    at (i + 0.5) / F; confidence [B, K] in [0, 1], the softmax mass within one cell of the
    expected position).
    """
    batch, joints, height, width = heatmaps.shape
    probabilities = torch.softmax(beta * heatmaps.reshape(batch, joints, -1), dim=-1)
    probabilities = probabilities.reshape(batch, joints, height, width)
    xs = (torch.arange(width, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5) / width
    ys = (torch.arange(height, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5) / height
    x = (probabilities.sum(dim=2) * xs).sum(dim=-1)
    y = (probabilities.sum(dim=3) * ys).sum(dim=-1)
    near_x = ((xs[None, None, :] - x[..., None]).abs() <= 1.0 / width).to(heatmaps.dtype)
    near_y = ((ys[None, None, :] - y[..., None]).abs() <= 1.0 / height).to(heatmaps.dtype)
    confidence = torch.einsum('bkhw,bkh,bkw->bk', probabilities, near_y, near_x)
    return torch.stack((x, y), dim=-1), confidence


class PoseNet2D(nn.Module):
    """Ψ_R: the convolutional pose machine trunk of Table 1 and a 1×1 heatmap head.

    The trunk gives the 2D pose-aware features f2d [B, C, F, F] (128×46×46 for the paper
    config). The head (1×1 conv to ``head_hidden``, ReLU, 1×1 conv to K, as in CPM stage 1)
    gives K heatmaps, and the 2D pose is their **soft-argmax**, not a hard argmax: it is
    differentiable, so Eq. 5's coordinate loss and the end-to-end fine-tuning of Eq. 7 reach
    ω_R through it, it is sub-cell accurate (a hard argmax on 46×46 cells quantises to 8 px), and
    it exports to ONNX/TensorRT as plain tensor ops.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        layers = []
        channels = 3
        for stage_index, stage in enumerate(config.trunk):
            if stage_index > 0:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            for width in stage:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1),
                           nn.ReLU(inplace=True)]
                channels = width
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(channels, config.head_hidden, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(config.head_hidden, config.num_joints, kernel_size=1))
        self.beta = config.softargmax_beta
        self.joint_maps = config.transformer_input == 'heatmaps'

    def forward(self, images: torch.Tensor) -> tuple:
        """images [B, 3, S, S] float32 RGB in [0, 1] -> (f2d [B, C, F, F], heatmaps [B, K, F, F],
        p2d [B, K, 2] normalised crop coordinates, confidence [B, K]). f2d is the trunk's
        output, or with ``transformer_input='heatmaps'`` the joint maps exp(β·(h − max h))."""
        features = self.trunk(images - 0.5)
        heatmaps = self.head(features)
        pose2d, confidence = soft_argmax(heatmaps, self.beta)
        if self.joint_maps:
            peak = heatmaps.flatten(2).amax(-1)[..., None, None]
            features = torch.exp(self.beta * (heatmaps - peak))
        return features, heatmaps, pose2d, confidence
