"""Training configuration: YAML into dataclasses that reject unknown keys."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hpm_ros.errors import ConfigError

STAGE_NAMES = ('pose2d', 'transformer', 'projector', 'finetune')


@dataclass
class StageConfig:
    """One stage of Algorithm 1: ``steps`` Adam updates of ``batch_size`` clips."""

    steps: int = 100
    lr: float = 1e-3
    batch_size: int = 8
    weight_decay: float = 0.0
    lr_final_fraction: float = 0.1


@dataclass
class DataConfig:
    """Synthetic training data: rendered clips of procedural and (when present) CMU motion.

    For a keypoints model (no images, :mod:`hpm_ros.data.lifter_clips`): detectors weighs the
    detector models of hpm_ros.data.detector_models ({} = all equally); family_share is the share
    of procedural clips drawn from the thin pose families; motion_3d names Human3.6M-format 3D
    (VideoPose3D data_3d_h36m.npz or a 3d-pose-baseline folder) of motion_3d_subjects to add to the
    recorded motion.
    """

    train_clips: int = 256
    clip_length: int = 8
    two_d_only_fraction: float = 0.25
    mocap_fraction: float = 0.5
    mocap_dir: str = ''
    seed: int = 0
    fps: float = 25.0
    detectors: dict = field(default_factory=dict)
    family_share: float = 0.6
    motion_3d: str = ''
    motion_3d_subjects: list = field(default_factory=lambda: ['S1', 'S5', 'S6', 'S7', 'S8'])


@dataclass
class LossConfig:
    """Weights of the loss terms (Eq. 2, 5, 6, 7)."""

    pose2d: float = 1.0
    heatmap: float = 0.0
    pose3d: float = 1.0
    regression3d: float = 1.0
    projection2d: float = 1.0
    heatmap_sigma: float = 1.0


@dataclass
class TrainConfig:
    """A whole training run: model config name (with ``model_overrides`` of its fields),
    data, per-stage schedules, losses; for a keypoints model ``correction_tuning`` (fields of
    :class:`hpm_ros.training.correction_tuning.TuningConfig`, {} = no tuning) chooses the
    correction settings stored in the final checkpoint."""

    model: str = 'lite'
    output_dir: str = 'runs/lite'
    seed: int = 0
    grad_clip: float = 5.0
    threads: int = 0
    model_overrides: dict = field(default_factory=dict)
    correction_tuning: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    stages: dict = field(default_factory=lambda: {name: StageConfig() for name in STAGE_NAMES})


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f'{where} must be a mapping, got {type(data).__name__}')
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f'unknown keys in {where}: {unknown}')
    return cls(**data)


def train_config_from_dict(data: dict) -> TrainConfig:
    """Build a TrainConfig; unknown keys or stage names raise ConfigError."""
    data = dict(data)
    nested = {
        'data': _build(DataConfig, data.pop('data', {}), 'data'),
        'losses': _build(LossConfig, data.pop('losses', {}), 'losses'),
    }
    stages = data.pop('stages', {})
    if not isinstance(stages, dict):
        raise ConfigError('stages must be a mapping of stage name to settings')
    unknown = sorted(set(stages) - set(STAGE_NAMES))
    if unknown:
        raise ConfigError(f'unknown stages {unknown}; stages are {list(STAGE_NAMES)}')
    nested['stages'] = {name: _build(StageConfig, stages[name] or {}, f'stages.{name}')
                        for name in STAGE_NAMES if name in stages}
    config = _build(TrainConfig, {**data, **nested}, 'training config')
    for name, stage in config.stages.items():
        if stage.steps < 0 or stage.batch_size < 1 or stage.lr <= 0:
            raise ConfigError(f'stages.{name}: steps >= 0, batch_size >= 1 and lr > 0 required')
    return config


def load_train_config(path: str) -> TrainConfig:
    """Read a YAML training config."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'cannot read training config {path}: {error}') from error
    return train_config_from_dict(data)


def model_config(config: TrainConfig):
    """The ModelConfig of a run: the named one with ``model_overrides`` applied."""
    from hpm_ros.model.config import ModelConfig, get_config

    data = get_config(config.model).to_dict()
    unknown = sorted(set(config.model_overrides) - set(data))
    if unknown:
        raise ConfigError(f'unknown model_overrides {unknown}')
    return ModelConfig.from_dict({**data, **config.model_overrides})
