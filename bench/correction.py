"""Cost of the test-time correction: batched vs a naive per-frame deepcopy loop (CPU).

Usage: python bench/correction.py [--configs lite,paper] [--presets paper,official]
                                  [--batches 1,8,64] [--budget 2.0] [--threads N]
Prints ms per frame (median) of :class:`hpm_ros.correction.Corrector` and of
:func:`hpm_ros.correction.correct_per_frame` (a deepcopy of the projector and a torch.optim
optimiser per frame) on random-init machines, τ and ε disabled so that every frame takes all
``max_steps`` steps, and the share of the correction in a lite frame. On a CPU shared with
other jobs, ``--threads 1`` avoids intra-op thread hand-offs that make timings erratic.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402

from hpm_ros.correction import CorrectionConfig, Corrector, correct_per_frame  # noqa: E402
from hpm_ros.model import build_machine, get_config  # noqa: E402


def time_ms(function, budget_s: float, min_runs: int = 3, max_runs: int = 50) -> float:
    """Median wall time of ``function()`` in ms over runs that fit the budget, after
    one warm-up call (two when it is cheap)."""
    start = time.perf_counter()
    function()
    if time.perf_counter() - start < 0.05:
        function()
    samples = []
    began = time.perf_counter()
    while len(samples) < max_runs and (
            len(samples) < min_runs or time.perf_counter() - began < budget_s):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def bench_config(name: str, presets: list, batches: list, budget: float) -> list:
    """Rows (preset, batch, batched ms/frame, naive ms/frame) for one model config."""
    torch.manual_seed(0)
    machine = build_machine(get_config(name))
    joints = machine.config.num_joints
    rows = []
    for preset in presets:
        config = CorrectionConfig.from_preset(preset, tau_mm=None, epsilon_mm=None)
        corrector = Corrector(machine, config)
        for batch in batches:
            pose3d, pose2d = torch.rand(batch, joints, 3), torch.rand(batch, joints, 2)
            with torch.inference_mode():
                batched = time_ms(lambda: corrector.correct(pose3d, pose2d), budget)
                naive = time_ms(lambda: correct_per_frame(machine, config, pose3d, pose2d),
                                budget)
            rows.append((preset, batch, batched / batch, naive / batch))
            print(f'| {name} | {preset} | {batch} | {batched / batch:.3f} | '
                  f'{naive / batch:.3f} | {naive / batched:.1f}× |', flush=True)
    return rows


def frame_ms(name: str, budget: float) -> float:
    """Median ms of one streaming step (machine.step, batch 1, eager, inference mode)."""
    torch.manual_seed(0)
    machine = build_machine(get_config(name))
    image = torch.rand(1, 3, machine.config.input_size, machine.config.input_size)
    with torch.inference_mode():
        state = machine.initial_state(1)
        return time_ms(lambda: machine.step(image, state), budget, min_runs=10)


def main() -> None:
    """Print the correction cost table and the lite frame share."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', default='lite,paper')
    parser.add_argument('--presets', default='paper,official')
    parser.add_argument('--batches', default='1,8,64')
    parser.add_argument('--budget', type=float, default=2.0,
                        help='seconds of timed runs per measurement (at least 3 runs)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch intra-op threads (0: leave the torch default)')
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    presets = args.presets.split(',')
    batches = [int(b) for b in args.batches.split(',')]
    print(f'Machine: {machine_description()}')
    print('float32, torch eager, inference mode, random-init machines, τ/ε off (all steps '
          'taken); ms per frame, median\n')
    for preset in presets:
        config = CorrectionConfig.from_preset(preset)
        print(f'- {preset}: {config.optimizer} lr {config.lr:g}, {config.max_steps} steps, '
              f'adapts {"+".join(config.adapt)}, bone weight {config.bone_weight:g}')
    print('\n| config | preset | batch | batched | naive deepcopy loop | speed-up |')
    print('|---|---|---|---|---|---|')
    results = {name: bench_config(name, presets, batches, args.budget)
               for name in args.configs.split(',')}
    if 'lite' in results and 1 in batches:
        forward = frame_ms('lite', args.budget)
        print(f'\nlite frame: machine.step batch 1 = {forward:.2f} ms')
        for preset, batch, batched, _ in results['lite']:
            if batch == 1:
                share = 100.0 * batched / (forward + batched)
                print(f'  + correction {preset} batch 1 = {batched:.2f} ms -> {share:.1f} % of '
                      f'the frame total (forward + correction; target <= 15 %)')


if __name__ == '__main__':
    main()
