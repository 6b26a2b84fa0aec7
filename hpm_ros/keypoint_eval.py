"""Held-out evaluation of a keypoints-front-end model: the numbers of its model card.

Held-out motion (the CMU trials of synthetic_bank.HELD_OUT_TRIALS in windows of
``length`` frames, and procedural motion of test-split seeds), each window seen by its own
random camera; simulated detections (:mod:`hpm_ros.data.keypoint_noise`, one draw per window
shared by every input joint set) in the layout of each input joint set; lifted through
:class:`hpm_ros.lift.KeypointLifter` exactly as `hpm lift` does; MPJPE and P-MPJPE (mm,
root-relative H36M-17) with and without the correction.

    python -m hpm_ros.keypoint_eval --model models/hpm_keypoints.pt
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.data.keypoint_clips import (INPUT_JOINT_SETS, HeldOutSequence, from_front_end,
                                         held_out_sequences)
from hpm_ros.data.keypoint_noise import KeypointNoise, simulate_detections
from hpm_ros.geometry import root_relative
from hpm_ros.lift import KeypointLifter, LiftInput
from hpm_ros.metrics import mpjpe, p_mpjpe

NOISE_SEED = 20_000
LIFT_CHECK = dict(procedural=1, length=50, joint_set='coco17', seed=3)
# Variants without correction: Ψ_T's intermediate pose and Ψ_C's output before correction.
UNCORRECTED = ['psi_t', 'raw']
VARIANT_LABELS = {'psi_t': 'Ψ_T output', 'raw': 'Ψ_C, no correction'}
# The correction settings of the model card: label -> (preset, knob overrides).
CARD_CORRECTIONS = {
    'paper': ('paper', {}),
    'aligned': ('aligned', {}),
    'official': ('official', {}),
}


def detector_input(sequence: HeldOutSequence, joint_set: str, noise: KeypointNoise,
                   seed: int, fps: float = 25.0) -> LiftInput:
    """Simulated detections of ``sequence`` in the layout of ``joint_set``, with its image
    size, intrinsics and ``fps``, as `hpm lift` reads them."""
    detections = simulate_detections(sequence.keypoints, np.random.default_rng(seed), noise,
                                     sequence.image_size)
    keypoints, confidence = from_front_end(detections.keypoints, detections.confidence,
                                           joint_set)
    return LiftInput(keypoints, joint_set, sequence.image_size, confidence,
                     sequence.intrinsics, fps)


@dataclass
class KeypointScores:
    """Per-frame errors: mpjpe[(joint_set, variant)] and p_mpjpe[...] [N] mm;
    applied[(joint_set, preset)] [N] bool (correction applied); sequence_mpjpe[...] [S] mm,
    the MPJPE of each held-out sequence (for paired comparisons between variants)."""

    mpjpe: dict
    p_mpjpe: dict
    applied: dict
    sequence_mpjpe: dict

    def correction_effect(self, joint_set: str, preset: str) -> tuple:
        """(mean, standard error) over sequences of MPJPE(preset) − MPJPE(raw) in mm, and the
        share of sequences whose MPJPE the correction lowered."""
        delta = self.sequence_mpjpe[(joint_set, preset)] - self.sequence_mpjpe[(joint_set, 'raw')]
        error = delta.std(ddof=1) / np.sqrt(len(delta)) if len(delta) > 1 else float('nan')
        return float(delta.mean()), float(error), float((delta < 0).mean())


def evaluate_lifter(lifter: KeypointLifter, sequences: list, noise: KeypointNoise,
                    corrections: dict = None, joint_sets: tuple = INPUT_JOINT_SETS,
                    seed: int = NOISE_SEED, fps: float = 25.0) -> KeypointScores:
    """Lift every sequence from every input joint set; variants 'psi_t' (Ψ_T's intermediate
    pose), 'raw' (Ψ_C without correction) and one variant per entry of ``corrections``
    (label: CorrectionConfig; default the 'paper' and 'official' presets)."""
    if corrections is None:
        corrections = {name: CorrectionConfig.from_preset(name) for name in ('paper', 'official')}
    correctors = {name: Corrector(lifter.machine, config) for name, config in corrections.items()}
    errors, aligned, applied, per_sequence = {}, {}, {}, {}
    for index, sequence in enumerate(sequences):
        truth = root_relative(sequence.joints3d.astype(np.float64))
        for joint_set in joint_sets:
            data = detector_input(sequence, joint_set, noise, seed + index, fps)
            *_, valid, pose3d, pose2d, weights = lifter.correction_inputs(data)
            outputs = {}
            for name, corrector in correctors.items():
                result = corrector.correct(pose3d, pose2d, weights)
                outputs[name] = result.pose3d_mm
                applied.setdefault((joint_set, name), []).append(result.applied.numpy())
            outputs['raw'] = lifter.machine.denormalise_3d(result.uncorrected)
            outputs['psi_t'] = lifter.machine.denormalise_3d(pose3d)
            for name, pose in outputs.items():
                predicted = root_relative(pose.numpy().astype(np.float64))
                frame_errors = mpjpe(predicted, truth[valid])
                errors.setdefault((joint_set, name), []).append(frame_errors)
                per_sequence.setdefault((joint_set, name), []).append(frame_errors.mean())
                aligned.setdefault((joint_set, name), []).append(
                    p_mpjpe(predicted, truth[valid]))
    join = {key: np.concatenate(values) for key, values in errors.items()}
    return KeypointScores(join, {key: np.concatenate(v) for key, v in aligned.items()},
                          {key: np.concatenate(v) for key, v in applied.items()},
                          {key: np.array(v) for key, v in per_sequence.items()})


def format_scores(scores: KeypointScores, title: str) -> str:
    """Markdown table: one row per input joint set, MPJPE / P-MPJPE per variant."""
    joint_sets = list(dict.fromkeys(key[0] for key in scores.mpjpe))
    presets = list(dict.fromkeys(key[1] for key in scores.applied))
    variants = UNCORRECTED + presets
    header = (['input joint set', 'frames'] + [f'MPJPE {v}' for v in variants]
              + [f'P-MPJPE {v}' for v in variants] + [f'applied {p}' for p in presets])
    lines = [f'**{title}**', '', '| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for joint_set in joint_sets:
        cells = [joint_set, str(len(scores.mpjpe[(joint_set, variants[0])]))]
        cells += [f'{scores.mpjpe[(joint_set, v)].mean():.1f}' for v in variants]
        cells += [f'{scores.p_mpjpe[(joint_set, v)].mean():.1f}' for v in variants]
        cells += [f'{scores.applied[(joint_set, p)].mean() * 100:.0f} %' for p in presets]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Correction effect, MPJPE(preset) − MPJPE(raw) per sequence: mean ± standard '
              'error (share of sequences improved)', '',
              '| input joint set | ' + ' | '.join(presets) + ' |',
              '|' + '---|' * (1 + len(presets))]
    for joint_set in joint_sets:
        cells = [joint_set]
        for preset in presets:
            mean, error, improved = scores.correction_effect(joint_set, preset)
            cells.append(f'{mean:+.2f} ± {error:.2f} mm ({improved * 100:.0f} %)')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_scores(scores: KeypointScores, png_path) -> Path:
    """Left: MPJPE per input joint set and variant (bars); right: per-sequence change of MPJPE
    by each correction preset (dots, one per held-out sequence)."""
    from hpm_ros.figures import new_figure, save_figure

    joint_sets = list(dict.fromkeys(key[0] for key in scores.mpjpe))
    presets = list(dict.fromkeys(key[1] for key in scores.applied))
    variants = UNCORRECTED + presets
    figure, (bars, dots) = new_figure(1, 2, figsize=(11, 4))
    width = 0.8 / len(variants)
    for index, variant in enumerate(variants):
        heights = [scores.mpjpe[(j, variant)].mean() for j in joint_sets]
        positions = np.arange(len(joint_sets)) + (index - (len(variants) - 1) / 2) * width
        bars.bar(positions, heights, width, label=VARIANT_LABELS.get(variant, variant))
    bars.set_xticks(np.arange(len(joint_sets)), joint_sets)
    bars.set_ylabel('MPJPE (mm)')
    bars.set_ylim(bottom=0.8 * min(scores.mpjpe[(j, v)].mean() for j in joint_sets
                                   for v in variants))
    bars.legend(fontsize=8)
    rng = np.random.default_rng(0)
    width = 0.8 / max(len(presets), 1)
    for index, preset in enumerate(presets):
        for place, joint_set in enumerate(joint_sets):
            delta = (scores.sequence_mpjpe[(joint_set, preset)]
                     - scores.sequence_mpjpe[(joint_set, 'raw')])
            centre = place + (index - (len(presets) - 1) / 2) * width
            dots.scatter(centre + rng.uniform(-0.3, 0.3, len(delta)) * width, delta, s=8,
                         color=f'C{index + len(UNCORRECTED)}',
                         label=preset if place == 0 else None)
            dots.hlines(delta.mean(), centre - width / 2, centre + width / 2, color='k')
    dots.axhline(0.0, color='grey', linewidth=0.8)
    dots.set_xticks(np.arange(len(joint_sets)), joint_sets)
    dots.set_ylabel('MPJPE change by the correction (mm), per sequence')
    dots.legend(fontsize=8)
    return save_figure(figure, png_path)


def lift_check_case(noise: KeypointNoise = KeypointNoise()) -> tuple:
    """The small fixed held-out case that test/test_lift.py recomputes through `hpm lift`:
    (LiftInput, true joints [T, 17, 3] mm root-relative)."""
    case = LIFT_CHECK
    sequence = held_out_sequences(None, case['procedural'], case['length'])[0]
    data = detector_input(sequence, case['joint_set'], noise, NOISE_SEED + case['seed'])
    return data, root_relative(sequence.joints3d.astype(np.float64))


def main(argv: list = None) -> int:
    """Print the model card tables of a keypoints model."""
    from hpm_ros.data.mocap_check import find_mocap_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', help='checkpoint (default: models/hpm_keypoints.pt)')
    parser.add_argument('--procedural', type=int, default=40)
    parser.add_argument('--length', type=int, default=50)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--plot', help='also write the noisy-2D scores as a PNG here')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lifter = KeypointLifter(args.model)
    sequences = held_out_sequences(find_mocap_root(), args.procedural, args.length)
    noise = KeypointNoise()
    corrections = {name: CorrectionConfig.from_preset(preset, **knobs)
                   for name, (preset, knobs) in CARD_CORRECTIONS.items()}
    scores = evaluate_lifter(lifter, sequences, noise, corrections)
    print(format_scores(scores, f'{len(sequences)} held-out sequences of {args.length} frames, '
                        'detector noise at its defaults'))
    if args.plot:
        print(f'plot: {plot_scores(scores, args.plot)}')
    print(format_scores(evaluate_lifter(lifter, sequences, noise.without_errors(), corrections),
                        'the same sequences, exact 2D (no detector errors)'))
    data, truth = lift_check_case(noise)
    output = lifter.lift(data)
    print(f'lift check ({LIFT_CHECK}): MPJPE joints3d '
          f'{mpjpe(output["joints3d"], truth).mean():.2f} mm, joints3d_raw '
          f'{mpjpe(output["joints3d_raw"], truth).mean():.2f} mm')
    return 0


if __name__ == '__main__':
    sys.exit(main())
