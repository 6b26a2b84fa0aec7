"""Per-stage latency of the pose machine, torch eager, batch 1 (a table like the paper's Table 4).

Usage: python bench/model.py [--configs lite,paper] [--runs 50] [--threads 1]
Prints ms/frame (median and p95 over ``--runs`` timed runs after warm-up) of Ψ_R, Ψ_T (one
streaming step), Ψ_C+Ψ_P and the total, plus parameter and multiply-accumulate counts.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description, time_ms  # noqa: E402

from hpm_ros.model import get_config, build_machine  # noqa: E402
from hpm_ros.model.complexity import complexity  # noqa: E402


def bench_config(name: str, runs: int) -> dict:
    """Stage timings and counts of one config."""
    machine = build_machine(get_config(name))
    config = machine.config
    image = torch.rand(1, 3, config.input_size, config.input_size)
    with torch.inference_mode():
        features, _, _, _ = machine.pose2d(image)
        state = machine.initial_state(1)
        pose3d, _ = machine.transformer.step(features, state)
        stages = {
            'psi_r': time_ms(lambda: machine.pose2d(image), runs),
            'psi_t': time_ms(lambda: machine.transformer.step(features, state), runs),
            'psi_cp': time_ms(lambda: machine.projector(pose3d), runs),
            'total': time_ms(lambda: machine.step(image, state), runs),
        }
    return {'stages': stages, 'counts': complexity(machine), 'input': config.input_size}


def main() -> None:
    """Print the latency and complexity tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', default='lite,paper')
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch intra-op threads (0 = torch default); 1 is steadiest on a '
                        'CPU shared with other processes')
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f'Machine: {machine_description()}')
    print('torch eager, batch 1, float32, inference mode; ms/frame median (p95)\n')
    print('| config | input | Ψ_R | Ψ_T | Ψ_C+Ψ_P | total | FPS |')
    print('|---|---|---|---|---|---|---|')
    results = {}
    for name in args.configs.split(','):
        result = results[name] = bench_config(name, args.runs)
        cells = [f'{m:.2f} ({p:.2f})' for m, p in result['stages'].values()]
        fps = 1000.0 / result['stages']['total'][0]
        print(f'| {name} | {result["input"]}² | ' + ' | '.join(cells) + f' | {fps:.1f} |')
    print('\nPaper (Table 4, GTX 1080, full model with correction): 51 ms/frame.')
    print('\n| config | part | parameters | MACs/frame |')
    print('|---|---|---|---|')
    for name, result in results.items():
        for part, counts in result['counts'].items():
            print(f'| {name} | {part} | {counts["params"] / 1e6:.2f} M | '
                  f'{counts["macs"] / 1e9:.3f} G |')


if __name__ == '__main__':
    main()
