"""The 3D-to-2D projector module (paper section 3.3): regression Ψ_C and projection Ψ_P."""
from __future__ import annotations

import torch
from torch import nn


class JointDropout(nn.Module):
    """Per-joint dropout: in training, each joint's whole coordinate vector is zeroed with
    probability ``p`` (paper section 3.3, δ = 0.3); identity in eval mode.

    No rescaling is applied: a dropped joint stands for a missing or unreliable detection.
    """

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f'joint dropout probability must be in [0, 1), got {p}')
        self.p = p

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        """joints [..., K, D] -> the same with dropped joints set to zero."""
        return joints * self.keep_mask(joints)

    def keep_mask(self, joints: torch.Tensor) -> torch.Tensor:
        """[..., K, 1] float mask of kept joints (all ones in eval mode or with p = 0)."""
        shape = (*joints.shape[:-1], 1)
        if not self.training or self.p == 0.0:
            return joints.new_ones(shape)
        return (torch.rand(shape, device=joints.device) >= self.p).to(joints.dtype)


class Regression(nn.Module):
    """Ψ_C: two FC layers, 3K -> hidden (BatchNorm, ReLU) -> 3K, regressing the intermediate
    3D pose p3d into the changeable prediction p̂3d (both normalised, [B, 3K])."""

    def __init__(self, num_joints: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3 * num_joints, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, 3 * num_joints)

    def forward(self, pose3d: torch.Tensor) -> torch.Tensor:
        """pose3d [B, 3K] normalised -> p̂3d [B, 3K] normalised."""
        return self.fc2(torch.relu(self.bn1(self.fc1(pose3d))))


class Projection(nn.Module):
    """Ψ_P: four FC layers of ``hidden`` units with an identity shortcut around the middle
    two (ResNet-style), BatchNorm + ReLU, projecting p̂3d [B, 3K] onto the image plane,
    p̂2d [B, 2K] in normalised crop coordinates."""

    def __init__(self, num_joints: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3 * num_joints, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.bn3 = nn.BatchNorm1d(hidden)
        self.fc4 = nn.Linear(hidden, 2 * num_joints)

    def forward(self, pose3d: torch.Tensor) -> torch.Tensor:
        """p̂3d [B, 3K] normalised -> p̂2d [B, 2K] normalised crop coordinates."""
        x = torch.relu(self.bn1(self.fc1(pose3d)))
        y = torch.relu(self.bn2(self.fc2(x)))
        y = torch.relu(self.bn3(self.fc3(y)))
        return self.fc4(x + y)


class Projector(nn.Module):
    """The 3D-to-2D projector {Ψ_C, Ψ_P} with per-joint input dropout on p3d in training."""

    def __init__(self, num_joints: int, regression_hidden: int, projection_hidden: int,
                 joint_dropout: float = 0.3) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.dropout = JointDropout(joint_dropout)
        self.regression = Regression(num_joints, regression_hidden)
        self.projection = Projection(num_joints, projection_hidden)

    def forward(self, pose3d: torch.Tensor) -> tuple:
        """pose3d [B, K, 3] normalised -> (p̂3d [B, K, 3] normalised, p̂2d [B, K, 2])."""
        batch = pose3d.shape[0]
        pose3d = self.dropout(pose3d)
        regressed = self.regression(pose3d.reshape(batch, -1))
        projected = self.projection(regressed)
        return regressed.reshape(batch, -1, 3), projected.reshape(batch, -1, 2)
