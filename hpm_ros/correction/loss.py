"""The 2D objective of the correction (joint and bone-vector terms) and its gradient."""
from __future__ import annotations


import torch

from hpm_ros.skeleton import H36M17
from hpm_ros.correction.config import CorrectionConfig


def bone_incidence(num_joints: int = H36M17.num_joints) -> torch.Tensor:
    """[J-1, K] float32: row b is +1 at the child and −1 at the parent of H36M-17 bone b."""
    if num_joints != H36M17.num_joints:
        raise ValueError(f'the correction needs the {H36M17.num_joints}-joint H36M skeleton, '
                         f'got {num_joints} joints')
    matrix = torch.zeros(len(H36M17.bones), num_joints)
    for row, (parent, child) in enumerate(H36M17.bones):
        matrix[row, child] = 1.0
        matrix[row, parent] = -1.0
    return matrix


class Loss:
    """The minimised 2D loss of one batch, with the joint weights normalised once.

    target p2d [B, K, 2] normalised crop coordinates; weights [B, K] >= 0; incidence [J-1, K]
    from :func:`bone_incidence`. For d = p̂2d − p2d and w_b = w_parent · w_child:
    loss = joint_weight · Σ_k w_k ‖d_k‖² / Σ_k w_k + bone_weight · Σ_b w_b ‖(A d)_b‖² / Σ_b w_b.
    """

    def __init__(self, target: torch.Tensor, weights: torch.Tensor, incidence: torch.Tensor,
                 config: CorrectionConfig) -> None:
        self.target, self.incidence = target, incidence
        total = weights.sum(1, keepdim=True).clamp_min(1e-12)
        self.joint = (config.joint_weight * weights / total).unsqueeze(-1)
        self.bone = None
        if config.bone_weight > 0:
            bone = (weights @ incidence.clamp_min(0).T) * (weights @ (-incidence).clamp_min(0).T)
            total = bone.sum(1, keepdim=True).clamp_min(1e-12)
            self.bone = (config.bone_weight * bone / total).unsqueeze(-1)

    def __call__(self, projected: torch.Tensor, with_grad: bool = False) -> tuple:
        """projected p̂2d [B, K, 2] -> (loss [B], d loss / d p̂2d [B, K, 2] or None)."""
        diff = projected - self.target
        loss = (self.joint * diff.square()).sum((1, 2))
        grad = 2.0 * self.joint * diff if with_grad else None
        if self.bone is not None:
            bones = torch.matmul(self.incidence, diff)
            loss = loss + (self.bone * bones.square()).sum((1, 2))
            if with_grad:
                grad = grad + torch.matmul(self.incidence.T, 2.0 * self.bone * bones)
        return loss, grad
