"""Training losses of Algorithm 1 (torch): squared errors with per-sample and per-joint masks."""
from __future__ import annotations

import torch


def masked_squared_error(prediction: torch.Tensor, target: torch.Tensor,
                         mask: torch.Tensor = None) -> torch.Tensor:
    """Mean over kept joints of the squared Euclidean error.

    prediction, target [..., K, D]; mask [..., K] (1 keep, 0 drop) or None. Returns a scalar;
    zero (with gradient) when nothing is kept, so 2D-only samples add no 3D loss.
    """
    error = ((prediction - target) ** 2).sum(dim=-1)
    if mask is None:
        return error.mean()
    mask = mask.to(error.dtype)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


def gaussian_heatmaps(pose2d: torch.Tensor, size: int, sigma_cells: float) -> torch.Tensor:
    """Target probability maps [..., K, F, F] for ``pose2d`` [..., K, 2] (normalised crop
    coordinates), Gaussian with ``sigma_cells`` feature cells, each summing to one."""
    cells = (torch.arange(size, dtype=pose2d.dtype, device=pose2d.device) + 0.5) / size
    dx = (cells - pose2d[..., 0:1]) * size
    dy = (cells - pose2d[..., 1:2]) * size
    maps = torch.exp(-(dy[..., :, None] ** 2 + dx[..., None, :] ** 2) / (2 * sigma_cells ** 2))
    return maps / maps.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)


def heatmap_loss(heatmaps: torch.Tensor, pose2d: torch.Tensor, sigma_cells: float) -> torch.Tensor:
    """Cross-entropy between the softmax of ``heatmaps`` [..., K, F, F] (logits) and Gaussian
    targets at ``pose2d`` [..., K, 2]: an auxiliary term that speeds up Eq. 5 from scratch."""
    size = heatmaps.shape[-1]
    target = gaussian_heatmaps(pose2d, size, sigma_cells)
    log_probabilities = torch.log_softmax(heatmaps.flatten(-2), dim=-1)
    return -(target.flatten(-2) * log_probabilities).sum(dim=-1).mean()
