"""Ψ_T, the 2D-to-3D pose transformer (paper section 3.2): conv, conv, FC, LSTM × 2."""
from __future__ import annotations

import torch
from torch import nn

from hpm_ros.model.config import ModelConfig, transformer_output_cells


class PoseTransformer(nn.Module):
    """Ψ_T: two 5×5/2 convolutions each followed by a 2×2/2 max-pool, an FC layer, two LSTM
    layers (no peepholes) and a 3K output layer.

    The LSTM state H = (h, c), each [layers, B, hidden], carries the temporal dependency; the
    clip API (:meth:`forward`) and the streaming API (:meth:`step`) give the same outputs.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.transformer_channels
        self.adapt = nn.Sequential(
            nn.Conv2d(config.feature_channels, width, kernel_size=5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(width, width, kernel_size=5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(width * transformer_output_cells(config.feature_size) ** 2,
                      config.transformer_fc),
            nn.ReLU(inplace=True))
        self.lstm = nn.LSTM(config.transformer_fc, config.lstm_hidden,
                            num_layers=config.lstm_layers, batch_first=True)
        self.output = nn.Linear(config.lstm_hidden, 3 * config.num_joints)
        self.num_joints = config.num_joints

    def initial_state(self, batch: int, device: torch.device = None,
                      dtype: torch.dtype = torch.float32) -> tuple:
        """H_0 = zeros: (h, c), each [layers, B, hidden]."""
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return (torch.zeros(shape, device=device, dtype=dtype),
                torch.zeros(shape, device=device, dtype=dtype))

    def forward(self, features: torch.Tensor, state: tuple = None) -> tuple:
        """features [B, T, C, F, F] -> (p3d [B, T, K, 3] normalised, final state (h, c))."""
        batch, frames = features.shape[:2]
        adapted = self.adapt(features.flatten(0, 1)).reshape(batch, frames, -1)
        if state is None:
            state = self.initial_state(batch, features.device, features.dtype)
        hidden, state = self.lstm(adapted, state)
        pose3d = self.output(hidden).reshape(batch, frames, self.num_joints, 3)
        return pose3d, state

    def step(self, features: torch.Tensor, state: tuple) -> tuple:
        """One frame: features [B, C, F, F], state (h, c) -> (p3d [B, K, 3], new state)."""
        pose3d, state = self.forward(features[:, None], state)
        return pose3d[:, 0], state
