"""The batched correction: per-frame disposable projector parameters, explicit backward."""
from __future__ import annotations

import itertools
import math
from typing import Optional

import torch
from torch import nn

from hpm_ros.correction.config import (ADAM_BETAS, ADAM_EPS, CorrectionConfig, CorrectionResult,
                                       GROUPS)
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


# The layer whose input (p3d) never changes between steps (see _Disposable.linear).
FIXED_INPUT_LAYER = 'regression.fc1.weight'


class _Frozen:
    """What every batch of one projector state shares: the trained parameters (detached), the
    BatchNorm running statistics as (mean, 1/std), the flat [1, N] trained values of the
    densely adapted parameters, and, when Ψ_P is not adapted, its four layers with the
    BatchNorms folded in as (W [O, I], Wᵀ [I, O], b [O]).

    ``key`` identifies the projector state (each tensor and its in-place version counter):
    :class:`Corrector` rebuilds this only when the model's parameters or buffers changed.
    """

    def __init__(self, projector: nn.Module, config: CorrectionConfig) -> None:
        self.key = projector_state(projector)
        low_rank = config.optimizer == 'sgd'
        self.base, self.norms, self.dense, self.factor_keys = {}, {}, [], []
        for group in GROUPS:
            for name, parameter in getattr(projector, group).named_parameters():
                key = f'{group}.{name}'
                self.base[key] = parameter.detach()
                if group in config.adapt and low_rank and parameter.dim() == 2:
                    self.factor_keys.append(key)
                elif group in config.adapt:
                    self.dense.append(key)
            for name, layer in getattr(projector, group).named_children():
                if isinstance(layer, nn.BatchNorm1d):
                    inv_std = torch.rsqrt(layer.running_var.detach() + layer.eps)
                    self.norms[f'{group}.{name}'] = (layer.running_mean.detach(), inv_std)
        self.flat = torch.cat([self.base[k].reshape(1, -1) for k in self.dense], 1)
        self.sizes = [self.base[k].numel() for k in self.dense]
        self.folded = None
        if 'projection' not in config.adapt:
            self.folded = []
            for layer, norm in (('fc1', 'bn1'), ('fc2', 'bn2'), ('fc3', 'bn3'), ('fc4', None)):
                weight = self.base[f'projection.{layer}.weight']
                bias = self.base[f'projection.{layer}.bias']
                if norm is not None:
                    mean, inv_std = self.norms[f'projection.{norm}']
                    gain = self.base[f'projection.{norm}.weight'] * inv_std
                    weight = weight * gain.unsqueeze(1)
                    bias = (bias - mean) * gain + self.base[f'projection.{norm}.bias']
                self.folded.append((weight.contiguous(), weight.T.contiguous(), bias))


def projector_state(projector: nn.Module):
    """The identity and in-place version of every parameter and buffer of ``projector``; a
    value equal to no other when one is an inference tensor (those keep no version)."""
    tensors = list(itertools.chain(projector.parameters(), projector.buffers()))
    if any(t.is_inference() for t in tensors):
        return object()
    return tuple((id(t), t._version) for t in tensors)


class _Disposable:
    """The per-frame parameters {ω_C^t, ω_P^t} of one batch, with gradients (and Adam state).

    Adapted vectors (biases, BatchNorm affine) and, for Adam, adapted matrices are dense
    [B, ...] views of one flat [B, N] tensor. For SGD an adapted matrix is the trained one plus
    the rank-1 terms −lr · dy ⊗ x of the steps taken, kept as factors u [B, S, O], v [B, S, I].
    """

    def __init__(self, projector: nn.Module, config: CorrectionConfig, batch: int,
                 frozen: Optional[_Frozen] = None) -> None:
        frozen = frozen or _Frozen(projector, config)
        self.config, self.low_rank = config, config.optimizer == 'sgd'
        self.base, self.norms, self.folded = frozen.base, frozen.norms, frozen.folded
        self.factors = dict.fromkeys(frozen.factor_keys)
        self.pending = {}
        self.fixed_product = self.fixed_norm = self.fixed_sum = None
        self.flat = frozen.flat.repeat(batch, 1)
        self.grad = torch.empty_like(self.flat)     # every backward writes all of it
        if not self.low_rank:       # Adam moments and scratch, written before they are read
            self.moment1, self.moment2, self.scratch = (
                torch.empty_like(self.flat) for _ in range(3))
        self.views, self.grads = ({k: t.view(batch, *self.base[k].shape) for k, t in
                                   zip(frozen.dense, flat.split(frozen.sizes, 1))}
                                  for flat in (self.flat, self.grad))

    def vector(self, key: str) -> torch.Tensor:
        """A bias or BatchNorm affine vector, [B, O] per frame or [O] shared."""
        return self.views.get(key, self.base[key])

    def linear(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """FC layer ``key`` on x [B, I] -> [B, O]."""
        weight, bias = self.views.get(key + '.weight'), self.vector(key + '.bias')
        if weight is not None:
            return torch.baddbmm(bias.unsqueeze(1), x.unsqueeze(1), weight.transpose(1, 2))[:, 0]
        if key + '.weight' == FIXED_INPUT_LAYER and self.low_rank:
            return self._fixed_input_linear(x, bias)
        y = torch.addmm(bias, x, self.base[key + '.weight'].T)
        if self.factors.get(key + '.weight') is not None:
            u, v = self.factors[key + '.weight']
            y = y + (torch.bmm(v, x.unsqueeze(2)) * u).sum(1)
        return y

    def _fixed_input_linear(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Ψ_C's first layer under SGD: its input p3d is the same at every step, so the
        rank-1 terms Σ_s u_s (v_s · x) with v_s = x are ‖x‖² Σ_s u_s, and x Wᵀ is computed
        once."""
        if self.fixed_product is None:
            self.fixed_product = x @ self.base[FIXED_INPUT_LAYER].T
            self.fixed_norm = x.square().sum(1, keepdim=True)
        y = self.fixed_product + bias
        if self.fixed_sum is not None:
            y = torch.addcmul(y, self.fixed_norm, self.fixed_sum)
        return y

    def linear_back(self, key: str, x: torch.Tensor, dy: torch.Tensor, need_dx: bool = True):
        """Store the gradients of FC layer ``key`` for output gradient dy [B, O]; dx [B, I]."""
        weight, bias = key + '.weight', key + '.bias'
        if weight in self.grads:
            torch.mul(dy.unsqueeze(2), x.unsqueeze(1), out=self.grads[weight])
        elif weight in self.factors:
            self.pending[weight] = (dy, x)
        if bias in self.grads:
            self.grads[bias].copy_(dy)
        if not need_dx:
            return None
        if weight in self.views:
            return torch.bmm(dy.unsqueeze(1), self.views[weight])[:, 0]
        dx = dy @ self.base[weight]
        if self.factors.get(weight) is not None:
            u, v = self.factors[weight]
            dx = dx + (torch.bmm(u, dy.unsqueeze(2)) * v).sum(1)
        return dx

    def batch_norm(self, key: str, z: torch.Tensor) -> tuple:
        """Eval-mode BatchNorm ``key`` (running statistics): (output, normalised input)."""
        mean, inv_std = self.norms[key]
        normalised = (z - mean) * inv_std
        return torch.addcmul(self.vector(key + '.bias'), normalised,
                             self.vector(key + '.weight')), normalised

    def batch_norm_back(self, key: str, normalised: torch.Tensor, dout: torch.Tensor):
        """Store the affine gradients of BatchNorm ``key``; the input gradient."""
        if key + '.weight' in self.grads:
            torch.mul(dout, normalised, out=self.grads[key + '.weight'])
            self.grads[key + '.bias'].copy_(dout)
        return dout * self.vector(key + '.weight') * self.norms[key][1]

    def step(self, index: int, active: torch.Tensor, everyone: bool = False) -> None:
        """Optimiser step ``index`` (1-based) on the frames where ``active`` [B, 1] is set;
        ``everyone``: the caller knows that every frame is active (no masking needed)."""
        lr = self.config.lr
        if self.low_rank:
            self.flat.sub_(self.grad if everyone else torch.where(active, self.grad, 0.0),
                           alpha=lr)
            for key, (dy, x) in self.pending.items():
                u = dy * -lr if everyone else torch.where(active, dy * -lr, 0.0)
                if key == FIXED_INPUT_LAYER:
                    self.fixed_sum = u if self.fixed_sum is None else self.fixed_sum + u
                    continue
                u, v = u.unsqueeze(1), x.unsqueeze(1)
                if self.factors[key] is not None:
                    u, v = (torch.cat(pair, 1) for pair in zip(self.factors[key], (u, v)))
                self.factors[key] = (u, v)
            return
        beta1, beta2 = ADAM_BETAS
        grad, moment1, moment2, denom = self.grad, self.moment1, self.moment2, self.scratch
        if index == 1:
            torch.mul(grad, 1.0 - beta1, out=moment1)
            torch.mul(grad, grad, out=moment2).mul_(1.0 - beta2)
        else:
            moment1.lerp_(grad, 1.0 - beta1)
            moment2.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        # sqrt(v̂) + eps = (sqrt(v) + eps · root) / root; adding 1e-30 (far below eps) keeps
        # sqrt off its slow path for exact zeros. An infinite denominator freezes a frame.
        root = math.sqrt(1.0 - beta2 ** index)
        torch.add(moment2, 1e-30, out=denom).sqrt_().add_(ADAM_EPS * root)
        if not everyone:
            denom.masked_fill_(~active, math.inf)
        self.flat.addcdiv_(moment1, denom, value=-lr * root / (1.0 - beta1 ** index))


def _forward(params: _Disposable, pose3d: torch.Tensor) -> tuple:
    """Ψ_C then Ψ_P on p3d [B, 3K]: (p̂3d [B, 3K], p̂2d [B, 2K], cache for the backward)."""
    hidden, n1 = params.batch_norm('regression.bn1', params.linear('regression.fc1', pose3d))
    hidden = torch.relu(hidden)
    regressed = params.linear('regression.fc2', hidden)
    if params.folded is not None:   # Ψ_P fixed: its BatchNorms folded into its layers
        (_, t1, b1), (_, t2, b2), (_, t3, b3), (_, t4, b4) = params.folded
        x = torch.relu(torch.addmm(b1, regressed, t1))
        y2 = torch.relu(torch.addmm(b2, x, t2))
        y3 = torch.relu(torch.addmm(b3, y2, t3))
        projected = torch.addmm(b4, x + y3, t4)
        return regressed, projected, (pose3d, hidden, n1, x, y2, y3)
    x, m1 = params.batch_norm('projection.bn1', params.linear('projection.fc1', regressed))
    x = torch.relu(x)
    y2, m2 = params.batch_norm('projection.bn2', params.linear('projection.fc2', x))
    y2 = torch.relu(y2)
    y3, m3 = params.batch_norm('projection.bn3', params.linear('projection.fc3', y2))
    y3 = torch.relu(y3)
    shortcut = x + y3
    projected = params.linear('projection.fc4', shortcut)
    return regressed, projected, (pose3d, hidden, n1, regressed, x, m1, y2, m2, y3, m3, shortcut)


def _relu_back(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The gradient through relu of its output ``output`` (zero where the unit was off)."""
    return torch.ops.aten.threshold_backward(grad, output, 0)


def _backward(params: _Disposable, cache: tuple, grad_projected: torch.Tensor) -> None:
    """Back-propagate d loss / d p̂2d [B, 2K] through :func:`_forward`, storing the gradients
    of the adapted parameters in ``params``."""
    if params.folded is not None:
        pose3d, hidden, n1, x, y2, y3 = cache
        (w1, _, _), (w2, _, _), (w3, _, _), (w4, _, _) = params.folded
        d_shortcut = grad_projected @ w4
        d = _relu_back(d_shortcut, y3) @ w3
        d = d_shortcut + _relu_back(d, y2) @ w2
        d = _relu_back(d, x) @ w1
    else:
        pose3d, hidden, n1, regressed, x, m1, y2, m2, y3, m3, shortcut = cache
        d_shortcut = params.linear_back('projection.fc4', shortcut, grad_projected)
        d = params.batch_norm_back('projection.bn3', m3, _relu_back(d_shortcut, y3))
        d = params.linear_back('projection.fc3', y2, d)
        d = params.batch_norm_back('projection.bn2', m2, _relu_back(d, y2))
        d = d_shortcut + params.linear_back('projection.fc2', x, d)
        d = params.batch_norm_back('projection.bn1', m1, _relu_back(d, x))
        d = params.linear_back('projection.fc1', regressed, d)
    d = params.linear_back('regression.fc2', hidden, d)
    d = params.batch_norm_back('regression.bn1', n1, _relu_back(d, hidden))
    params.linear_back('regression.fc1', pose3d, d, need_dx=False)


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
        params = _Disposable(self.machine.projector, config, batch, self._frozen_state())
        flat3d = pose3d.reshape(batch, -1)
        regressed, projected, cache = _forward(params, flat3d)
        loss, grad = loss_fn(projected.view(batch, joints, 2), config.max_steps > 0)
        tracker = _Tracker(self.machine, config, regressed.view(batch, joints, 3), loss)
        for index in range(1, config.max_steps + 1):
            _backward(params, cache, grad.reshape(batch, -1))
            params.step(index, tracker.active.unsqueeze(1),
                        not static and bool(tracker.active.all()))
            regressed, projected, cache = _forward(params, flat3d)
            loss, grad = loss_fn(projected.view(batch, joints, 2), index < config.max_steps)
            tracker.update(regressed.view(batch, joints, 3), loss)
            if not static and not bool(tracker.active.any()):
                break
        return tracker.result()

    def _frozen_state(self) -> _Frozen:
        """The shared per-projector structure, rebuilt when the model's tensors changed."""
        if self._frozen is None or self._frozen.key != projector_state(self.machine.projector):
            self._frozen = _Frozen(self.machine.projector, self.config)
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
