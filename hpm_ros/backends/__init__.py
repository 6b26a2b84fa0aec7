"""Inference backends for Ψ_R and Ψ_T: torch, onnxruntime, tensorrt (runtimes imported lazily).

``create_backend`` is the one entry point ('auto' picks onnxruntime when its package and the
model's exported files are there, else torch); export lives in :mod:`hpm_ros.backends.export`.
"""
from __future__ import annotations

import os
import warnings

import torch

from hpm_ros.backends.base import Backend, BackendOutput
from hpm_ros.errors import BackendUnavailableError

BACKENDS = ('torch', 'onnxruntime', 'tensorrt')
AUTO = 'auto'
ALIASES = {'onnx': 'onnxruntime', 'ort': 'onnxruntime', 'trt': 'tensorrt'}

__all__ = ['AUTO', 'BACKENDS', 'Backend', 'BackendOutput', 'available_backends',
           'canonical_name', 'create_backend']


def canonical_name(name: str) -> str:
    """'torch', 'onnxruntime', 'tensorrt' or 'auto' for a backend name or alias; ValueError
    else."""
    canonical = ALIASES.get(str(name).lower(), str(name).lower())
    if canonical not in BACKENDS + (AUTO,):
        raise ValueError(f'unknown backend {name!r}; choose from {BACKENDS + (AUTO,)} '
                         f'(aliases {sorted(ALIASES)})')
    return canonical


def _resolve_model(machine_or_checkpoint) -> tuple:
    """-> (PoseMachine, checkpoint sha256 or '', joint set name)."""
    from hpm_ros.model.machine import PoseMachine

    if isinstance(machine_or_checkpoint, PoseMachine):
        return machine_or_checkpoint, '', 'h36m17'
    if isinstance(machine_or_checkpoint, tuple) and len(machine_or_checkpoint) == 2:
        machine, info = machine_or_checkpoint
        if isinstance(machine, PoseMachine):
            return machine, info.sha256, info.joint_set
    if isinstance(machine_or_checkpoint, (str, os.PathLike)):
        from hpm_ros.checkpoint import load_checkpoint
        machine, info = load_checkpoint(machine_or_checkpoint)
        return machine, info.sha256, info.joint_set
    raise TypeError('machine_or_checkpoint must be a PoseMachine, a (PoseMachine, '
                    'CheckpointInfo) pair or a checkpoint path, got '
                    f'{type(machine_or_checkpoint).__name__}')


def _build(name: str, machine, sha: str, joint_set: str, model_dir, device: torch.device,
           options: dict) -> Backend:
    if name == 'torch':
        from hpm_ros.backends.torch_backend import TorchBackend
        if options:
            raise TypeError(f'the torch backend takes no options, got {sorted(options)}')
        return TorchBackend(machine, device)
    if model_dir is None:
        raise ValueError(f'the {name} backend needs model_dir, the folder of the exported files')
    if name == 'onnxruntime':
        from hpm_ros.backends.onnx_backend import OnnxRuntimeBackend, OrtSettings
        return OnnxRuntimeBackend(machine, model_dir, device, sha, joint_set,
                                  OrtSettings(**options))
    from hpm_ros.backends.tensorrt_backend import TensorRTBackend
    return TensorRTBackend(machine, model_dir, device, sha, joint_set, **options)


def create_backend(name: str, machine_or_checkpoint, model_dir: os.PathLike = None,
                   device='cpu', allow_fallback: bool = False, **options) -> Backend:
    """Create the backend ``name`` for a model.

    machine_or_checkpoint: a PoseMachine, a (PoseMachine, CheckpointInfo) pair from
    ``load_checkpoint`` or a checkpoint path (the checkpoint's SHA-256 is then checked
    against the exported files). model_dir: folder of the exported ONNX / engine files
    (onnxruntime, tensorrt). options: OrtSettings fields for onnxruntime, ``precision`` for
    tensorrt. When the backend is unavailable (package, GPU or file missing) this raises
    BackendUnavailableError, or with ``allow_fallback`` warns (RuntimeWarning) and returns the
    torch backend (on ``device`` when it can, else cpu) with ``fallback_reason`` set.
    Corrupt or mismatched exported files always raise CheckpointError.

    'auto' is onnxruntime (faster on CPU: one session instead of eager torch ops) when the
    package and the model's ONNX files in ``model_dir`` open and match the checkpoint, else
    torch on ``device``; ``selection`` on the backend says which and why (a mismatched or
    corrupt file also warns, RuntimeWarning).
    """
    canonical = canonical_name(name)
    machine, sha, joint_set = _resolve_model(machine_or_checkpoint)
    device = torch.device(device)
    if canonical == AUTO:
        return _auto(machine, sha, joint_set, model_dir, device, options)
    try:
        return _build(canonical, machine, sha, joint_set, model_dir, device, options)
    except BackendUnavailableError as error:
        if not allow_fallback or (canonical == 'torch' and device.type == 'cpu'):
            raise
        reason = str(error)
    from hpm_ros.backends.torch_backend import TorchBackend
    usable = device.type == 'cpu' or (device.type == 'cuda' and torch.cuda.is_available())
    fallback = TorchBackend(machine, device if usable else 'cpu')
    fallback.fallback_reason = f'{canonical} unavailable: {reason}'
    warnings.warn(f'using the torch backend on {fallback.device} instead of {canonical} on '
                  f'{device}: {reason}', RuntimeWarning, stacklevel=2)
    return fallback


def _auto(machine, sha: str, joint_set: str, model_dir, device: torch.device,
          options: dict) -> Backend:
    """The 'auto' choice of :func:`create_backend`."""
    from hpm_ros.errors import CheckpointError

    reason = 'no model_dir of exported files'
    if model_dir is not None:
        try:
            backend = _build('onnxruntime', machine, sha, joint_set, model_dir, device, options)
            backend.selection = 'auto: onnxruntime (exported files found)'
            return backend
        except BackendUnavailableError as error:
            reason = str(error)
        except CheckpointError as error:
            reason = str(error)
            warnings.warn(f'backend auto: not using the ONNX files in {model_dir}: {reason}',
                          RuntimeWarning, stacklevel=3)
    from hpm_ros.backends.torch_backend import TorchBackend
    backend = TorchBackend(machine, device)
    backend.selection = f'auto: torch ({reason})'
    return backend


def available_backends(device='cpu') -> dict:
    """{backend name: None when its runtime can run on ``device``, else the reason}.

    Only packages and devices are checked, not exported files.
    """
    device = torch.device(device)
    gpu = device.type != 'cuda' or torch.cuda.is_available()
    no_gpu = f'{device} requested but torch sees no CUDA GPU'
    reasons = {'torch': None if gpu else no_gpu}
    try:
        from hpm_ros.backends.onnx_backend import import_onnxruntime
        ort = import_onnxruntime()
        if device.type == 'cuda' and 'CUDAExecutionProvider' not in ort.get_available_providers():
            reasons['onnxruntime'] = 'onnxruntime has no CUDAExecutionProvider'
        else:
            reasons['onnxruntime'] = None if gpu else no_gpu
    except BackendUnavailableError as error:
        reasons['onnxruntime'] = str(error)
    try:
        from hpm_ros.backends.export import import_tensorrt
        import_tensorrt()
        reasons['tensorrt'] = (None if torch.cuda.is_available() and device.type == 'cuda'
                               else 'tensorrt needs a CUDA device and GPU')
    except BackendUnavailableError as error:
        reasons['tensorrt'] = str(error)
    return reasons
