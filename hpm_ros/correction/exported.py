"""The batched correction as one ONNX graph, run by ONNX Runtime.

:class:`hpm_ros.correction.Corrector` at a batch of one person is ~450 small torch operations
(4 steps of forward, loss, explicit backward and update); between BlazePose's runs their
dispatch, with cold caches, costs more than their arithmetic. Exported with every step
unrolled and stopped frames masked (``Corrector._correct(static=True)``, the same code), the
correction is a single ONNX Runtime call.

One file per (projector weights and statistics, correction setting):
``<config>.correction.<digest>.onnx`` with the digest of :func:`correction_digest`, so a file
can only ever be used for the exact model and setting it was made from; `hpm export` writes
the files of a checkpoint's tuned settings (:func:`export_corrections`). A setting without a
file (a knob changed at run time) runs on torch. Inputs pose3d [B, K, 3], pose2d [B, K, 2],
weights [B, K] float32 (dynamic B); outputs ``result_<field>`` for the fields of
:class:`CorrectionResult`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from hpm_ros.correction.batched import Corrector, prepare_inputs
from hpm_ros.correction.config import CorrectionConfig, CorrectionResult, tuned_settings
from hpm_ros.errors import BackendUnavailableError, CheckpointError

INPUTS = ('pose3d', 'pose2d', 'weights')
OUTPUTS = tuple(field.name for field in dataclasses.fields(CorrectionResult))
OUTPUT_NAMES = tuple(f'result_{name}' for name in OUTPUTS)   # inputs and outputs differ
FORMAT_VERSION = 1
MAX_EXPORT_BATCH = 1024


def correction_digest(machine: nn.Module, config: CorrectionConfig) -> str:
    """16 hex digits of SHA-256 over the setting, the projector's tensors and the 3D
    normalisation: what an exported correction graph computes with."""
    digest = hashlib.sha256(f'v{FORMAT_VERSION}'.encode())
    knobs = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)
             if field.name != 'preset'}
    digest.update(json.dumps(knobs, sort_keys=True).encode())
    tensors = list(machine.projector.state_dict().items()) + [
        ('pose3d_min', machine.pose3d_min), ('pose3d_max', machine.pose3d_max)]
    for name, tensor in tensors:
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def correction_path(folder, machine: nn.Module, config: CorrectionConfig,
                    digest: Optional[str] = None) -> Path:
    """Where the exported graph of ``config`` on ``machine`` lives in ``folder`` (``digest``:
    its :func:`correction_digest`, when already computed)."""
    digest = digest or correction_digest(machine, config)
    return Path(folder) / f'{machine.config.name}.correction.{digest}.onnx'


class _CorrectionGraph(nn.Module):
    """What is traced: the corrector's own steps in their static form."""

    def __init__(self, corrector: Corrector) -> None:
        super().__init__()
        self.corrector = corrector

    def forward(self, pose3d: torch.Tensor, pose2d: torch.Tensor,
                weights: torch.Tensor) -> tuple:
        result = self.corrector._correct(pose3d, pose2d, weights, static=True)
        return tuple(getattr(result, name) for name in OUTPUTS)


def export_correction(machine: nn.Module, config: CorrectionConfig, folder) -> Path:
    """Export the correction ``config`` of ``machine`` (eval mode, fp32, CPU) to
    :func:`correction_path`; checked by ``onnx.checker``. ValueError for a setting without
    steps (nothing to export: 'off' is Ψ_C alone)."""
    from hpm_ros.backends.export import export_part

    if config.max_steps == 0:
        raise ValueError('a correction without steps has nothing to export')
    digest = correction_digest(machine, config)
    path = correction_path(folder, machine, config, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    joints = machine.config.num_joints
    example = (0.5 + 0.1 * torch.randn(2, joints, 3, generator=generator),
               torch.rand(2, joints, 2, generator=generator), torch.ones(2, joints))
    metadata = {'hpm_ros.part': 'correction', 'hpm_ros.format': str(FORMAT_VERSION),
                'hpm_ros.digest': digest,
                'hpm_ros.correction': json.dumps(dataclasses.asdict(config), sort_keys=True)}
    graph = _CorrectionGraph(Corrector(machine, config)).eval()
    with torch.no_grad():
        return export_part(graph, example, INPUTS, OUTPUT_NAMES, metadata, path,
                           dict.fromkeys(INPUTS, 0), MAX_EXPORT_BATCH)


def export_corrections(machine: nn.Module, tuned: Optional[dict], folder,
                       presets: tuple = ('aligned',)) -> list:
    """Export the graphs of ``presets`` as the lifting core runs them for this model: each
    preset's shared setting and its per-joint-set settings from the checkpoint's ``tuned``
    entry (settings without steps skipped, each distinct setting once). Returns the Paths."""
    configs = {}
    for preset in presets:
        shared, per_joint_set = tuned_settings(preset, tuned)
        for config in (shared, *per_joint_set.values()):
            if config.max_steps > 0:
                configs.setdefault(correction_digest(machine, config), config)
    return [export_correction(machine, config, folder) for config in configs.values()]


class OnnxCorrector:
    """A :class:`Corrector` whose steps run as its exported graph on ONNX Runtime (CPU).

    Same interface and results (to float tolerance) as the corrector it wraps: ``config``,
    ``correct(pose3d, pose2d, weights)``; inputs are validated by the same
    :func:`prepare_inputs`. BackendUnavailableError without onnxruntime or without the file;
    CheckpointError for a file that is not this correction's graph.
    """

    runtime = 'onnxruntime'

    def __init__(self, corrector: Corrector, folder, threads: int = 1) -> None:
        from hpm_ros.backends.onnx_backend import OrtSettings, import_onnxruntime, session_options

        ort = import_onnxruntime()
        self.corrector, self.config = corrector, corrector.config
        digest = correction_digest(corrector.machine, corrector.config)
        self.path = correction_path(folder, corrector.machine, corrector.config, digest)
        if not self.path.is_file():
            raise BackendUnavailableError(f'no exported correction graph {self.path.name} in '
                                          f'{self.path.parent} (hpm export writes them)')
        options = session_options(ort, OrtSettings(intra_op_threads=threads))
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime raises its own exception types
            raise CheckpointError(f'{self.path} is not a readable ONNX model: '
                                  f'{str(error).strip()[:200]}') from error
        stored = self.session.get_modelmeta().custom_metadata_map.get('hpm_ros.digest')
        if stored != digest:
            raise CheckpointError(f'{self.path} was exported for another model or setting '
                                  f'(digest {stored})')

    def correct(self, pose3d: torch.Tensor, pose2d: torch.Tensor,
                weights: Optional[torch.Tensor] = None) -> CorrectionResult:
        """See :meth:`Corrector.correct`."""
        pose3d, pose2d, weights = prepare_inputs(self.corrector.machine, pose3d, pose2d,
                                                 weights)
        chunk = min(self.corrector.frames_per_chunk, MAX_EXPORT_BATCH)
        parts = []
        for start in range(0, len(pose3d), chunk):
            feed = {name: tensor[start:start + chunk].detach().cpu().numpy()
                    for name, tensor in zip(INPUTS, (pose3d, pose2d, weights))}
            outputs = self.session.run(list(OUTPUT_NAMES), feed)
            parts.append(CorrectionResult(**{name: torch.from_numpy(np.asarray(value))
                                             for name, value in zip(OUTPUTS, outputs)}))
        return CorrectionResult.concatenate(parts)
