"""Parameter and multiply-accumulate counts of the pose machine, per sub-network."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hpm_ros.model.machine import PoseMachine


def _lstm_macs(lstm: nn.LSTM) -> int:
    """MACs of one time step of a stacked LSTM (four gates, input and recurrent products)."""
    macs = 0
    for layer in range(lstm.num_layers):
        width = lstm.input_size if layer == 0 else lstm.hidden_size
        macs += 4 * lstm.hidden_size * (width + lstm.hidden_size)
    return macs


def _counted_macs(function, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        function(*args)
    return counter.get_total_flops() // 2


def parameter_count(module: nn.Module) -> int:
    """Number of trainable and frozen parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def complexity(machine: PoseMachine) -> dict:
    """Per sub-network {'params': int, 'macs': int} for one frame at batch 1, keyed
    'psi_r' (the front end: Ψ_R, or a keypoints model's joint maps), 'psi_t', 'psi_c', 'psi_p'
    and 'total'. LSTM MACs are counted analytically
    (torch's flop counter does not see the fused LSTM kernel)."""
    config = machine.config
    machine = machine.eval()
    if config.front_end == 'keypoints':     # the front end reads 2D joints, not images
        front_end_input = (torch.full((1, config.num_joints, 2), 0.5),
                           torch.ones(1, config.num_joints))
    else:
        front_end_input = (torch.zeros(1, 3, config.input_size, config.input_size),)
    features = torch.zeros(1, 1, config.feature_channels, config.feature_size, config.feature_size)
    pose3d = torch.zeros(1, 3 * config.num_joints)
    transformer = machine.transformer
    result = {
        'psi_r': {'params': parameter_count(machine.pose2d),
                  'macs': _counted_macs(machine.pose2d, *front_end_input)},
        'psi_t': {'params': parameter_count(transformer),
                  'macs': _counted_macs(transformer, features) + _lstm_macs(transformer.lstm)},
        'psi_c': {'params': parameter_count(machine.projector.regression),
                  'macs': _counted_macs(machine.projector.regression, pose3d)},
        'psi_p': {'params': parameter_count(machine.projector.projection),
                  'macs': _counted_macs(machine.projector.projection, pose3d)},
    }
    result['total'] = {key: sum(part[key] for part in result.values())
                       for key in ('params', 'macs')}
    return result
