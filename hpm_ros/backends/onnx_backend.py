"""The ONNX Runtime backend: the exported Ψ_R and Ψ_T-step graphs with torch tensors as buffers."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpm_ros.backends.base import (Backend, POSE2D_INPUTS, POSE2D_OUTPUTS, TRANSFORMER_INPUTS,
                                   TRANSFORMER_OUTPUTS, check_metadata, export_command,
                                   export_metadata, model_parts, onnx_path)
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.model.machine import PoseMachine

OPTIMIZATION_LEVELS = {'disable': 'ORT_DISABLE_ALL', 'basic': 'ORT_ENABLE_BASIC',
                       'extended': 'ORT_ENABLE_EXTENDED', 'all': 'ORT_ENABLE_ALL'}
EXECUTION_MODES = {'sequential': 'ORT_SEQUENTIAL', 'parallel': 'ORT_PARALLEL'}


@dataclass(frozen=True)
class OrtSettings:
    """ONNX Runtime session options.

    intra_op_threads: threads inside one operator, 0 = ORT's default (one per physical core);
    inter_op_threads: threads across operators (used by the 'parallel' execution mode);
    optimization: graph optimisation level, one of OPTIMIZATION_LEVELS;
    allow_spinning: intra-op threads busy-wait for work after each run. Off by default: on a
    2-core CPU the spinning threads starve the torch code that runs between ORT calls (the
    correction), measured 46 ms instead of 7.6 ms per interleaved torch + ORT frame;
    tensorrt_ep: also use ONNX Runtime's TensorRT execution provider on CUDA when present.
    It builds engines when the session opens, so it is opt-in (engines are built offline).
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 1
    optimization: str = 'all'
    execution_mode: str = 'sequential'
    allow_spinning: bool = False
    tensorrt_ep: bool = False

    def __post_init__(self) -> None:
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ValueError(f'optimization must be one of {sorted(OPTIMIZATION_LEVELS)}, '
                             f'got {self.optimization!r}')
        if self.execution_mode not in EXECUTION_MODES:
            raise ValueError(f'execution_mode must be one of {sorted(EXECUTION_MODES)}, '
                             f'got {self.execution_mode!r}')
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError('thread counts must be >= 0 (0 = runtime default)')


def import_onnxruntime():
    """Import onnxruntime; BackendUnavailableError naming the package when missing."""
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailableError(
            'the onnxruntime backend needs the Python package onnxruntime '
            '(pip install onnxruntime, or onnxruntime-gpu for CUDA)') from error
    return onnxruntime


def _ort_errors() -> tuple:
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    return tuple(value for value in vars(state).values()
                 if isinstance(value, type) and issubclass(value, Exception))


def session_options(ort, settings: OrtSettings):
    """Build ``onnxruntime.SessionOptions`` from ``settings``."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[settings.optimization])
    options.execution_mode = getattr(ort.ExecutionMode, EXECUTION_MODES[settings.execution_mode])
    options.add_session_config_entry('session.intra_op.allow_spinning',
                                     '1' if settings.allow_spinning else '0')
    options.log_severity_level = 3
    return options


def select_providers(ort, device: torch.device, settings: OrtSettings, cache_dir: Path) -> list:
    """Choose execution providers for ``device``: CPU, or CUDA (+ opt-in TensorRT), CPU."""
    available = ort.get_available_providers()
    if device.type == 'cpu':
        return ['CPUExecutionProvider']
    if device.type != 'cuda':
        raise ValueError(f'the onnxruntime backend runs on cpu or cuda, not {device}')
    if not torch.cuda.is_available():
        raise BackendUnavailableError(f'onnxruntime on {device} needs a CUDA GPU; torch sees none')
    if 'CUDAExecutionProvider' not in available:
        raise BackendUnavailableError(
            f'onnxruntime {ort.__version__} has no CUDAExecutionProvider (available: '
            f'{available}); install onnxruntime-gpu or use device cpu')
    index = device.index or 0
    providers = [('CUDAExecutionProvider', {'device_id': index}), 'CPUExecutionProvider']
    if settings.tensorrt_ep:
        if 'TensorrtExecutionProvider' not in available:
            raise BackendUnavailableError(
                f'onnxruntime {ort.__version__} has no TensorrtExecutionProvider')
        providers.insert(0, ('TensorrtExecutionProvider', {
            'device_id': index, 'trt_engine_cache_enable': True,
            'trt_engine_cache_path': str(cache_dir)}))
    return providers


class OnnxRuntimeBackend(Backend):
    """Ψ_R and Ψ_T from ``<model_dir>/<config>.{pose2d,transformer}.onnx`` (see export.py).

    Both files are checked against ``machine`` (config, normalisation, weights SHA-256) and
    ``checkpoint_sha`` when given; a missing file raises BackendUnavailableError, a corrupt or
    mismatched one CheckpointError. Inputs and outputs are torch tensors bound in place
    (IO binding), on CPU or, with onnxruntime-gpu, CUDA.
    """

    name = 'onnxruntime'

    def __init__(self, machine: PoseMachine, model_dir: os.PathLike,
                 device: torch.device = 'cpu', checkpoint_sha: str = '', joint_set: str = 'h36m17',
                 settings: OrtSettings = None) -> None:
        ort = import_onnxruntime()
        self.settings = settings or OrtSettings()
        model_dir = Path(model_dir)
        device = torch.device(device)
        providers = select_providers(ort, device, self.settings, model_dir / 'ort_trt_cache')
        super().__init__(machine.config, device)
        options = session_options(ort, self.settings)
        self.sessions = {}
        inputs_of = {'pose2d': POSE2D_INPUTS, 'transformer': TRANSFORMER_INPUTS}
        for part in model_parts(self.config):
            inputs = inputs_of[part]
            path = onnx_path(model_dir, self.config.name, part)
            expected = export_metadata(machine, part, checkpoint_sha, joint_set)
            self.sessions[part] = self._open(ort, path, options, providers, expected, inputs)
        self.providers = self.sessions['transformer'].get_providers()
        self._binding_device = ('cuda', device.index or 0) if device.type == 'cuda' else ('cpu', 0)

    def _open(self, ort, path: Path, options, providers: list, expected: dict, inputs: tuple):
        if not path.is_file():
            raise BackendUnavailableError(
                f'ONNX file {path} not found; create it with: '
                f'{export_command(path.parent, "onnx")}')
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except _ort_errors() as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise CheckpointError(f'{path} is not a readable ONNX model (truncated or '
                                  f'corrupt?): {reason}') from error
        check_metadata(session.get_modelmeta().custom_metadata_map, expected, path)
        names = tuple(node.name for node in session.get_inputs())
        if names != inputs:
            raise CheckpointError(f'{path} has inputs {names}, expected {inputs}')
        if self.device.type == 'cuda' and 'CUDAExecutionProvider' not in session.get_providers():
            raise BackendUnavailableError(
                f'onnxruntime could not start its CUDA provider for {path} (providers in use: '
                f'{session.get_providers()}); check the CUDA and cuDNN libraries')
        return session

    @property
    def threads(self) -> int:
        """Count the intra-op threads; ORT's default is one per core this process may use."""
        return self.settings.intra_op_threads or len(os.sched_getaffinity(0))

    def _run(self, part: str, inputs: dict, outputs: tuple, batch: int) -> list:
        device_type, device_id = self._binding_device
        session = self.sessions[part]
        binding = session.io_binding()
        for name, tensor in inputs.items():
            binding.bind_input(name, device_type, device_id, np.float32, tuple(tensor.shape),
                               tensor.data_ptr())
        shapes = self.output_shapes(batch)
        results = []
        for name in outputs:
            tensor = torch.empty(shapes[name], dtype=torch.float32, device=self.device)
            binding.bind_output(name, device_type, device_id, np.float32, shapes[name],
                                tensor.data_ptr())
            results.append(tensor)
        if device_type == 'cuda':
            torch.cuda.synchronize(self.device)
        session.run_with_iobinding(binding)
        if device_type == 'cuda':
            binding.synchronize_outputs()
        return results

    def run_pose2d(self, images: torch.Tensor) -> tuple:
        """Ψ_R, see :meth:`Backend.run_pose2d`."""
        images = self.check_images(images)
        self.check_has_pose2d()
        return tuple(self._run('pose2d', {'images': images}, POSE2D_OUTPUTS, images.shape[0]))

    def run_transformer_step(self, features: torch.Tensor, state: tuple) -> tuple:
        """One Ψ_T step, see :meth:`Backend.run_transformer_step`."""
        features, (h, c) = self.check_state(features, state)
        pose3d, h, c = self._run('transformer', {'features': features, 'h': h, 'c': c},
                                 TRANSFORMER_OUTPUTS, features.shape[0])
        return pose3d, (h, c)

    def close(self) -> None:
        """Drop the sessions."""
        self.sessions = {}
