"""The plain per-frame correction (deepcopy + torch.optim): reference and bench baseline."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from hpm_ros.correction.config import CorrectionConfig, CorrectionResult, GROUPS
from hpm_ros.correction.loss import bone_incidence, Loss
from hpm_ros.correction.batched import _Tracker, prepare_inputs


def correct_per_frame(machine: nn.Module, config: CorrectionConfig, pose3d: torch.Tensor,
                      pose2d: torch.Tensor, weights: Optional[torch.Tensor] = None):
    """Reference and naive baseline: the same correction frame by frame, with a deepcopy of
    the projector (eval mode), autograd and a torch.optim optimiser per frame. Inputs and
    result as :meth:`Corrector.correct`."""
    pose3d, pose2d, weights = prepare_inputs(machine, pose3d, pose2d, weights)
    results = []
    with torch.inference_mode(False), torch.enable_grad():
        incidence = bone_incidence(machine.config.num_joints).to(pose3d)
        for frame in range(pose3d.shape[0]):
            projector = copy.deepcopy(machine.projector).eval()
            adapted = []
            for group in GROUPS:
                for parameter in getattr(projector, group).parameters():
                    parameter.requires_grad_(group in config.adapt)
                    adapted += [parameter] if group in config.adapt else []
            optimiser = (torch.optim.SGD(adapted, lr=config.lr) if config.optimizer == 'sgd'
                         else torch.optim.Adam(adapted, lr=config.lr))
            loss_fn = Loss(pose2d[frame:frame + 1], weights[frame:frame + 1], incidence, config)

            def evaluate() -> tuple:
                regressed = projector.regression(pose3d[frame].reshape(1, -1))
                loss = loss_fn(projector.projection(regressed).view(1, -1, 2))[0]
                return regressed.view(1, -1, 3), loss

            regressed, loss = evaluate()
            tracker = _Tracker(machine, config, regressed.detach(), loss.detach())
            for _ in range(config.max_steps):
                optimiser.zero_grad()
                loss.sum().backward()
                optimiser.step()
                regressed, loss = evaluate()
                tracker.update(regressed.detach(), loss.detach())
                if not bool(tracker.active.any()):
                    break
            results.append(tracker.result())
    return CorrectionResult.concatenate(results)
