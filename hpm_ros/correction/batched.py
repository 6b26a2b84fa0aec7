"""The batched correction: input checks, the stop and discard rules, the step loop."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from hpm_ros.correction.config import CorrectionConfig, CorrectionResult
from hpm_ros.correction.functional import (DisposableParameters, FrozenProjector,
                                           projector_backward, projector_forward,
                                           projector_state)
from hpm_ros.correction.loss import bone_incidence, Loss
from hpm_ros.skeleton import ROBUST_JOINTS


def check_projector(projector: nn.Module) -> None:
    """TypeError unless ``projector`` has the layers that the batched formulation mirrors
    (regression fc1 bn1 fc2; projection fc1 bn1 fc2 bn2 fc3 bn3 fc4)."""
    layout = {'regression': ('fc1', 'bn1', 'fc2'),
              'projection': ('fc1', 'bn1', 'fc2', 'bn2', 'fc3', 'bn3', 'fc4')}
    for group, names in layout.items():
        children = dict(getattr(projector, group).named_children())
        kinds = tuple(nn.BatchNorm1d if n.startswith('bn') else nn.Linear for n in names)
        if tuple(children) != names or not all(
                isinstance(children[n], k) for n, k in zip(names, kinds)):
            raise TypeError(f'projector.{group} has layers {list(children)}; the correction '
                            f'mirrors {list(names)} of hpm_ros/model/projector.py')


def prepare_inputs(machine: nn.Module, pose3d: torch.Tensor, pose2d: torch.Tensor,
                   weights: Optional[torch.Tensor]) -> tuple:
    """Validated copies (pose3d [B, K, 3], pose2d [B, K, 2], weights [B, K]) as ordinary
    (not inference-mode) tensors on the projector's device and dtype."""
    reference = machine.projector.regression.fc1.weight
    num_joints = machine.config.num_joints
    tensors = {'pose3d': pose3d, 'pose2d': pose2d}
    if weights is not None:
        tensors['weights'] = weights
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f'{name} must be a torch.Tensor, got {type(tensor).__name__}')
    batch = pose3d.shape[0] if pose3d.dim() == 3 else -1
    for name, shape in (('pose3d', (batch, num_joints, 3)), ('pose2d', (batch, num_joints, 2)),
                        ('weights', (batch, num_joints))):
        if name in tensors and tuple(tensors[name].shape) != shape:
            raise ValueError(f'{name} must be [B, {num_joints}, ...] as {shape[1:]} with one B '
                             f'for all inputs, got {tuple(tensors[name].shape)}')
    with torch.inference_mode(False):
        out = [tensors[n].to(reference.device, reference.dtype).clone()
               for n in ('pose3d', 'pose2d')]
        if weights is None:
            out.append(out[0].new_ones(out[0].shape[:2]))
        else:
            out.append(weights.to(reference.device, reference.dtype).clone())
    if not all(bool(torch.isfinite(t).all()) for t in out):
        raise ValueError('pose3d, pose2d and weights must be finite')
    if bool((out[2] < 0).any()):
        raise ValueError('joint weights must be >= 0')
    return tuple(out)


class _Tracker:
    """The stop and discard rules on the robust joints, and the per-frame diagnostics."""

    def __init__(self, machine: nn.Module, config: CorrectionConfig, start: torch.Tensor,
                 loss: torch.Tensor) -> None:
        self.machine, self.config = machine, config
        self.robust = torch.tensor(ROBUST_JOINTS, device=start.device)
        self.robust_range = (machine.pose3d_max - machine.pose3d_min).index_select(
            0, self.robust).to(start)
        self.start = self.final = start
        self.start_mm = self.previous_mm = self.robust_mm(start)
        self.loss_before = self.loss_after = loss
        self.active = torch.ones_like(loss, dtype=torch.bool)
        self.discarded = self.converged = torch.zeros_like(self.active)
        self.steps = torch.zeros_like(loss, dtype=torch.int64)
        self.moved = torch.zeros_like(loss)

    def robust_mm(self, pose: torch.Tensor) -> torch.Tensor:
        """[B, 5, 3] robust joints of a normalised [B, K, 3] pose in mm, up to a fixed offset
        (only their displacements are used)."""
        return pose.index_select(1, self.robust) * self.robust_range

    def update(self, pose: torch.Tensor, loss: torch.Tensor) -> None:
        """Record a step that gave p̂3d ``pose`` [B, K, 3] (``active`` then says which frames
        go on)."""
        config, active = self.config, self.active
        current_mm = self.robust_mm(pose)
        moved = torch.linalg.vector_norm(current_mm - self.start_mm, dim=-1).mean(-1)
        self.steps += active
        self.final = torch.where(active.view(-1, 1, 1), pose, self.final)
        self.moved = torch.where(active, moved, self.moved)
        self.loss_after = torch.where(active, loss, self.loss_after)
        stopped = None
        if config.tau_mm is not None:
            stopped = drop = active & (moved > config.tau_mm)
            self.discarded = self.discarded | drop
        if config.epsilon_mm is not None:
            change = torch.linalg.vector_norm(current_mm - self.previous_mm, dim=-1).mean(-1)
            done = active & (change < config.epsilon_mm)
            if stopped is not None:
                done = done & ~stopped
                stopped = stopped | done
            else:
                stopped = done
            self.converged = self.converged | done
        if stopped is not None:
            self.active = active & ~stopped
        self.previous_mm = current_mm

    def result(self) -> CorrectionResult:
        """The :class:`CorrectionResult`; discarded frames get the uncorrected pose."""
        pose = torch.where(self.discarded.view(-1, 1, 1), self.start, self.final)
        return CorrectionResult(
            pose3d=pose, pose3d_mm=self.machine.denormalise_3d(pose), uncorrected=self.start,
            applied=~self.discarded & (self.steps > 0), discarded=self.discarded,
            converged=self.converged, steps=self.steps, loss_before=self.loss_before,
            loss_after=self.loss_after, robust_displacement_mm=self.moved)


class Corrector:
    """Batched test-time correction with one machine's projector and statistics.

    The machine's parameters and buffers are never written; what is derived from them is
    rebuilt whenever one of them changed (in place or replaced), so a checkpoint loaded later
    or a training step is picked up. Works under torch.no_grad() and
    torch.inference_mode(): the backward pass is explicit and needs no autograd. Frames are
    corrected in chunks that keep the dense per-frame copies within ``memory_mb``.
    """

    def __init__(self, machine: nn.Module, config: Optional[CorrectionConfig] = None,
                 memory_mb: float = 512.0) -> None:
        if config is None:
            config = CorrectionConfig.from_preset('paper')
        if not isinstance(config, CorrectionConfig):
            raise TypeError(f'config must be a CorrectionConfig, got {type(config).__name__}')
        if not memory_mb > 0:
            raise ValueError(f'memory_mb must be > 0, got {memory_mb!r}')
        check_projector(machine.projector)
        self.incidence = bone_incidence(machine.config.num_joints)
        self.machine, self.config = machine, config
        self._frozen = None
        adapted = [machine.projector.get_parameter(name) for name in self.adapted_names]
        dense = sum(p.numel() for p in adapted if config.optimizer == 'adam' or p.dim() == 1)
        copies = 5 if config.optimizer == 'adam' else 2    # params, grads (, moments, scratch)
        size = dense * copies * machine.projector.regression.fc1.weight.element_size()
        self.frames_per_chunk = max(1, int(memory_mb * 2 ** 20 // max(1, size)))

    @property
    def adapted_names(self) -> tuple:
        """Names of the projector parameters that take steps, e.g. 'regression.fc1.weight'."""
        if self.config.max_steps == 0:
            return ()
        return tuple(f'{group}.{name}' for group in self.config.adapt
                     for name, _ in getattr(self.machine.projector, group).named_parameters())

    def correct(self, pose3d: torch.Tensor, pose2d: torch.Tensor,
                weights: Optional[torch.Tensor] = None) -> CorrectionResult:
        """Correct B frames or persons at once.

        pose3d: p3d [B, K, 3] normalised (as Ψ_T outputs it); pose2d: p2d [B, K, 2] normalised
        crop coordinates (as Ψ_R outputs it); weights: [B, K] joint confidences >= 0 or a bool
        mask of the joints that enter the 2D loss (default: all, equally).
        """
        pose3d, pose2d, weights = prepare_inputs(self.machine, pose3d, pose2d, weights)
        chunk = self.frames_per_chunk
        with torch.no_grad():
            parts = [self._correct(pose3d[i:i + chunk], pose2d[i:i + chunk],
                                   weights[i:i + chunk]) for i in range(0, len(pose3d), chunk)]
        return CorrectionResult.concatenate(parts)

    def _correct(self, pose3d: torch.Tensor, pose2d: torch.Tensor, weights: torch.Tensor,
                 static: bool = False):
        """The correction of one chunk. ``static``: no value-dependent Python control flow
        (every step runs, stopped frames masked, as :mod:`hpm_ros.correction.exported` traces
        it); the result is the same."""
        config, batch, joints = self.config, pose3d.shape[0], pose3d.shape[1]
        if config.max_steps == 0:
            return self._regress_only(pose3d)
        loss_fn = Loss(pose2d, weights, self.incidence.to(pose3d), config)
        params = DisposableParameters(self.machine.projector, config, batch, self._frozen_state())
        flat3d = pose3d.reshape(batch, -1)
        regressed, projected, cache = projector_forward(params, flat3d)
        loss, grad = loss_fn(projected.view(batch, joints, 2), config.max_steps > 0)
        tracker = _Tracker(self.machine, config, regressed.view(batch, joints, 3), loss)
        for index in range(1, config.max_steps + 1):
            projector_backward(params, cache, grad.reshape(batch, -1))
            params.step(index, tracker.active.unsqueeze(1),
                        not static and bool(tracker.active.all()))
            regressed, projected, cache = projector_forward(params, flat3d)
            loss, grad = loss_fn(projected.view(batch, joints, 2), index < config.max_steps)
            tracker.update(regressed.view(batch, joints, 3), loss)
            if not static and not bool(tracker.active.any()):
                break
        return tracker.result()

    def _frozen_state(self) -> FrozenProjector:
        """The shared per-projector structure, rebuilt when the model's tensors changed."""
        if self._frozen is None or self._frozen.key != projector_state(self.machine.projector):
            self._frozen = FrozenProjector(self.machine.projector, self.config)
        return self._frozen

    def _regress_only(self, pose3d: torch.Tensor):
        """No correction ('off'): Ψ_C alone, no Ψ_P and no 2D loss (loss_before and
        loss_after are NaN: not computed)."""
        regressed = self.machine.projector.regression(pose3d.reshape(len(pose3d), -1))
        regressed = regressed.view_as(pose3d)
        none = torch.zeros(len(pose3d), dtype=torch.bool, device=pose3d.device)
        nan = torch.full((len(pose3d),), math.nan, dtype=pose3d.dtype, device=pose3d.device)
        return CorrectionResult(
            pose3d=regressed, pose3d_mm=self.machine.denormalise_3d(regressed),
            uncorrected=regressed, applied=none, discarded=none, converged=none,
            steps=torch.zeros(len(pose3d), dtype=torch.int64, device=pose3d.device),
            loss_before=nan, loss_after=nan.clone(), robust_displacement_mm=torch.zeros_like(nan))
