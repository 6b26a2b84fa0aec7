"""The inference backend interface and the contract between exported files and runtimes.

A backend runs Ψ_R and one Ψ_T step and returns torch tensors, so the correction (always in
torch) runs after any backend. Exported files carry metadata that identifies the model they
were made from; :func:`check_metadata` refuses a file made from another model.
"""
from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hpm_ros.errors import CheckpointError
from hpm_ros.model.config import ModelConfig

EXPORT_FORMAT_VERSION = 1
PARTS = ('pose2d', 'transformer')
POSE2D_INPUTS = ('images',)
POSE2D_OUTPUTS = ('features', 'heatmaps', 'pose2d', 'confidence')
TRANSFORMER_INPUTS = ('features', 'h', 'c')
TRANSFORMER_OUTPUTS = ('pose3d', 'h_out', 'c_out')
BATCH_AXES = {'images': 0, 'features': 0, 'h': 1, 'c': 1}
META_PREFIX = 'hpm_ros.'


def model_parts(config: ModelConfig) -> tuple:
    """The exported parts of a model: Ψ_R and Ψ_T for the image front end, only Ψ_T for the
    keypoints front end (its joint maps are rendered in torch, a few Gaussians)."""
    return ('transformer',) if config.front_end == 'keypoints' else PARTS


def onnx_path(model_dir: Path, config_name: str, part: str) -> Path:
    """Where the ONNX file of ``part`` ('pose2d' or 'transformer') of a config lives."""
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    return Path(model_dir) / f'{config_name}.{part}.onnx'


def engine_path(model_dir: Path, config_name: str, part: str, precision: str) -> Path:
    """Where the TensorRT engine built from :func:`onnx_path` at ``precision`` lives."""
    return onnx_path(model_dir, config_name, part).with_suffix(f'.{precision}.engine')


def export_command(model_dir: Path, formats: str, precision: str = None) -> str:
    """Return the command a user runs to create the files a backend needs."""
    command = f'hpm export --model CHECKPOINT --output {model_dir} --format {formats}'
    return command + (f' --precision {precision}' if precision else '')


def weights_sha256(module: nn.Module) -> str:
    """Hex SHA-256 over a module's state dict (names, dtypes, shapes and bytes, sorted)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().to('cpu').contiguous()
        digest.update(f'{name}:{data.dtype}:{tuple(data.shape)};'.encode())
        digest.update(data.numpy().tobytes())
    return digest.hexdigest()


def export_metadata(machine: nn.Module, part: str, checkpoint_sha: str = '',
                    joint_set: str = 'h36m17') -> dict:
    """Return the metadata an exported ``part`` of ``machine`` carries: str -> str.

    Model config (JSON), joint set, normalisation statistics (JSON, mm), SHA-256 of the
    part's weights and of the source checkpoint ('' when exported from memory), format
    version and part name.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    module = machine.pose2d if part == 'pose2d' else machine.transformer
    normalisation = {'min_mm': machine.pose3d_min.tolist(), 'max_mm': machine.pose3d_max.tolist()}
    return {
        META_PREFIX + 'format_version': str(EXPORT_FORMAT_VERSION),
        META_PREFIX + 'part': part,
        META_PREFIX + 'model_config': json.dumps(machine.config.to_dict(), sort_keys=True),
        META_PREFIX + 'joint_set': joint_set,
        META_PREFIX + 'normalisation': json.dumps(normalisation),
        META_PREFIX + 'weights_sha256': weights_sha256(module),
        META_PREFIX + 'checkpoint_sha256': checkpoint_sha or '',
    }


def check_metadata(found: dict, expected: dict, path: Path) -> None:
    """Refuse (CheckpointError) a file whose metadata does not describe the expected model.

    The checkpoint SHA-256 is compared only when both sides know it; the weights SHA-256
    always is, so a file exported from other weights is refused either way.
    """
    def mismatch(what: str, have: str, want: str) -> CheckpointError:
        return CheckpointError(
            f'{path} was exported for another model ({what}: file has {have}, expected '
            f'{want}); re-export it from the checkpoint you run')

    key = META_PREFIX + 'format_version'
    if found.get(key) != expected[key]:
        raise CheckpointError(
            f'{path} has hpm_ros export format {found.get(key)!r}, this hpm_ros reads '
            f'{expected[key]!r} (a file without it is not an hpm_ros export)')
    for name in ('part', 'joint_set'):
        key = META_PREFIX + name
        if found.get(key) != expected[key]:
            raise mismatch(name, repr(found.get(key)), repr(expected[key]))
    key = META_PREFIX + 'model_config'
    try:
        config = ModelConfig.from_dict(json.loads(found.get(key, '')))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f'{path} has an unreadable model config: {error}') from error
    wanted = ModelConfig.from_dict(json.loads(expected[key]))
    if config != wanted:
        raise mismatch('model config', repr(config.name), repr(wanted.name))
    key = META_PREFIX + 'normalisation'
    if json.loads(found.get(key, 'null')) != json.loads(expected[key]):
        raise mismatch('normalisation statistics', 'other values', 'the checkpoint values')
    key = META_PREFIX + 'checkpoint_sha256'
    if found.get(key) and expected[key] and found[key] != expected[key]:
        raise mismatch('source checkpoint sha256', found[key][:12], expected[key][:12])
    key = META_PREFIX + 'weights_sha256'
    if found.get(key) != expected[key]:
        raise mismatch('weights sha256', str(found.get(key))[:12], expected[key][:12])


@dataclass
class BackendOutput:
    """One frame through Ψ_R and Ψ_T; leading dim [B].

    features f2d [B, C, F, F]; heatmaps [B, K, F, F] (None when the backend does not give
    them); pose2d [B, K, 2] normalised crop coordinates; confidence [B, K]; pose3d [B, K, 3]
    normalised root-relative 3D. All float32 torch tensors on the backend's device.
    """

    features: torch.Tensor
    heatmaps: torch.Tensor
    pose2d: torch.Tensor
    confidence: torch.Tensor
    pose3d: torch.Tensor


class Backend(abc.ABC):
    """Runs Ψ_R and Ψ_T of one model on one runtime and device.

    Inputs and outputs are float32 torch tensors on :attr:`device`; the LSTM state (h, c),
    each [layers, B, hidden], is explicit in :meth:`run_transformer_step`, and carried in
    :attr:`state` by :meth:`step`. ``fallback_reason`` is set when this backend stands in for
    an unavailable one (``create_backend(..., allow_fallback=True)``); ``selection`` says how it
    was chosen (its name, or what 'auto' found).
    """

    name = 'abstract'

    def __init__(self, config: ModelConfig, device: torch.device) -> None:
        self.config = config
        self.device = torch.device(device)
        self.fallback_reason = None
        self.selection = self.name
        self.state = None

    @abc.abstractmethod
    def run_pose2d(self, images: torch.Tensor) -> tuple:
        """Run Ψ_R on images [B, 3, S, S] float32 RGB in [0, 1].

        Returns (features [B, C, F, F], heatmaps [B, K, F, F] or None, pose2d [B, K, 2]
        normalised crop coordinates, confidence [B, K]).
        """

    @abc.abstractmethod
    def run_transformer_step(self, features: torch.Tensor, state: tuple) -> tuple:
        """Run one Ψ_T step on features [B, C, F, F] from state (h, c).

        Returns (pose3d [B, K, 3] normalised root-relative, new state (h, c)).
        """

    @property
    def threads(self) -> int:
        """CPU threads the runtime uses (for benchmark tables)."""
        return torch.get_num_threads()

    def initial_state(self, batch: int = 1) -> tuple:
        """H_0 = zeros: (h, c), each [layers, B, hidden] float32 on :attr:`device`."""
        if batch < 1:
            raise ValueError(f'batch must be positive, got {batch}')
        shape = (self.config.lstm_layers, batch, self.config.lstm_hidden)
        return (torch.zeros(shape, device=self.device), torch.zeros(shape, device=self.device))

    def reset_state(self, batch: int = 1) -> None:
        """Forget the carried LSTM state (time gap, new frame_id, lost person)."""
        self.state = self.initial_state(batch)

    def step(self, images: torch.Tensor) -> BackendOutput:
        """One frame with the carried state: images [B, 3, S, S] -> BackendOutput.

        The state starts at H_0 and is reset when the batch size changes.
        """
        images = self.check_images(images)
        batch = images.shape[0]
        if self.state is None or self.state[0].shape[1] != batch:
            self.reset_state(batch)
        features, heatmaps, pose2d, confidence = self.run_pose2d(images)
        pose3d, self.state = self.run_transformer_step(features, self.state)
        return BackendOutput(features, heatmaps, pose2d, confidence, pose3d)

    def check_has_pose2d(self) -> None:
        """TypeError for a keypoints-front-end model, which has no Ψ_R to run."""
        if self.config.front_end == 'keypoints':
            raise TypeError(f'{self.config.name!r} is a keypoints model: it has no Ψ_R, its '
                            'joint maps come from 2D joints (PoseMachine.encode)')

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        """Validate images [B, 3, S, S] float32 and move them, contiguous, to the device."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f'images must be a torch.Tensor, got {type(images).__name__}')
        size = self.config.input_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f'images must be [B, 3, {size}, {size}], got {tuple(images.shape)}')
        if images.dtype != torch.float32:
            raise TypeError(f'images must be float32 in [0, 1], got {images.dtype}')
        return images.to(self.device).contiguous()

    def check_state(self, features: torch.Tensor, state: tuple) -> tuple:
        """Validate features [B, C, F, F] and state (h, c) [layers, B, hidden]; move them."""
        config = self.config
        expected = (config.feature_channels, config.feature_size, config.feature_size)
        if features.ndim != 4 or tuple(features.shape[1:]) != expected:
            raise ValueError(f'features must be [B, {", ".join(map(str, expected))}], got '
                             f'{tuple(features.shape)}')
        shape = (config.lstm_layers, features.shape[0], config.lstm_hidden)
        if len(state) != 2 or any(tuple(s.shape) != shape for s in state):
            raise ValueError(f'state must be (h, c), each {list(shape)}, got '
                             f'{[tuple(s.shape) for s in state]}')
        return (features.to(self.device, torch.float32).contiguous(),
                tuple(s.to(self.device, torch.float32).contiguous() for s in state))

    def output_shapes(self, batch: int) -> dict:
        """Shape of every exported output at batch ``batch`` (for preallocated buffers)."""
        config = self.config
        f, k = config.feature_size, config.num_joints
        state = (config.lstm_layers, batch, config.lstm_hidden)
        return {'features': (batch, config.feature_channels, f, f), 'heatmaps': (batch, k, f, f),
                'pose2d': (batch, k, 2), 'confidence': (batch, k), 'pose3d': (batch, k, 3),
                'h_out': state, 'c_out': state}

    def close(self) -> None:
        """Release runtime resources (sessions, engines); the backend is unusable after."""

    def __repr__(self) -> str:
        extra = f', fallback for: {self.fallback_reason}' if self.fallback_reason else ''
        return f'{type(self).__name__}({self.config.name!r}, device={self.device}{extra})'
