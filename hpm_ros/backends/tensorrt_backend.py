"""The TensorRT backend: prebuilt engines (``hpm export --format tensorrt``), torch CUDA buffers.

Engines are never built here. Each engine has a sidecar JSON (export.py) recording the
TensorRT version, the SHA-256 of the ONNX file it came from, precision, batch range and GPU;
an engine whose sidecar disagrees with this machine is refused with the command to rebuild it.
Not verified on this project's CI machines (no GPU, no tensorrt): see test/test_backends.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from hpm_ros.backends.base import (POSE2D_INPUTS, POSE2D_OUTPUTS, TRANSFORMER_INPUTS,
                                   TRANSFORMER_OUTPUTS, Backend, check_metadata, engine_path,
                                   export_command, export_metadata, model_parts, onnx_path)
from hpm_ros.backends.export import PRECISIONS, engine_sidecar, file_sha256, import_tensorrt
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.model.machine import PoseMachine


class _Engine:
    """One deserialized engine with its execution context and batch range."""

    def __init__(self, trt, runtime, path: Path, sidecar: dict, inputs: tuple,
                 outputs: tuple) -> None:
        self.path = path
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise CheckpointError(f'TensorRT cannot deserialize {path} (corrupt or truncated); '
                                  f'rebuild it: {export_command(path.parent, "tensorrt")}')
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        wanted = set(inputs) | set(outputs)
        if set(names) != wanted:
            raise CheckpointError(f'{path} has tensors {sorted(names)}, expected {sorted(wanted)}')
        for name in names:
            mode = trt.TensorIOMode.INPUT if name in inputs else trt.TensorIOMode.OUTPUT
            if self.engine.get_tensor_mode(name) != mode:
                raise CheckpointError(f'{path}: tensor {name} is not an {mode}')
            if self.engine.get_tensor_dtype(name) != trt.float32:
                raise CheckpointError(f'{path}: tensor {name} is not float32')
        self.context = self.engine.create_execution_context()
        self.max_batch = int(sidecar['max_batch'])
        self.outputs = outputs

    def run(self, inputs: dict, shapes: dict, device: torch.device) -> list:
        """Bind torch CUDA tensors by name and enqueue on torch's current stream."""
        batch = next(iter(inputs.values())).shape[0]
        if batch > self.max_batch:
            raise ValueError(f'batch {batch} exceeds the engine profile of {self.path} '
                             f'(max {self.max_batch}); rebuild with a larger max batch')
        for name, tensor in inputs.items():
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                raise ValueError(f'{self.path} refuses input {name} of shape '
                                 f'{tuple(tensor.shape)}')
            self.context.set_tensor_address(name, tensor.data_ptr())
        results = []
        for name in self.outputs:
            tensor = torch.empty(shapes[name], dtype=torch.float32, device=device)
            self.context.set_tensor_address(name, tensor.data_ptr())
            results.append(tensor)
        stream = torch.cuda.current_stream(device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f'TensorRT execution of {self.path} failed (see its log)')
        return results


class TensorRTBackend(Backend):
    """Ψ_R and Ψ_T from ``<model_dir>/<config>.<part>.<precision>.engine`` on a CUDA device.

    Missing package, GPU or engine: BackendUnavailableError naming it (and the export
    command). Stale engine (other TensorRT version, GPU or ONNX file): BackendUnavailableError
    with the rebuild command. Engine of another model or corrupt: CheckpointError.
    """

    name = 'tensorrt'

    def __init__(self, machine: PoseMachine, model_dir: os.PathLike,
                 device: torch.device = 'cuda', checkpoint_sha: str = '',
                 joint_set: str = 'h36m17', precision: str = 'fp16') -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        trt = import_tensorrt()
        device = torch.device(device)
        if device.type != 'cuda':
            raise BackendUnavailableError(
                f'the tensorrt backend runs on a CUDA device, not {device}')
        if not torch.cuda.is_available():
            raise BackendUnavailableError('the tensorrt backend needs a CUDA GPU; torch sees none')
        super().__init__(machine.config, device)
        self.precision = precision
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        model_dir = Path(model_dir)
        self.engines = {}
        with torch.cuda.device(self.device):
            io_names = {'pose2d': (POSE2D_INPUTS, POSE2D_OUTPUTS),
                        'transformer': (TRANSFORMER_INPUTS, TRANSFORMER_OUTPUTS)}
            for part in model_parts(self.config):
                inputs, outputs = io_names[part]
                expected = export_metadata(machine, part, checkpoint_sha, joint_set)
                sidecar = self._check_sidecar(trt, model_dir, part, expected)
                path = engine_path(model_dir, self.config.name, part, precision)
                self.engines[part] = _Engine(trt, self._runtime, path, sidecar, inputs, outputs)

    def _check_sidecar(self, trt, model_dir: Path, part: str, expected: dict) -> dict:
        engine = engine_path(model_dir, self.config.name, part, self.precision)
        rebuild = export_command(model_dir, 'tensorrt', self.precision)
        sidecar_path = engine_sidecar(engine)
        if not engine.is_file() or not sidecar_path.is_file():
            raise BackendUnavailableError(
                f'TensorRT engine {engine} (or its sidecar {sidecar_path.name}) not found; '
                f'engines are built offline: {rebuild}')
        try:
            sidecar = json.loads(sidecar_path.read_text())
            recorded = (sidecar['tensorrt_version'], sidecar['onnx_sha256'],
                        sidecar['precision'], sidecar['compute_capability'], sidecar['metadata'],
                        sidecar['engine_sha256'], int(sidecar['max_batch']))
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f'{sidecar_path} is not a readable engine sidecar: {error}') \
                from error
        source = onnx_path(model_dir, self.config.name, part)
        capability = list(torch.cuda.get_device_capability(self.device))
        stale = []
        if recorded[0] != trt.__version__:
            stale.append(f'built with TensorRT {recorded[0]}, running {trt.__version__}')
        if not source.is_file() or file_sha256(source) != recorded[1]:
            stale.append(f'{source.name} is missing or changed since the engine was built')
        if recorded[2] != self.precision:
            stale.append(f'built for {recorded[2]}, {self.precision} requested')
        if list(recorded[3]) != capability:
            stale.append(f'built for compute capability {recorded[3]}, this GPU is {capability}')
        if stale:
            raise BackendUnavailableError(
                f'TensorRT engine {engine} is stale ({"; ".join(stale)}); rebuild: {rebuild}')
        check_metadata(recorded[4], expected, engine)
        if file_sha256(engine) != recorded[5]:
            raise CheckpointError(f'{engine} does not match the SHA-256 in its sidecar (truncated '
                                  f'or modified); rebuild it: {rebuild}')
        return sidecar

    @property
    def max_batch(self) -> int:
        """Largest batch both engines' optimisation profiles accept."""
        return min(engine.max_batch for engine in self.engines.values())

    def run_pose2d(self, images: torch.Tensor) -> tuple:
        """Ψ_R, see :meth:`Backend.run_pose2d`."""
        images = self.check_images(images)
        self.check_has_pose2d()
        shapes = self.output_shapes(images.shape[0])
        return tuple(self.engines['pose2d'].run({'images': images}, shapes, self.device))

    def run_transformer_step(self, features: torch.Tensor, state: tuple) -> tuple:
        """One Ψ_T step, see :meth:`Backend.run_transformer_step`."""
        features, (h, c) = self.check_state(features, state)
        shapes = self.output_shapes(features.shape[0])
        pose3d, h, c = self.engines['transformer'].run(
            {'features': features, 'h': h, 'c': c}, shapes, self.device)
        return pose3d, (h, c)

    def close(self) -> None:
        """Drop contexts and engines (before the runtime)."""
        self.engines = {}
