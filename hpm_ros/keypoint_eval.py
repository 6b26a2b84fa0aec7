"""Held-out evaluation of a keypoints-front-end model: the numbers of its model card.

Held-out performers (:mod:`hpm_ros.data.motion_sources`) in windows of ``length`` frames
and procedural motion of test-split seeds, each window with its own adult body and a camera
of the robot/room prior (:mod:`hpm_ros.data.lifter_clips`); detections simulated by each
detector model (:mod:`hpm_ros.data.detector_models`, one draw per window) in that
detector's joint set, with intrinsics; lifted through :class:`hpm_ros.lift.KeypointLifter`
exactly as `hpm lift` does. Per frame: MPJPE and P-MPJPE (mm, root-relative H36M-17, camera
frame), the best scale onto the truth, the predicted/true bone-length ratio, and the signed
depth errors of legs and upper body (the depth tilt); per pose family.

    python -m hpm_ros.keypoint_eval --model models/hpm_keypoints.pt
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.data.detector_models import DETECTOR_MODELS, DetectorModel, exact_detections
from hpm_ros.data.keypoint_clips import from_front_end
from hpm_ros.data.keypoint_input import to_camera_frame
from hpm_ros.data.lifter_clips import HeldOutSequence, held_out_sequences
from hpm_ros.data.pose_families import POSE_FAMILIES
from hpm_ros.geometry import root_relative
from hpm_ros.lift import KeypointLifter, LiftInput
from hpm_ros.metrics import mpjpe, p_mpjpe
from hpm_ros.skeleton import H36M17

NOISE_SEED = 20_000
LIFT_CHECK = dict(procedural=1, length=50, detector='coco', seed=3)
UNCORRECTED = ['psi_t', 'raw']
LEGS = tuple(H36M17.index(n) for n in ('RKnee', 'RFoot', 'LKnee', 'LFoot'))
UPPER = tuple(H36M17.index(n) for n in ('Neck', 'Head', 'LShoulder', 'RShoulder'))
# The preset as shipped; 'default' (the checkpoint's tuned settings for each detector's joint
# set) is added by main() and is what `hpm lift` and the node use.
CARD_CORRECTIONS = {'aligned': ('aligned', {})}


def detector_input(sequence: HeldOutSequence, detector: DetectorModel, seed: int,
                   fps: float = 25.0) -> LiftInput:
    """Simulated detections of ``sequence`` by ``detector`` in its joint set, with image
    size, intrinsics and ``fps``, as `hpm lift` reads them."""
    detections, _ = detector.detect(sequence.joints3d.astype(np.float64), sequence.intrinsics,
                                    sequence.image_size, np.random.default_rng(seed))
    keypoints, confidence = from_front_end(detections.keypoints, detections.confidence,
                                           detector.joint_set)
    return LiftInput(keypoints, detector.joint_set, sequence.image_size, confidence,
                     sequence.intrinsics, fps)


def frame_diagnostics(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Per frame of root-relative camera-frame poses [N, 17, 3] mm: 'scale' (least-squares
    factor taking the prediction onto the truth), 'bones' (mean predicted / true bone
    length), 'depth_legs' and 'depth_upper' (mean signed depth error, mm, + = too far)."""
    scale = (predicted * truth).sum((1, 2)) / np.maximum((predicted ** 2).sum((1, 2)), 1e-9)
    parents, children = np.array(H36M17.bones).T
    bone = np.linalg.norm(predicted[:, children] - predicted[:, parents], axis=-1)
    true_bone = np.linalg.norm(truth[:, children] - truth[:, parents], axis=-1)
    depth = predicted[..., 2] - truth[..., 2]
    return {'scale': scale, 'bones': (bone / np.maximum(true_bone, 1e-9)).mean(axis=1),
            'depth_legs': depth[:, list(LEGS)].mean(axis=1),
            'depth_upper': depth[:, list(UPPER)].mean(axis=1)}


@dataclass
class KeypointScores:
    """Per-frame values keyed by (detector, variant): mpjpe, p_mpjpe [N] mm and the
    diagnostics of :func:`frame_diagnostics`; families [N] per detector; sequence_mpjpe
    [(detector, variant)] [S] mm (paired comparisons between variants)."""

    mpjpe: dict = field(default_factory=dict)
    p_mpjpe: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    families: dict = field(default_factory=dict)
    sequence_mpjpe: dict = field(default_factory=dict)

    def add(self, key: tuple, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Record one sequence's frames of variant ``key``."""
        errors = mpjpe(predicted, truth)
        self.mpjpe.setdefault(key, []).append(errors)
        self.p_mpjpe.setdefault(key, []).append(p_mpjpe(predicted, truth))
        self.sequence_mpjpe.setdefault(key, []).append(errors.mean())
        for name, values in frame_diagnostics(predicted, truth).items():
            self.diagnostics.setdefault((key, name), []).append(values)

    def finish(self) -> 'KeypointScores':
        """Concatenate the per-sequence lists into arrays."""
        for table in (self.mpjpe, self.p_mpjpe, self.diagnostics, self.families):
            for key, values in table.items():
                table[key] = np.concatenate(values)
        self.sequence_mpjpe = {k: np.array(v) for k, v in self.sequence_mpjpe.items()}
        return self

    def gain(self, detector: str, variant: str) -> tuple:
        """(relative MPJPE gain of ``variant`` over 'raw', standard error of the mean
        per-sequence change mm, share of sequences improved)."""
        delta = self.sequence_mpjpe[(detector, variant)] - self.sequence_mpjpe[(detector, 'raw')]
        error = delta.std(ddof=1) / np.sqrt(len(delta)) if len(delta) > 1 else float('nan')
        raw = self.mpjpe[(detector, 'raw')].mean()
        return (raw - self.mpjpe[(detector, variant)].mean()) / raw, float(error), float(
            (delta < 0).mean())


def evaluate_lifter(lifter: KeypointLifter, sequences: list, detectors: dict,
                    corrections: dict, seed: int = NOISE_SEED,
                    fps: float = 25.0) -> KeypointScores:
    """Lift every sequence with every detector model ({name: DetectorModel}); variants
    'psi_t', 'raw' and one per ``corrections`` entry (label: CorrectionConfig, or None for the
    lifter's own correction of the detector's joint set, as `hpm lift` applies it)."""
    fixed = {name: Corrector(lifter.machine, config) for name, config in corrections.items()
             if config is not None}
    scores = KeypointScores()
    for index, sequence in enumerate(sequences):
        truth = root_relative(sequence.joints3d.astype(np.float64))
        for detector_name, detector in detectors.items():
            data = detector_input(sequence, detector, seed + index, fps)
            *_, valid, pose3d, pose2d, weights = lifter.correction_inputs(data)
            rotations = None if lifter.last_rotations is None else lifter.last_rotations[valid]
            outputs = {}
            for name in corrections:
                corrector = fixed.get(name) or lifter.core.corrector_for(detector.joint_set)
                result = corrector.correct(pose3d, pose2d, weights)
                outputs[name] = result.pose3d_mm
            outputs['raw'] = lifter.machine.denormalise_3d(result.uncorrected)
            outputs['psi_t'] = lifter.machine.denormalise_3d(pose3d)
            scores.families.setdefault(detector_name, []).append(sequence.families[valid])
            for name, pose in outputs.items():
                predicted = to_camera_frame(root_relative(pose.numpy().astype(np.float64)),
                                            rotations)
                scores.add((detector_name, name), predicted, truth[valid])
    return scores.finish()


def _variants(scores: KeypointScores) -> list:
    names = list(dict.fromkeys(key[1] for key in scores.mpjpe))
    return UNCORRECTED + [n for n in names if n not in UNCORRECTED]


def format_scores(scores: KeypointScores, title: str) -> str:
    """Markdown tables: per detector, MPJPE / P-MPJPE per variant, the correction's gain and
    the diagnostics of the default correction's output."""
    detectors = list(scores.families)
    variants = _variants(scores)
    corrected = variants[-1]
    header = (['detector model', 'frames'] + [f'MPJPE {v}' for v in variants]
              + [f'P-MPJPE {v}' for v in variants]
              + [f'gain {v}' for v in variants[2:]])
    lines = [f'**{title}**', '', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for detector in detectors:
        cells = [detector, str(len(scores.families[detector]))]
        cells += [f'{scores.mpjpe[(detector, v)].mean():.1f}' for v in variants]
        cells += [f'{scores.p_mpjpe[(detector, v)].mean():.1f}' for v in variants]
        for variant in variants[2:]:
            gain, error, improved = scores.gain(detector, variant)
            cells.append(f'{gain * 100:.1f} % (± {error:.2f} mm, {improved * 100:.0f} % of seq.)')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'Diagnostics of `{corrected}` (mean over frames): best scale onto the truth, '
              'predicted/true bone length, signed depth error of knees+feet and of '
              'neck+head+shoulders (mm, + = predicted too far), tilt = legs − upper', '',
              '| detector model | scale | bones | depth legs | depth upper | tilt |',
              '|---|---|---|---|---|---|']
    for detector in detectors:
        get = {name: scores.diagnostics[((detector, corrected), name)].mean()
               for name in ('scale', 'bones', 'depth_legs', 'depth_upper')}
        lines.append(f'| {detector} | {get["scale"]:.3f} | {get["bones"]:.3f} | '
                     f'{get["depth_legs"]:+.1f} | {get["depth_upper"]:+.1f} | '
                     f'{get["depth_legs"] - get["depth_upper"]:+.1f} |')
    return '\n'.join(lines) + '\n'


def format_families(scores: KeypointScores) -> str:
    """Markdown table: MPJPE of the last variant per pose family and detector, and its ratio
    to the detector's mean."""
    detectors = list(scores.families)
    variant = _variants(scores)[-1]
    lines = [f'**MPJPE of `{variant}` per pose family (frames; ratio to the mean)**', '',
             '| pose family | ' + ' | '.join(detectors) + ' |',
             '|' + '---|' * (1 + len(detectors))]
    for family in POSE_FAMILIES:
        cells = [family]
        for detector in detectors:
            errors = scores.mpjpe[(detector, variant)]
            mask = scores.families[detector] == family
            if mask.any():
                mean = errors[mask].mean()
                cells.append(f'{mean:.1f} ({mask.sum()}; {mean / errors.mean():.2f}×)')
            else:
                cells.append('–')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_scores(scores: KeypointScores, png_path) -> Path:
    """Left: MPJPE per pose family and detector model (the last variant); right: MPJPE per
    detector model and variant."""
    from hpm_ros.figures import new_figure, save_figure

    detectors, variants = list(scores.families), _variants(scores)
    figure, (families, bars) = new_figure(1, 2, figsize=(12, 4))
    width = 0.8 / len(detectors)
    for index, detector in enumerate(detectors):
        errors = scores.mpjpe[(detector, variants[-1])]
        heights = [errors[scores.families[detector] == f].mean()
                   if (scores.families[detector] == f).any() else 0.0 for f in POSE_FAMILIES]
        families.bar(np.arange(len(POSE_FAMILIES)) + (index - (len(detectors) - 1) / 2) * width,
                     heights, width, label=detector)
    families.set_xticks(np.arange(len(POSE_FAMILIES)), POSE_FAMILIES, rotation=20)
    families.set_ylabel(f'MPJPE {variants[-1]} (mm)')
    families.legend(fontsize=8)
    width = 0.8 / len(variants)
    for index, variant in enumerate(variants):
        heights = [scores.mpjpe[(d, variant)].mean() for d in detectors]
        bars.bar(np.arange(len(detectors)) + (index - (len(variants) - 1) / 2) * width,
                 heights, width, label=variant)
    bars.set_xticks(np.arange(len(detectors)), detectors)
    bars.set_ylabel('MPJPE (mm)')
    bars.set_ylim(bottom=0.8 * min(scores.mpjpe[(d, v)].mean() for d in detectors
                                   for v in variants))
    bars.legend(fontsize=8)
    return save_figure(figure, png_path)


def format_coverage(bank) -> str:
    """Markdown table of a training bank: clips per pose family of their middle frame, from
    recorded and from procedural motion, and the procedural labels behind each family."""
    frames = bank.keypoints.shape[1]
    lines = ['| pose family (middle frame) | clips | frames | recorded | procedural | '
             'main procedural labels |', '|---|---|---|---|---|---|']
    for family in POSE_FAMILIES:
        mask = bank.families == family
        recorded = mask & (bank.actions == 'mocap')
        labels, counts = np.unique(bank.actions[mask & ~recorded], return_counts=True)
        top = ', '.join(f'{label} {count}' for count, label in sorted(
            zip(counts, labels), reverse=True)[:3])
        lines.append(f'| {family} | {mask.sum()} | {mask.sum() * frames} | {recorded.sum()} | '
                     f'{(mask & ~recorded).sum()} | {top} |')
    return '\n'.join(lines) + '\n'


def lift_check_case() -> tuple:
    """The small fixed held-out case that test/test_lift.py recomputes through `hpm lift`:
    (LiftInput, true joints [T, 17, 3] mm root-relative camera frame)."""
    case = LIFT_CHECK
    sequence = held_out_sequences(None, case['procedural'], case['length'])[0]
    data = detector_input(sequence, DETECTOR_MODELS[case['detector']], NOISE_SEED + case['seed'])
    return data, root_relative(sequence.joints3d.astype(np.float64))


def main(argv: list = None) -> int:
    """Print the model card tables of a keypoints model."""
    from hpm_ros.data.mocap_check import find_mocap_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', help='checkpoint (default: models/hpm_keypoints.pt)')
    parser.add_argument('--procedural', type=int, default=40)
    parser.add_argument('--length', type=int, default=50)
    parser.add_argument('--per-trial', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--exact', action='store_true', help='also the exact-2D tables')
    parser.add_argument('--plot', help='also write the per-family and per-detector plot here')
    parser.add_argument('--coverage', metavar='RECIPE',
                        help='only print the pose-family coverage of a recipe\'s training bank')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.coverage:
        from hpm_ros.training.config import load_train_config
        from hpm_ros.training.run import keypoint_bank, resolve_mocap_dir

        config = load_train_config(args.coverage)
        print(format_coverage(keypoint_bank(config, resolve_mocap_dir(config.data.mocap_dir))))
        return 0
    lifter = KeypointLifter(args.model)
    sequences = held_out_sequences(find_mocap_root(), args.procedural, args.length,
                                   max_per_trial=args.per_trial)
    corrections = {name: CorrectionConfig.from_preset(preset, **knobs)
                   for name, (preset, knobs) in CARD_CORRECTIONS.items()}
    corrections['default'] = None  # the checkpoint's tuned settings, per detector
    scores = evaluate_lifter(lifter, sequences, DETECTOR_MODELS, corrections)
    print(format_scores(scores, f'{len(sequences)} held-out sequences of {args.length} frames, '
                        'camera prior, simulated detections'))
    print(format_families(scores))
    if args.plot:
        print(f'plot: {plot_scores(scores, args.plot)}')
    if args.exact:
        exact = {name: exact_detections(model) for name, model in DETECTOR_MODELS.items()}
        print(format_scores(evaluate_lifter(lifter, sequences, exact, corrections),
                            'the same sequences, exact landmarks (no detector errors)'))
    data, truth = lift_check_case()
    output = lifter.lift(data)
    print(f'lift check ({LIFT_CHECK}): MPJPE joints3d '
          f'{mpjpe(output["joints3d"], truth).mean():.2f} mm, joints3d_raw '
          f'{mpjpe(output["joints3d_raw"], truth).mean():.2f} mm')
    return 0


if __name__ == '__main__':
    sys.exit(main())
