"""The four stages of Algorithm 1 as one loss module: which weights train and what they fit."""
from __future__ import annotations

import torch
from torch import nn

from hpm_ros.model.machine import PoseMachine
from hpm_ros.training.config import STAGE_NAMES, LossConfig
from hpm_ros.training.losses import heatmap_loss, masked_squared_error

TRAINED_PARTS = {
    'pose2d': ('pose2d',),
    'transformer': ('transformer',),
    'projector': ('projector',),
    'finetune': ('pose2d', 'transformer', 'projector'),
}


def trained_parts(machine: PoseMachine, stage: str) -> tuple:
    """The parts ``stage`` trains. The keypoints front end has no 2D task of its own (stage
    'pose2d' is refused); its learned channels, if any, train with Ψ_T."""
    if stage not in STAGE_NAMES:
        raise ValueError(f'unknown stage {stage!r}; stages are {list(STAGE_NAMES)}')
    if machine.config.front_end != 'keypoints':
        return TRAINED_PARTS[stage]
    if stage == 'pose2d':
        raise ValueError('stage pose2d trains Ψ_R on images; the keypoints front end takes '
                         'its 2D joints as given: leave the stage out of the training config')
    return ('pose2d', 'transformer') if stage == 'transformer' else TRAINED_PARTS[stage]


def set_trainable(machine: PoseMachine, stage: str) -> list:
    """Freeze every weight but those that ``stage`` trains; return the trainable parameters."""
    parts = trained_parts(machine, stage)
    trainable = []
    for part in ('pose2d', 'transformer', 'projector'):
        train = part in parts
        for parameter in getattr(machine, part).parameters():
            parameter.requires_grad_(train)
            if train:
                trainable.append(parameter)
    return trainable


class StageLoss(nn.Module):
    """Loss of one stage on a batch; the module DistributedDataParallel wraps.

    Batch: images [B, T, 3, S, S] float in [0, 1] (keypoints front end instead: keypoints
    [B, T, K, 2] normalised crop coordinates and confidence [B, T, K], the detections);
    pose2d [B, T, K, 2] normalised crop coordinates, the 2D ground truth; pose3d [B, T, K, 3]
    normalised 3D (see PoseMachine.normalise_3d); has_3d [B] bool (False for 2D-only samples,
    whose 3D terms are zero).
    """

    def __init__(self, machine: PoseMachine, losses: LossConfig) -> None:
        super().__init__()
        self.machine = machine
        self.weights = losses

    def forward(self, batch: dict, stage: str) -> dict:
        """{'total': scalar, term name: scalar, ...} for ``stage``."""
        method = getattr(self, f'_{stage}')
        terms = method(batch)
        weights = self.weights
        scale = {'pose2d': weights.pose2d, 'heatmap': weights.heatmap, 'pose3d': weights.pose3d,
                 'regression3d': weights.regression3d, 'projection2d': weights.projection2d}
        terms['total'] = sum(scale[name] * value for name, value in terms.items())
        return terms

    def _pose2d_terms(self, heatmaps: torch.Tensor, pose2d: torch.Tensor,
                      target: torch.Tensor) -> dict:
        terms = {'pose2d': masked_squared_error(pose2d, target)}
        if self.weights.heatmap > 0:
            terms['heatmap'] = heatmap_loss(heatmaps, target, self.weights.heatmap_sigma)
        return terms

    def _inputs(self, batch: dict) -> tuple:
        """Front-end inputs of the clips as PoseMachine.forward takes them."""
        if self.machine.config.front_end == 'keypoints':
            return batch['keypoints'], None, batch['confidence']
        return (batch['images'],)

    def _encode(self, batch: dict) -> tuple:
        """The front end on every frame: (f2d, heatmaps, p2d, confidence), leading dim B·T."""
        inputs = self._inputs(batch)
        return self.machine.encode(inputs[0].flatten(0, 1),
                                   *(t.flatten(0, 1) for t in inputs[2:]))

    def _pose2d(self, batch: dict) -> dict:
        """Eq. 5: Ψ_R's 2D pose against the 2D ground truth, every frame."""
        _, heatmaps, pose2d, _ = self._encode(batch)
        return self._pose2d_terms(heatmaps, pose2d, batch['pose2d'].flatten(0, 1))

    def _frame_mask(self, batch: dict) -> torch.Tensor:
        """[B, T, K] ones for samples with 3D ground truth, zeros for 2D-only samples."""
        shape = batch['pose3d'].shape[:-1]
        return batch['has_3d'].to(batch['pose3d'].dtype)[:, None, None].expand(shape)

    def _transformer(self, batch: dict) -> dict:
        """Eq. 6: Ψ_T's 3D pose sequence against the 3D ground truth (Ψ_R frozen; the
        keypoints front end's learned channels train here). ``batch['frozen_features']``,
        when the loop cached Ψ_R's features, saves running Ψ_R at every step."""
        features = batch.get('frozen_features')
        if features is None:
            with torch.set_grad_enabled(self.machine.config.front_end == 'keypoints'):
                features = self._encode(batch)[0]
            features = features.reshape(*batch['pose3d'].shape[:2], *features.shape[1:])
        pose3d, _ = self.machine.transformer(features.to(batch['pose3d'].dtype))
        return {'pose3d': masked_squared_error(pose3d, batch['pose3d'], self._frame_mask(batch))}

    def _projector_terms(self, pose3d: torch.Tensor, batch: dict) -> dict:
        """Eq. 2 on p3d [B, T, K, 3]: Ψ_C regresses the 3D ground truth and Ψ_P projects both
        p̂3d and the 3D ground truth onto the 2D ground truth (2D target joints dropped with
        probability δ)."""
        projector = self.machine.projector
        flat = pose3d.flatten(0, 1)
        regressed, projected = projector(flat)
        truth3d = batch['pose3d'].flatten(0, 1)
        truth2d = batch['pose2d'].flatten(0, 1)
        mask3d = self._frame_mask(batch).flatten(0, 1)
        keep2d = projector.dropout.keep_mask(truth2d)[..., 0]
        projected_truth = projector.projection(truth3d.flatten(1)).reshape(truth2d.shape)
        return {
            'regression3d': masked_squared_error(regressed, truth3d, mask3d),
            'projection2d': masked_squared_error(projected, truth2d, keep2d)
            + masked_squared_error(projected_truth, truth2d, keep2d * mask3d),
        }

    @torch.no_grad()
    def frozen_features(self, batch: dict) -> torch.Tensor:
        """f2d [B, T, C, H, W] of the frozen Ψ_R."""
        features = self._encode(batch)[0]
        return features.reshape(*batch['pose3d'].shape[:2], *features.shape[1:])

    @torch.no_grad()
    def frozen_pose3d(self, batch: dict) -> torch.Tensor:
        """p3d [B, T, K, 3] of the frozen Ψ_R and Ψ_T (state carried through each clip)."""
        output, _ = self.machine(*self._inputs(batch))
        return output.pose3d

    def _projector(self, batch: dict) -> dict:
        """Eq. 2 with Ψ_R and Ψ_T frozen; ``batch['frozen_pose3d']``, when the loop cached
        it, saves running them again at every step."""
        pose3d = batch.get('frozen_pose3d')
        return self._projector_terms(self.frozen_pose3d(batch) if pose3d is None else pose3d,
                                     batch)

    def _finetune(self, batch: dict) -> dict:
        """Eq. 7: every weight, 2D and 3D terms together; 2D-only samples add 2D terms only.
        The keypoints front end has no 2D prediction, hence no 2D pose term."""
        features, heatmaps, pose2d, _ = self._encode(batch)
        terms = {}
        if self.machine.config.front_end != 'keypoints':
            terms = self._pose2d_terms(heatmaps, pose2d, batch['pose2d'].flatten(0, 1))
        features = features.reshape(*batch['pose3d'].shape[:2], *features.shape[1:])
        pose3d, _ = self.machine.transformer(features)
        terms['pose3d'] = masked_squared_error(pose3d, batch['pose3d'], self._frame_mask(batch))
        terms.update(self._projector_terms(pose3d, batch))
        return terms
