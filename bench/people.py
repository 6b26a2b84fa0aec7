"""Several people: the lifter's cost per extra person, and the whole pipeline with 3 people.

Usage: python bench/people.py [--frames 60] [--threads 1] [--runs 200]

Table 1, lifting core only (``LiftingCore.lift_people`` on P real BlazePose people of
``test/data/people/three_640x480.mp4``, repeated to P = 1..6): median ms of the Ψ_T step
('transformer'), the correction and the whole call (inputs + Ψ_T + correction + placement),
batched over the people (what the pipeline runs) and, for comparison, one person per call;
per person = ms at P / P; per extra person = (ms at P - ms at 1) / (P - 1). Each number is
the smallest of 3 round medians (rounds over all P in turn, after a warm-up).

Table 2, the whole pipeline (``PosePipeline``, BlazePose, ``max_people`` 4, defaults
otherwise) streamed over the 640 x 480 clip of three people (20 frames, looped to
``--frames``; tracking carries over, the front end searches for new people every 5th frame):
median / p95 ms per stage and frames per second at the median and mean total.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402

from hpm_ros.pipeline import PipelineConfig, PosePipeline  # noqa: E402
from hpm_ros.resources import package_share  # noqa: E402
from hpm_ros.video import read_frames  # noqa: E402

CLIP = package_share() / 'test' / 'data' / 'people' / 'three_640x480.mp4'
STAGES = ('front_end.detect', 'front_end.faces', 'front_end.landmarks', 'front_end',
          'transformer', 'correction', 'placement', 'total')


def median_ms(function, runs: int) -> tuple:
    """Return the median wall ms of ``function()`` over ``runs`` calls and its timings.

    The timings are the median of the dict it returns, per key.
    """
    walls, stages = [], {}
    for _ in range(runs):
        start = time.perf_counter()
        timings = function()
        walls.append((time.perf_counter() - start) * 1000.0)
        for key, value in timings.items():
            stages.setdefault(key, []).append(value)
    return statistics.median(walls), {k: statistics.median(v) for k, v in stages.items()}


def lifter_table(pipeline: PosePipeline, frames: list, runs: int, rounds: int = 3) -> None:
    """Print table 1.

    Every configuration is measured in ``rounds`` turns (after a warm-up of all), the
    smallest of its round medians kept (the machine is shared).
    """
    people = pipeline.front_end.process(frames[0]).people
    if len(people) < 3:
        raise SystemExit(f'the clip gave {len(people)} people, expected 3')
    lifter = pipeline.lifter
    size = frames[0].shape[1::-1]
    counts = range(1, 7)

    def batched(count):
        group = [people[i % len(people)] for i in range(count)]
        return lambda: lifter.lift_people(group, [None] * count, None, size)[2]

    def one_by_one(count):
        group = [people[i % len(people)] for i in range(count)]

        def run():
            timings = {}
            for person in group:
                for key, value in lifter.lift_people([person], [None], None, size)[2].items():
                    timings[key] = timings.get(key, 0.0) + value
            return timings
        return run

    for count in counts:
        median_ms(batched(count), 20)
        median_ms(one_by_one(count), 5)
    best = {}
    for _ in range(rounds):
        for count in counts:
            for kind, make in (('batched', batched), ('single', one_by_one)):
                whole, stages = median_ms(make(count), runs if kind == 'batched' else runs // 2)
                old = best.get((kind, count))
                if old is None or whole < old[0]:
                    best[(kind, count)] = (whole, stages)
    print('| people P | batched: Ψ_T / correction / whole call (ms) | one person per call: '
          'whole (ms) | batched, per person (ms) | batched, per extra person (ms) |')
    print('|---|---|---|---|---|')
    base = best[('batched', 1)][0]
    for count in counts:
        whole, stages = best[('batched', count)]
        extra = f'{(whole - base) / (count - 1):.2f}' if count > 1 else '-'
        print(f'| {count} | {stages["transformer"]:.2f} / {stages["correction"]:.2f} / '
              f'{whole:.2f} | {best[("single", count)][0]:.2f} | {whole / count:.2f} | '
              f'{extra} |', flush=True)


def pipeline_table(pipeline: PosePipeline, frames: list, count: int) -> None:
    """Print table 2."""
    pipeline.reset()
    samples, people = {k: [] for k in STAGES}, []
    for index in range(count + 5):
        result = pipeline.process(frames[index % len(frames)], stamp=index / 10.0,
                                  frame_id='camera')
        if index < 5:
            continue
        people.append(len(result.people))
        for key in STAGES:
            samples[key].append(result.timings_ms.get(key, 0.0))
    print(f'\n{count} frames, people lifted per frame: min {min(people)}, median '
          f'{statistics.median(people):g}, max {max(people)}\n')
    print('| stage | median ms | p95 ms |')
    print('|---|---|---|')
    for key in STAGES:
        values = np.array(samples[key])
        print(f'| {key} | {np.median(values):.1f} | {np.percentile(values, 95):.1f} |')
    total = np.array(samples['total'])
    print(f'\nFPS: {1000.0 / np.median(total):.1f} at the median total, '
          f'{1000.0 / total.mean():.1f} at the mean')


def main() -> int:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--runs', type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames = [frame for _, frame in read_frames(CLIP)]
    pipeline = PosePipeline(PipelineConfig(max_people=4, threads=args.threads))
    runs_on = pipeline.lifter.correction_runtimes.get('blazepose33', 'torch')
    print(f'# several people ({machine_description()}; BlazePose litert, Ψ_T '
          f'{pipeline.backend.selection}, correction {pipeline.config.correction_preset} on '
          f'{runs_on}, {frames[0].shape[1]}x{frames[0].shape[0]})\n')
    lifter_table(pipeline, frames, args.runs)
    pipeline_table(pipeline, frames, args.frames)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
