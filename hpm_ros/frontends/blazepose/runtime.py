"""Inference runtimes for the BlazePose models: one NHWC float32 array in, a list of arrays out.

Every runtime returns the outputs in the order of the LiteRT interpreter's
``get_output_details()`` (the ONNX conversions keep that order and those shapes). Callers
identify outputs by shape, so an engine whose outputs come in another order still works.
Heavy libraries (ai_edge_litert, onnxruntime, tensorrt, torch) are imported when a runtime
is created, not when this module is imported.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import List

import numpy as np

from hpm_ros.errors import BackendUnavailableError, CheckpointError

RUNTIMES = ('litert', 'onnxruntime', 'tensorrt')
SUFFIXES = {'litert': '.tflite', 'onnxruntime': '.onnx', 'tensorrt': '.engine'}
DETECTOR_STEM = 'pose_detection'
LANDMARK_STEM = 'pose_landmark_full'


def default_model_dir() -> Path:
    """Return the folder of the shipped models, ``<share>/models/blazepose``."""
    from hpm_ros.resources import package_share
    return package_share() / 'models' / 'blazepose'


def model_file(model_dir: os.PathLike, stem: str, runtime: str) -> Path:
    """Return the model file of ``stem`` ('pose_detection', ...) for ``runtime``."""
    if runtime not in SUFFIXES:
        raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
    return Path(model_dir) / f'{stem}{SUFFIXES[runtime]}'


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f'BlazePose model file {path} not found')
    if path.stat().st_size == 0:
        raise CheckpointError(f'BlazePose model file {path} is empty')


class Runtime(abc.ABC):
    """One loaded model. ``input_shape`` (1, H, W, 3); ``output_shapes`` in output order."""

    name = 'abstract'

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.input_shape: tuple = ()
        self.output_shapes: List[tuple] = []

    @abc.abstractmethod
    def run(self, tensor: np.ndarray) -> List[np.ndarray]:
        """Run the model on ``tensor`` [1, H, W, 3] float32 (NHWC): float32 outputs."""

    def check_input(self, tensor: np.ndarray) -> np.ndarray:
        """``tensor`` as a C-contiguous float32 array of ``input_shape``; ValueError if not."""
        tensor = np.ascontiguousarray(tensor, dtype=np.float32)
        if tuple(tensor.shape) != tuple(self.input_shape):
            raise ValueError(f'{self.path.name} takes {self.input_shape}, got {tensor.shape}')
        return tensor

    def close(self) -> None:
        """Release the model; the runtime is unusable after."""


class LiteRtRuntime(Runtime):
    """A ``.tflite`` file on the CPU with ``ai_edge_litert`` (XNNPACK), ``threads`` threads."""

    name = 'litert'

    def __init__(self, path: os.PathLike, threads: int = 1) -> None:
        super().__init__(path)
        _check_file(self.path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise BackendUnavailableError(
                'the litert runtime needs the Python package ai-edge-litert '
                '(pip install ai-edge-litert==2.3.0)') from error
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise CheckpointError(f'{self.path} is not a readable TFLite model (truncated or '
                                  f'corrupt?): {str(error).strip().splitlines()[0]}') from error
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise CheckpointError(f'{self.path} has {len(inputs)} inputs, expected 1')
        self._input = inputs[0]['index']
        self.input_shape = tuple(int(v) for v in inputs[0]['shape'])
        outputs = self._interpreter.get_output_details()
        self._outputs = [detail['index'] for detail in outputs]
        self.output_shapes = [tuple(int(v) for v in detail['shape']) for detail in outputs]

    def run(self, tensor: np.ndarray) -> List[np.ndarray]:
        """Run the model: outputs in ``get_output_details()`` order (copies)."""
        self._interpreter.set_tensor(self._input, self.check_input(tensor))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index).copy() for index in self._outputs]

    def close(self) -> None:
        """Drop the interpreter."""
        self._interpreter = None


class OnnxRuntime(Runtime):
    """An ``.onnx`` conversion with ONNX Runtime on ``device`` 'cpu' or 'cuda[:N]'.

    Session options and providers come from :mod:`hpm_ros.backends.onnx_backend` (spinning
    off, ``threads`` intra-op threads, CUDA then CPU providers on a GPU).
    """

    name = 'onnxruntime'

    def __init__(self, path: os.PathLike, threads: int = 1, device: str = 'cpu') -> None:
        super().__init__(path)
        from hpm_ros.backends.onnx_backend import (OrtSettings, _ort_errors,
                                                   import_onnxruntime, select_providers,
                                                   session_options)
        ort = import_onnxruntime()
        if not self.path.is_file():
            raise CheckpointError(
                f'BlazePose ONNX file {self.path} not found (the ONNX conversions are made '
                f'from the .tflite files offline; put them in {self.path.parent})')
        _check_file(self.path)
        import torch
        settings = OrtSettings(intra_op_threads=threads)
        providers = select_providers(ort, torch.device(device), settings,
                                     self.path.parent / 'ort_trt_cache')
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=session_options(ort, settings),
                providers=providers)
        except _ort_errors() as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise CheckpointError(f'{self.path} is not a readable ONNX model (truncated or '
                                  f'corrupt?): {reason}') from error
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise CheckpointError(f'{self.path} has {len(inputs)} inputs, expected 1')
        self._input = inputs[0].name
        self.input_shape = tuple(int(v) if isinstance(v, int) else 1 for v in inputs[0].shape)
        outputs = self._session.get_outputs()
        self._outputs = [output.name for output in outputs]
        self.output_shapes = [tuple(int(v) if isinstance(v, int) else 1 for v in output.shape)
                              for output in outputs]
        self.providers = self._session.get_providers()

    def run(self, tensor: np.ndarray) -> List[np.ndarray]:
        """Run the model: outputs in the graph's output order (the tflite order)."""
        results = self._session.run(self._outputs, {self._input: self.check_input(tensor)})
        return [np.asarray(result, dtype=np.float32) for result in results]

    def close(self) -> None:
        """Drop the session."""
        self._session = None


class TensorRtRuntime(Runtime):
    """A serialized TensorRT engine (``.engine``, built offline from the ONNX file).

    Written against the TensorRT 10 Python API (``Runtime.deserialize_cuda_engine``,
    ``create_execution_context``, tensors bound by name with ``set_tensor_address``,
    ``execute_async_v3`` on torch's current CUDA stream, torch CUDA tensors as buffers).
    NOT VERIFIED: there is no GPU nor ``tensorrt`` package on the machines this was written
    on, so this class has never run; its tests skip. Build an engine with e.g.
    ``trtexec --onnx=pose_landmark_full.onnx --saveEngine=pose_landmark_full.engine --fp16``.
    Missing package, GPU or engine: BackendUnavailableError; unreadable engine: CheckpointError.
    """

    name = 'tensorrt'

    def __init__(self, path: os.PathLike, device: str = 'cuda') -> None:
        super().__init__(path)
        from hpm_ros.backends.export import import_tensorrt
        trt = import_tensorrt()
        import torch
        self._torch = torch
        self.device = torch.device(device)
        if self.device.type != 'cuda':
            raise BackendUnavailableError(
                f'the tensorrt runtime runs on a CUDA device, not {device!r}')
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                'the tensorrt runtime needs a CUDA GPU; torch sees none')
        if not self.path.is_file():
            raise BackendUnavailableError(
                f'TensorRT engine {self.path} not found; engines are built offline, e.g. '
                f'trtexec --onnx={self.path.with_suffix(".onnx")} --saveEngine={self.path}')
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.device):
            self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self._engine is None:
                raise CheckpointError(f'TensorRT cannot deserialize {self.path} (corrupt, '
                                      f'truncated or built by another TensorRT version)')
            self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise CheckpointError(f'{self.path} has inputs {inputs}, expected one')
        self._input = inputs[0]
        self._outputs = [n for n in names if n != self._input]
        for name in names:
            if self._engine.get_tensor_dtype(name) != trt.float32:
                raise CheckpointError(f'{self.path}: tensor {name} is not float32')
        self.input_shape = tuple(self._engine.get_tensor_shape(self._input))
        self.output_shapes = [tuple(self._engine.get_tensor_shape(n)) for n in self._outputs]

    def run(self, tensor: np.ndarray) -> List[np.ndarray]:
        """Copy in, enqueue on the current stream, wait, copy out (engine output order)."""
        torch = self._torch
        source = torch.from_numpy(self.check_input(tensor)).to(self.device)
        self._context.set_input_shape(self._input, tuple(source.shape))
        self._context.set_tensor_address(self._input, source.data_ptr())
        outputs = []
        for name, shape in zip(self._outputs, self.output_shapes):
            buffer = torch.empty(shape, dtype=torch.float32, device=self.device)
            self._context.set_tensor_address(name, buffer.data_ptr())
            outputs.append(buffer)
        stream = torch.cuda.current_stream(self.device)
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f'TensorRT execution of {self.path} failed (see its log)')
        stream.synchronize()
        return [output.cpu().numpy() for output in outputs]

    def close(self) -> None:
        """Drop the context and the engine (before the runtime)."""
        self._context = None
        self._engine = None


def create_runtime(kind: str, path: os.PathLike, threads: int = 1,
                   device: str = 'cpu') -> Runtime:
    """Open ``path`` with runtime ``kind`` ('litert', 'onnxruntime', 'tensorrt').

    threads: CPU threads (litert, onnxruntime); device: 'cpu' or 'cuda[:N]'. LiteRT runs on
    the CPU only, TensorRT on CUDA only (BackendUnavailableError otherwise).
    """
    if kind == 'litert':
        if device != 'cpu':
            raise BackendUnavailableError(f'the litert runtime runs on the CPU, not {device}')
        return LiteRtRuntime(path, threads)
    if kind == 'onnxruntime':
        return OnnxRuntime(path, threads, device)
    if kind == 'tensorrt':
        return TensorRtRuntime(path, device)
    raise ValueError(f'runtime must be one of {RUNTIMES}, got {kind!r}')
