"""The 3D human pose machine: Ψ_R → Ψ_T → {Ψ_C, Ψ_P}, with streaming and clip APIs."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hpm_ros.model.config import ModelConfig
from hpm_ros.model.keypoints import KeypointEncoder
from hpm_ros.model.pose2d import PoseNet2D
from hpm_ros.model.projector import Projector
from hpm_ros.model.transformer import PoseTransformer

DEFAULT_POSE3D_RANGE_MM = 1000.0


@dataclass
class MachineOutput:
    """Outputs of one forward pass; leading dims are [B] (streaming) or [B, T] (clip).

    features: f2d [..., C, F, F]; heatmaps [..., K, F, F]; pose2d p2d [..., K, 2] and
    projected2d p̂2d [..., K, 2] in normalised crop coordinates; confidence [..., K];
    pose3d p3d and regressed3d p̂3d [..., K, 3], normalised root-relative 3D
    (see :meth:`PoseMachine.denormalise_3d`).
    """

    features: torch.Tensor
    heatmaps: torch.Tensor
    pose2d: torch.Tensor
    confidence: torch.Tensor
    pose3d: torch.Tensor
    regressed3d: torch.Tensor
    projected2d: torch.Tensor


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv, linear and LSTM layer."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.LSTM):
            for name, parameter in layer.named_parameters():
                if name.startswith('weight'):
                    nn.init.xavier_uniform_(parameter)
                else:
                    nn.init.zeros_(parameter)


class PoseMachine(nn.Module):
    """The whole network of paper Eq. 1.

    Inputs of the 'image' front end: images float32 [.., 3, S, S] RGB in [0, 1]. Inputs of
    the 'keypoints' front end (``config.front_end``): 2D joints [.., K, 2] in normalised crop
    coordinates plus ``confidence`` [.., K] (see :mod:`hpm_ros.model.keypoints`), which then
    sits at ``self.pose2d`` in place of Ψ_R. 3D poses inside the network are
    root-relative millimetres min-max normalised per coordinate (paper section 4.1) with the
    statistics held in the buffers ``pose3d_min`` / ``pose3d_max`` [K, 3] (mm).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pose2d = (KeypointEncoder(config) if config.front_end == 'keypoints'
                       else PoseNet2D(config))
        self.transformer = PoseTransformer(config)
        self.projector = Projector(config.num_joints, config.regression_hidden,
                                   config.projection_hidden, config.joint_dropout)
        range_mm = torch.full((config.num_joints, 3), DEFAULT_POSE3D_RANGE_MM)
        self.register_buffer('pose3d_min', -range_mm)
        self.register_buffer('pose3d_max', range_mm.clone())
        xavier_init(self)

    def set_normalisation(self, minimum: torch.Tensor, maximum: torch.Tensor) -> None:
        """Store per-coordinate statistics, each [K, 3] mm; every range must be positive."""
        minimum = torch.as_tensor(minimum, dtype=torch.float32)
        maximum = torch.as_tensor(maximum, dtype=torch.float32)
        expected = (self.config.num_joints, 3)
        if tuple(minimum.shape) != expected or tuple(maximum.shape) != expected:
            raise ValueError(f'normalisation statistics must be {expected}, got '
                             f'{tuple(minimum.shape)} and {tuple(maximum.shape)}')
        if not bool((maximum > minimum).all()):
            raise ValueError('normalisation maximum must exceed minimum for every coordinate')
        self.pose3d_min.copy_(minimum)
        self.pose3d_max.copy_(maximum)

    def normalise_3d(self, pose_mm: torch.Tensor) -> torch.Tensor:
        """[..., K, 3] root-relative mm -> [..., K, 3] normalised (training range [0, 1])."""
        return (pose_mm - self.pose3d_min) / (self.pose3d_max - self.pose3d_min)

    def denormalise_3d(self, pose: torch.Tensor) -> torch.Tensor:
        """[..., K, 3] normalised -> [..., K, 3] root-relative mm."""
        return pose * (self.pose3d_max - self.pose3d_min) + self.pose3d_min

    def initial_state(self, batch: int = 1, device: torch.device = None) -> tuple:
        """LSTM state H_0 = zeros, (h, c) each [layers, B, hidden]."""
        return self.transformer.initial_state(batch, device)

    def encode(self, inputs: torch.Tensor, confidence: torch.Tensor = None) -> tuple:
        """The front end on B frames: images [B, 3, S, S], or keypoints [B, K, 2] with
        ``confidence`` [B, K] (None: all 1) -> (f2d [B, C, F, F], heatmaps [B, K, F, F],
        p2d [B, K, 2], confidence [B, K])."""
        if self.config.front_end == 'keypoints':
            return self.pose2d(inputs, confidence)
        if confidence is not None:
            raise ValueError('confidence is an input of the keypoints front end only; the '
                             'image front end computes its own')
        return self.pose2d(inputs)

    def step(self, inputs: torch.Tensor, state: tuple = None,
             confidence: torch.Tensor = None) -> tuple:
        """Streaming API, one frame: images [B, 3, S, S] (or keypoints [B, K, 2] and
        ``confidence`` [B, K]) -> (MachineOutput with [B] leading dims, new LSTM state).
        ``state=None`` starts from H_0."""
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs.device)
        features, heatmaps, pose2d, confidence = self.encode(inputs, confidence)
        pose3d, state = self.transformer.step(features, state)
        regressed, projected = self.projector(pose3d)
        return MachineOutput(features, heatmaps, pose2d, confidence, pose3d, regressed,
                             projected), state

    def forward(self, clips: torch.Tensor, state: tuple = None,
                confidence: torch.Tensor = None) -> tuple:
        """Clip API: clips [B, T, 3, S, S] (or keypoints [B, T, K, 2] and ``confidence``
        [B, T, K]) -> (MachineOutput with [B, T] leading dims, final LSTM state). Identical to
        calling :meth:`step` on each frame in order."""
        batch, frames = clips.shape[:2]
        features, heatmaps, pose2d, confidence = self.encode(
            clips.flatten(0, 1), None if confidence is None else confidence.flatten(0, 1))
        unflat = (batch, frames)
        features = features.reshape(*unflat, *features.shape[1:])
        pose3d, state = self.transformer(features, state)
        regressed, projected = self.projector(pose3d.flatten(0, 1))
        return MachineOutput(
            features, heatmaps.reshape(*unflat, *heatmaps.shape[1:]),
            pose2d.reshape(*unflat, -1, 2), confidence.reshape(*unflat, -1), pose3d,
            regressed.reshape(*unflat, -1, 3), projected.reshape(*unflat, -1, 2)), state


def build_machine(config: ModelConfig) -> PoseMachine:
    """A freshly initialised (Xavier) machine in eval mode."""
    return PoseMachine(config).eval()
