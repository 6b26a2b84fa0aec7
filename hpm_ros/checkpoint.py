"""Checkpoints that rebuild the model from the file alone: config, joint set, statistics."""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hpm_ros.errors import CheckpointError, ConfigError
from hpm_ros.model.config import ModelConfig
from hpm_ros.model.machine import PoseMachine

FORMAT_VERSION = 1
REQUIRED_KEYS = ('format_version', 'model_config', 'joint_set', 'normalisation', 'state_dict')


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself besides the weights."""

    path: Path
    format_version: int
    config: ModelConfig
    joint_set: str
    sha256: str
    metadata: dict = field(default_factory=dict)


def checkpoint_sha256(path: os.PathLike) -> str:
    """Hex SHA-256 of the file's bytes (identifies the source of exports and engines)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(path: os.PathLike, machine: PoseMachine, joint_set: str = 'h36m17',
                    **metadata) -> Path:
    """Write ``machine`` with its config, joint set, normalisation and ``metadata`` (plain
    data: numbers, strings, lists, dicts). The file is written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        'format_version': FORMAT_VERSION,
        'model_config': machine.config.to_dict(),
        'joint_set': joint_set,
        'normalisation': {'min_mm': machine.pose3d_min.tolist(),
                          'max_mm': machine.pose3d_max.tolist()},
        'state_dict': {k: v.detach().cpu() for k, v in machine.state_dict().items()},
        'metadata': metadata,
    }
    partial = path.with_name(path.name + '.partial')
    torch.save(payload, partial)
    os.replace(partial, path)
    return path


def _read_payload(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        garbage = isinstance(error, (KeyError, IndexError, TypeError, AttributeError))
        reason = 'not a torch file' if garbage else str(error).strip().split('. ')[0]
        raise CheckpointError(
            f'checkpoint {path} is truncated or not a hpm_ros checkpoint ({reason})') from error
    if not isinstance(payload, dict):
        raise CheckpointError(f'checkpoint {path} does not hold a hpm_ros checkpoint dictionary')
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f'checkpoint {path} lacks {missing}; not a hpm_ros checkpoint')
    if payload['format_version'] != FORMAT_VERSION:
        raise CheckpointError(
            f'checkpoint {path} has format version {payload["format_version"]}, this hpm_ros '
            f'reads version {FORMAT_VERSION}')
    return payload


def load_checkpoint(path: os.PathLike, expected_config: str = None) -> tuple:
    """Rebuild the machine stored at ``path`` -> (PoseMachine in eval mode, CheckpointInfo).

    ``expected_config``: refuse a checkpoint whose config name differs. Every failure (missing,
    truncated, not a checkpoint at all, other version, mismatched shapes, bad config, NaN or
    infinite weights) raises CheckpointError.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        config = ModelConfig.from_dict(dict(payload['model_config']))
    except ConfigError as error:
        raise CheckpointError(f'checkpoint {path} has an invalid model config: {error}') from error
    if expected_config is not None and config.name != expected_config:
        raise CheckpointError(
            f'checkpoint {path} holds a {config.name!r} model, expected {expected_config!r}')
    machine = PoseMachine(config)
    try:
        machine.load_state_dict(payload['state_dict'], strict=True)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()
        raise CheckpointError(
            f'checkpoint {path} does not match its {config.name!r} config: '
            f'{" ".join(line.strip() for line in first_line[:3])}') from error
    broken = [name for name, tensor in machine.state_dict().items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        raise CheckpointError(f'checkpoint {path} has NaN or infinite weights in {len(broken)} '
                              f'tensors (first: {broken[0]}); it cannot give poses')
    info = CheckpointInfo(path=path, format_version=payload['format_version'], config=config,
                          joint_set=payload['joint_set'], sha256=checkpoint_sha256(path),
                          metadata=dict(payload.get('metadata') or {}))
    return machine.eval(), info
