"""Offline export: Ψ_R and the Ψ_T step to ONNX (with model metadata), ONNX to TensorRT engines.

Files, in one output folder (see :mod:`hpm_ros.backends.base` for the names):
``<config>.pose2d.onnx`` images [B, 3, S, S] -> features, heatmaps, pose2d, confidence;
``<config>.transformer.onnx`` features [B, C, F, F], h [L, B, H], c [L, B, H] -> pose3d
[B, K, 3], h_out, c_out; ``<config>.<part>.<precision>.engine`` with a ``.json`` sidecar.
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from hpm_ros.backends.base import (BATCH_AXES, EXPORT_FORMAT_VERSION, POSE2D_INPUTS,
                                   POSE2D_OUTPUTS, TRANSFORMER_INPUTS, TRANSFORMER_OUTPUTS,
                                   export_metadata, model_parts, onnx_path)
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.model.machine import PoseMachine

FORMATS = ('onnx', 'tensorrt')
PRECISIONS = ('fp32', 'fp16')
TRACE_BATCH = 2
MAX_EXPORT_BATCH = 4096


class _TransformerStep(nn.Module):
    """Ψ_T for one frame with the LSTM state as explicit inputs and outputs."""

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple:
        pose3d, (h_out, c_out) = self.transformer.step(features, (h, c))
        return pose3d, h_out, c_out


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + '.partial')
    partial.write_bytes(data)
    os.replace(partial, path)


def export_part(module: nn.Module, args: tuple, inputs: tuple, outputs: tuple, metadata: dict,
                path: Path, batch_axes: dict = BATCH_AXES,
                max_batch: int = MAX_EXPORT_BATCH) -> Path:
    """Export ``module`` on example ``args`` to ``path`` (dynamo, one file with its weights):
    named ``inputs`` / ``outputs``, a dynamic batch on each input's axis of ``batch_axes``
    (up to ``max_batch``), ``metadata`` as model properties, checked by ``onnx.checker`` with
    full shape inference, written atomically."""
    import onnx

    batch = torch.export.Dim('batch', min=1, max=max_batch)
    dynamic = {name: {batch_axes[name]: batch} for name in inputs}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        program = torch.onnx.export(
            module, args, None, input_names=list(inputs), output_names=list(outputs),
            dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False)
    model = program.model_proto
    model.producer_name = 'hpm_ros'
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    _write_atomically(path, model.SerializeToString())
    return path


def export_onnx(machine: PoseMachine, out_dir: os.PathLike, checkpoint_sha: str = '',
                joint_set: str = 'h36m17') -> dict:
    """Export Ψ_R and the Ψ_T step of ``machine`` (eval mode, fp32, dynamic batch).

    A keypoints model has no Ψ_R: only its Ψ_T step is exported. Each file holds its weights
    and the metadata of :func:`base.export_metadata`; each passes ``onnx.checker`` with full
    shape inference. Returns {part: Path} ('pose2d' for image models, 'transformer').
    The machine itself is not modified.
    """
    if not isinstance(machine, PoseMachine):
        raise TypeError(f'machine must be a PoseMachine, got {type(machine).__name__}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = machine.config
    size, f = config.input_size, config.feature_size
    state_shape = (config.lstm_layers, TRACE_BATCH, config.lstm_hidden)
    generator = torch.Generator().manual_seed(0)
    parts = {
        'pose2d': (copy.deepcopy(machine.pose2d).cpu().eval(),  # image front end only
                   (torch.rand(TRACE_BATCH, 3, size, size, generator=generator),),
                   POSE2D_INPUTS, POSE2D_OUTPUTS),
        'transformer': (_TransformerStep(copy.deepcopy(machine.transformer)).cpu().eval(),
                        (torch.rand(TRACE_BATCH, config.feature_channels, f, f,
                                    generator=generator),
                         torch.zeros(state_shape), torch.zeros(state_shape)),
                        TRANSFORMER_INPUTS, TRANSFORMER_OUTPUTS),
    }
    paths = {}
    for part in model_parts(config):
        module, args, inputs, outputs = parts[part]
        metadata = export_metadata(machine, part, checkpoint_sha, joint_set)
        paths[part] = export_part(module, args, inputs, outputs, metadata,
                                  onnx_path(out_dir, config.name, part))
    return paths


def file_sha256(path: os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    from hpm_ros.checkpoint import checkpoint_sha256
    return checkpoint_sha256(path)


def import_tensorrt():
    """Import tensorrt; BackendUnavailableError naming the package when missing."""
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(
            'TensorRT needs the Python package tensorrt (NVIDIA TensorRT 10, e.g. '
            'pip install tensorrt-cu12) and a CUDA GPU') from error
    return tensorrt


def engine_sidecar(engine: Path) -> Path:
    """Return the JSON file next to an engine that says what it was built from and with."""
    return engine.with_name(engine.name + '.json')


def build_tensorrt_engine(onnx_file: os.PathLike, precision: str = 'fp16',
                          workspace_mb: int = 1024, max_batch: int = 8,
                          opt_batch: int = 1, engine: os.PathLike = None) -> Path:
    """Build a serialized TensorRT engine from an ONNX file, with its sidecar JSON.

    For hpm_ros exports one optimisation profile covers batch 1..``max_batch`` (tuned for
    ``opt_batch``) on the inputs' batch axes; a model with static input shapes (BlazePose)
    gets none. The sidecar records the TensorRT version, the ONNX file's SHA-256 and
    metadata, precision, batch range and GPU, so the runtime refuses a stale engine.
    engine: where to write it (default ``<onnx stem>.<precision>.engine`` beside the ONNX
    file). Needs tensorrt and a GPU; written against the TensorRT 10 Python API and not run
    here (no GPU on the development machines).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f'need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}')
    if workspace_mb < 1:
        raise ValueError(f'workspace_mb must be positive, got {workspace_mb}')
    trt = import_tensorrt()
    if not torch.cuda.is_available():
        raise BackendUnavailableError('building a TensorRT engine needs a CUDA GPU; none found')
    onnx_file = Path(onnx_file)
    if not onnx_file.is_file():
        raise BackendUnavailableError(f'ONNX file {onnx_file} not found; export ONNX first')
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise CheckpointError(f'TensorRT cannot parse {onnx_file}: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == 'fp16':
        config.set_flag(trt.BuilderFlag.FP16)
    dynamic = [network.get_input(i) for i in range(network.num_inputs)
               if any(size < 0 for size in network.get_input(i).shape)]
    if dynamic:
        profile = builder.create_optimization_profile()
        for tensor in dynamic:
            shape, axis = list(tensor.shape), BATCH_AXES[tensor.name]
            shapes = []
            for batch in (1, opt_batch, max_batch):
                shape[axis] = batch
                shapes.append(tuple(shape))
            profile.set_shape(tensor.name, *shapes)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT failed to build an engine from {onnx_file} (see its log)')
    import onnx
    metadata = {prop.key: prop.value
                for prop in onnx.load(str(onnx_file), load_external_data=False).metadata_props}
    part = onnx_file.stem.rsplit('.', 1)[-1]
    engine = Path(engine) if engine else onnx_file.with_suffix(f'.{precision}.engine')
    _write_atomically(engine, bytes(serialized))
    sidecar = {
        'format_version': EXPORT_FORMAT_VERSION, 'tensorrt_version': trt.__version__,
        'onnx_file': onnx_file.name, 'onnx_sha256': file_sha256(onnx_file),
        'engine_sha256': file_sha256(engine), 'precision': precision, 'part': part,
        'workspace_mb': workspace_mb, 'min_batch': 1, 'opt_batch': opt_batch if dynamic else 1,
        'max_batch': max_batch if dynamic else 1, 'gpu': torch.cuda.get_device_name(),
        'compute_capability': list(torch.cuda.get_device_capability()), 'metadata': metadata,
    }
    _write_atomically(engine_sidecar(engine), json.dumps(sidecar, indent=2).encode())
    return engine


def export_main(checkpoint: os.PathLike, out_dir: os.PathLike, formats=('onnx',),
                precision: str = 'fp16', workspace_mb: int = 1024, max_batch: int = 8) -> list:
    """``hpm export``: checkpoint -> ONNX files and, for 'tensorrt', engines built from them.

    formats: iterable of 'onnx' / 'tensorrt' (or a comma-separated string); 'tensorrt' also
    writes the ONNX files it is built from. Returns the Paths written: the Ψ_R and Ψ_T ONNX
    files, the correction graphs of the model's 'aligned' settings
    (:func:`hpm_ros.correction.exported.export_corrections`, run by onnxruntime on CPU), then
    (tensorrt) the engines of Ψ_R / Ψ_T (each with a ``.json`` sidecar beside it).
    """
    from hpm_ros.checkpoint import load_checkpoint

    if isinstance(formats, str):
        formats = [name.strip() for name in formats.split(',') if name.strip()]
    formats = list(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f'formats must be a non-empty subset of {FORMATS}, got {formats}')
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if 'tensorrt' in formats:
        import_tensorrt()
        if not torch.cuda.is_available():
            raise BackendUnavailableError('--format tensorrt needs a CUDA GPU; none found')
    machine, info = load_checkpoint(checkpoint)
    onnx_files = export_onnx(machine, out_dir, checkpoint_sha=info.sha256,
                             joint_set=info.joint_set)
    written = list(onnx_files.values())
    from hpm_ros.correction.exported import export_corrections
    written += export_corrections(machine, info.metadata.get('correction'), out_dir)
    if 'tensorrt' in formats:
        written += [build_tensorrt_engine(path, precision, workspace_mb, max_batch)
                    for path in onnx_files.values()]
    return written


def export_blazepose_engines(model_dir: os.PathLike = None, precision: str = 'fp16',
                             workspace_mb: int = 1024) -> list:
    """TensorRT engines of the BlazePose detector and landmark model from their shipped ONNX
    files: ``<model_dir>/pose_detection.engine`` and ``pose_landmark_full.engine`` (what the
    front end's 'tensorrt' runtime loads), each with a sidecar JSON. Needs tensorrt and a GPU.
    """
    from hpm_ros.frontends.blazepose.runtime import (DETECTOR_STEM, LANDMARK_STEM,
                                                     default_model_dir, model_file)

    import_tensorrt()
    if not torch.cuda.is_available():
        raise BackendUnavailableError('building TensorRT engines needs a CUDA GPU; none found')
    folder = Path(model_dir) if model_dir else default_model_dir()
    return [build_tensorrt_engine(model_file(folder, stem, 'onnxruntime'), precision,
                                  workspace_mb, engine=model_file(folder, stem, 'tensorrt'))
            for stem in (DETECTOR_STEM, LANDMARK_STEM)]
