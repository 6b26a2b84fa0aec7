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
    from :func:`bone_incidence`. For d = q − p2d and w_b = w_parent · w_child:
    loss = joint_weight · Σ_k w_k ‖d_k‖² / Σ_k w_k + bone_weight · Σ_b w_b ‖(A d)_b‖² / Σ_b w_b,
    where q = p̂2d (align_2d 'none'), or p̂2d moved (and scaled about its weighted mean) by the
    weighted least-squares fit to p2d ('translation', 'scale'); the gradient includes the
    dependence of the fit on p̂2d.
    """

    def __init__(self, target: torch.Tensor, weights: torch.Tensor, incidence: torch.Tensor,
                 config: CorrectionConfig) -> None:
        self.target, self.incidence, self.align = target, incidence, config.align_2d
        total = weights.sum(1, keepdim=True).clamp_min(1e-12)
        self.share = (weights / total).unsqueeze(-1)
        self.joint = config.joint_weight * self.share
        self.target_centred = target - (self.share * target).sum(1, keepdim=True)
        self.bone = None
        if config.bone_weight > 0:
            bone = (weights @ incidence.clamp_min(0).T) * (weights @ (-incidence).clamp_min(0).T)
            total = bone.sum(1, keepdim=True).clamp_min(1e-12)
            self.bone = (config.bone_weight * bone / total).unsqueeze(-1)

    def __call__(self, projected: torch.Tensor, with_grad: bool = False) -> tuple:
        """projected p̂2d [B, K, 2] -> (loss [B], d loss / d p̂2d [B, K, 2] or None)."""
        scale = centred = spread = None
        if self.align == 'none':
            diff = projected - self.target
        else:
            centred = projected - (self.share * projected).sum(1, keepdim=True)
            if self.align == 'scale':
                spread = (self.share * centred.square()).sum((1, 2), keepdim=True)
                fit = (self.share * centred * self.target_centred).sum((1, 2), keepdim=True)
                scale = torch.where(spread > 1e-12, fit / spread.clamp_min(1e-12), 1.0)
                diff = scale * centred - self.target_centred
            else:
                diff = centred - self.target_centred
        weighted = self.joint * diff
        loss = (weighted * diff).sum((1, 2))
        if self.bone is None:
            # The fitted shift and scale minimise this very loss (its weighted residual sums
            # to zero), so no gradient flows through them: d loss / d p̂2d = 2 s w d.
            if not with_grad:
                return loss, None
            return loss, (2.0 * weighted if scale is None else (2.0 * scale) * weighted)
        grad = 2.0 * weighted if with_grad else None
        bones = torch.matmul(self.incidence, diff)
        loss = loss + (self.bone * bones.square()).sum((1, 2))
        if with_grad:
            grad = grad + torch.matmul(self.incidence.T, 2.0 * self.bone * bones)
            if self.align != 'none':
                grad = self._through_alignment(
                    grad, centred, torch.ones_like(projected[:, :1, :1]) if scale is None
                    else scale, spread)
        return loss, grad

    def _through_alignment(self, grad: torch.Tensor, centred: torch.Tensor,
                           scale: torch.Tensor, spread) -> torch.Tensor:
        """d loss / d p̂2d from g = d loss / d diff, for diff = s·(p̂2d − mean) − centred p2d
        with the fitted scale s (and the weighted mean) functions of p̂2d."""
        result = scale * (grad - self.share * grad.sum(1, keepdim=True))
        if spread is not None:
            along = (grad * centred).sum((1, 2), keepdim=True)
            slope = self.share * (self.target_centred - 2.0 * scale * centred)
            result = result + torch.where(spread > 1e-12, along / spread.clamp_min(1e-12),
                                          torch.zeros_like(along)) * slope
        return result
