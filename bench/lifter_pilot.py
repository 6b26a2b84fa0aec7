"""Ψ_T MPJPE of a keypoints checkpoint on held-out clips, per detector model (pilot score).

Usage: python bench/lifter_pilot.py CHECKPOINT [--clips 400] [--seed 1]
Clips of 8 frames of the held-out performers and test-split procedural motion
(:func:`hpm_ros.data.lifter_clips.build_lifter_bank`, split 'test'), in the checkpoint's
input encoding; Ψ_T's output (no Ψ_C, no correction) against the truth, mm, root-relative.
Used to choose the input encoding (models/KEYPOINTS_MODEL_CARD.md).
"""
import argparse
import sys

import numpy as np
import torch

from hpm_ros.checkpoint import load_checkpoint
from hpm_ros.data.detector_models import DETECTOR_MODELS
from hpm_ros.data.lifter_clips import build_lifter_bank
from hpm_ros.data.mocap_check import find_mocap_root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--clips', type=int, default=400)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine, _ = load_checkpoint(args.checkpoint)
    config = machine.config
    cells = []
    for detector in DETECTOR_MODELS:
        bank = build_lifter_bank(args.clips, 8, seed=args.seed, split='test',
                                 mocap_dir=find_mocap_root(), detectors={detector: 1.0},
                                 encoding=config.input_encoding, progress=False)
        with torch.no_grad():
            output, _ = machine(torch.from_numpy(bank.keypoints),
                                confidence=torch.from_numpy(bank.confidence))
        predicted = machine.denormalise_3d(output.pose3d).numpy()
        predicted -= predicted[..., :1, :]
        truth = bank.pose3d - bank.pose3d[..., :1, :]
        cells.append(f'{detector} {np.linalg.norm(predicted - truth, axis=-1).mean():.1f}')
    print(f'{args.checkpoint}: encoding {config.input_encoding}, coordinate channels '
          f'{config.keypoint_channels}: ' + ' | '.join(cells))
    return 0


if __name__ == '__main__':
    sys.exit(main())
