"""Throughput of `hpm lift` (the keypoints front end) per correction preset (CPU).

Usage: python bench/lift.py [--frames 1000] [--runs 5] [--threads 1] [--model M]
Lifts one held-out procedural sequence of simulated COCO detections through
:class:`hpm_ros.lift.KeypointLifter` (window mode, the default) and prints the median and
p95 ms per frame of the whole lift and the ratio to the preset 'off' (no correction),
measured in the same run.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description, time_ms  # noqa: E402

from hpm_ros.correction import PRESETS  # noqa: E402
from hpm_ros.data.detector_models import DETECTOR_MODELS  # noqa: E402
from hpm_ros.data.lifter_clips import held_out_sequences  # noqa: E402
from hpm_ros.keypoint_eval import detector_input  # noqa: E402
from hpm_ros.lift import KeypointLifter  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=1000)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--model', help='keypoints checkpoint (default: the shipped one)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sequence = held_out_sequences(None, 1, args.frames, seed=2)[0]
    data = detector_input(sequence, DETECTOR_MODELS['coco'], seed=1)
    print(machine_description())
    print(f'{args.frames} frames of coco17 detections, {args.runs} runs\n')
    print('| correction | ms/frame p50 | ms/frame p95 | frames/s | × time of off |')
    print('|---|---:|---:|---:|---:|')
    baseline = None
    for preset in PRESETS:
        lifter = KeypointLifter(args.model, correction=preset)
        median, p95 = time_ms(lambda: lifter.lift(data), args.runs, warmup=1)
        baseline = baseline or median
        print(f'| {preset} | {median / args.frames:.3f} | {p95 / args.frames:.3f} | '
              f'{1000.0 * args.frames / median:.0f} | {median / baseline:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
