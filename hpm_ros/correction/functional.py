"""The per-frame disposable parameters {ω_C^t, ω_P^t} of a batch and the batched Ψ_C / Ψ_P
forward pass with its explicit backward (BatchNorm in eval mode), as :class:`Corrector` steps
them (:mod:`hpm_ros.correction.batched`)."""
from __future__ import annotations

import itertools
import math
from typing import Optional

import torch
from torch import nn

from hpm_ros.correction.config import ADAM_BETAS, ADAM_EPS, CorrectionConfig, GROUPS

# The layer whose input (p3d) never changes between steps (see DisposableParameters.linear).
FIXED_INPUT_LAYER = 'regression.fc1.weight'


class FrozenProjector:
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


class DisposableParameters:
    """The per-frame parameters {ω_C^t, ω_P^t} of one batch, with gradients (and Adam state).

    Adapted vectors (biases, BatchNorm affine) and, for Adam, adapted matrices are dense
    [B, ...] views of one flat [B, N] tensor. For SGD an adapted matrix is the trained one plus
    the rank-1 terms −lr · dy ⊗ x of the steps taken, kept as factors u [B, S, O], v [B, S, I].
    """

    def __init__(self, projector: nn.Module, config: CorrectionConfig, batch: int,
                 frozen: Optional[FrozenProjector] = None) -> None:
        frozen = frozen or FrozenProjector(projector, config)
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


def projector_forward(params: DisposableParameters, pose3d: torch.Tensor) -> tuple:
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


def projector_backward(params: DisposableParameters, cache: tuple,
                       grad_projected: torch.Tensor) -> None:
    """Back-propagate d loss / d p̂2d [B, 2K] through :func:`projector_forward`, storing the
    gradients of the adapted parameters in ``params``."""
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
