"""The correction's per-checkpoint default: chosen on validation banks, stored in the checkpoint.

After training, a validation bank per detector model (:func:`build_lifter_bank` with split
'val': the training trials, other windows, bodies, cameras and detections; never the held-out
performers) goes through Ψ_T; every setting of a small grid of the ``aligned`` preset's knobs
corrects its frames. Two choices are stored in the checkpoint's metadata as ``correction =
{'preset', 'overrides', 'validation', 'per_joint_set', 'grid'}``:

- shared (``overrides``): the lowest mean over detectors of the relative MPJPE change (a
  setting must not raise the error of any detector) — for 2D of a layout not tuned;
- per detector (``per_joint_set``, keyed by the detector model's input joint set): the lowest
  MPJPE on that detector's bank, the fewest steps among settings within
  ``tolerance_mm`` of it (cheaper at run time), and no correction (``max_steps`` 0) when no
  setting lowers that detector's error.

:class:`hpm_ros.lifting.LiftingCore` (node, `hpm lift`, every tool) uses them when asked for
that preset without knobs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hpm_ros.checkpoint import load_checkpoint, save_checkpoint
from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.data.detector_models import get_detector

PRESET = 'aligned'


@dataclass
class TuningConfig:
    """Validation clips per detector model and the grid of knob values (``aligned`` preset
    fields); an empty grid or 0 clips skip the tuning."""

    clips: int = 300
    seed: int = 7
    grid: dict = field(default_factory=lambda: {
        'lr': [0.01, 0.02, 0.05], 'max_steps': [2, 4, 8], 'tau_mm': [20.0, 40.0]})
    tolerance_mm: float = 0.1


def _mpjpe(pose_mm: torch.Tensor, truth: np.ndarray) -> float:
    """MPJPE (mm) of poses [N, K, 3] mm made root-relative against root-relative ``truth``."""
    predicted = pose_mm.numpy()
    predicted = predicted - predicted[:, :1]
    return float(np.linalg.norm(predicted - truth, axis=-1).mean())


def validation_inputs(machine, banks: dict) -> dict:
    """{detector: (Ψ_T p3d [N, K, 3] normalised, 2D target [N, K, 2], weights [N, K], truth
    [N, K, 3] mm root-relative)} of every frame of each bank."""
    out = {}
    with torch.no_grad():
        for name, bank in banks.items():
            outputs, _ = machine(torch.from_numpy(bank.keypoints),
                                 confidence=torch.from_numpy(bank.confidence))
            truth = bank.pose3d - bank.pose3d[..., :1, :]
            out[name] = (outputs.pose3d.flatten(0, 1), torch.from_numpy(
                bank.keypoints).flatten(0, 1), torch.from_numpy(bank.confidence).flatten(0, 1),
                truth.reshape(-1, *truth.shape[2:]))
    return out


def sweep(machine, inputs: dict, grid: dict) -> list:
    """Rows (overrides, {detector: (MPJPE uncorrected, MPJPE corrected)}) per grid point."""
    names = sorted(grid)
    rows = []
    for values in itertools.product(*(grid[n] for n in names)):
        overrides = dict(zip(names, values))
        corrector = Corrector(machine, CorrectionConfig.from_preset(PRESET, **overrides))
        scores = {}
        for detector, (pose3d, pose2d, weights, truth) in inputs.items():
            with torch.no_grad():
                result = corrector.correct(pose3d, pose2d, weights)
            scores[detector] = (_mpjpe(machine.denormalise_3d(result.uncorrected), truth),
                                _mpjpe(result.pose3d_mm, truth))
        rows.append((overrides, scores))
    return rows


def best_setting(rows: list) -> tuple:
    """The row with the lowest mean relative change among those that lower every
    detector's MPJPE (else the lowest mean relative change)."""
    def gains(scores):
        return [(after - before) / before for before, after in scores.values()]
    safe = [row for row in rows if max(gains(row[1])) < 0] or rows
    return min(safe, key=lambda row: np.mean(gains(row[1])))


def best_per_detector(rows: list, tolerance_mm: float) -> dict:
    """{detector: (overrides, (MPJPE uncorrected, MPJPE corrected))}: per detector the
    lowest corrected MPJPE, the fewest ``max_steps`` among rows within ``tolerance_mm`` of
    it, and ({'max_steps': 0}, (before, before)) when no row lowers that detector's error."""
    chosen = {}
    for detector in rows[0][1]:
        scored = [(overrides, scores[detector]) for overrides, scores in rows]
        before = scored[0][1][0]
        best = min(after for _, (_, after) in scored)
        if best >= before:
            chosen[detector] = ({'max_steps': 0}, (before, before))
            continue
        near = [row for row in scored if row[1][1] <= best + tolerance_mm]
        chosen[detector] = min(near, key=lambda row: (row[0].get('max_steps', 0), row[1][1]))
    return chosen


def tune_checkpoint(path, config: TuningConfig, build_bank, detectors: list,
                    progress: bool = True) -> dict:
    """Tune the correction of the checkpoint at ``path`` and store the result in it.

    build_bank(detector, clips, seed) -> KeypointClipBank of the validation split. Returns
    the stored metadata entry (or {} when the tuning is switched off)."""
    if config.clips <= 0 or not config.grid:
        return {}
    machine, info = load_checkpoint(path)
    banks = {name: build_bank(name, config.clips, config.seed) for name in detectors}
    rows = sweep(machine, validation_inputs(machine, banks), config.grid)
    overrides, scores = best_setting(rows)
    per_detector = best_per_detector(rows, config.tolerance_mm)
    entry = {'preset': PRESET, 'overrides': overrides,
             'validation': {name: {'uncorrected_mm': before, 'corrected_mm': after}
                            for name, (before, after) in scores.items()},
             'per_joint_set': {
                 get_detector(name).joint_set: {'detector': name, 'overrides': chosen,
                                                'uncorrected_mm': before, 'corrected_mm': after}
                 for name, (chosen, (before, after)) in per_detector.items()},
             'grid': [{'overrides': o, 'mpjpe_mm': {k: v[1] for k, v in s.items()}}
                      for o, s in rows]}
    if progress:
        print(f'correction on the validation banks: {overrides} -> ' + ', '.join(
            f'{name} {before:.1f} -> {after:.1f} mm' for name, (before, after) in scores.items()))
        for name, (chosen, (before, after)) in per_detector.items():
            print(f'  {name} alone: {chosen} -> {before:.1f} -> {after:.1f} mm')
    save_checkpoint(Path(path), machine, info.joint_set, **{**info.metadata, 'correction': entry})
    return entry
