"""The whole real-image pipeline at 640×480, per runtime, next to BlazePose alone in the same run.

Usage: python bench/real_pipeline.py [--frames 100] [--threads 1] [--correction aligned]
       (also printed by bench/latency.py)

Frames: the person frames of the shipped clip (samples/room_walk.mp4, 768×432) letterboxed
to 640×480, streamed in order, so BlazePose tracks as it does on a camera. For each
BlazePose runtime × Ψ_T backend: per-stage ms/frame p50 / p95 (front end, Ψ_T, correction,
placement, total), FPS at p50, the correction's share of the frame and the ratio of the
whole pipeline to BlazePose alone: to BlazePose by itself on the same frames, measured just
before, and (steadier on a loaded machine) the median over frames of total / front-end time
within the same run. Models: the shipped ones (models/blazepose, models/hpm_keypoints.pt);
Ψ_T backend 'torch', and 'auto' (the default: onnxruntime with one intra-op thread, Ψ_T and
the correction from the shipped export, where it matches the checkpoint).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402

from hpm_ros.frontends import create_front_end  # noqa: E402
from hpm_ros.pipeline import PipelineConfig, PosePipeline  # noqa: E402

WARMUP = 5
SIZE = (640, 480)
STAGES = ('front_end', 'transformer', 'correction', 'placement', 'total')


def percentile(samples: list, fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (fraction in [0, 1])."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def letterbox(frame: np.ndarray, size: tuple) -> np.ndarray:
    """``frame`` scaled to fit ``size`` (W, H) and centred on black."""
    from PIL import Image

    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    resized = np.asarray(Image.fromarray(frame).resize(
        (round(frame.shape[1] * scale), round(frame.shape[0] * scale)), Image.BILINEAR))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def person_frames(count: int) -> list:
    """``count`` consecutive 640×480 frames of the clip with a person in view (repeated)."""
    from hpm_ros.resources import sample_video_path
    from hpm_ros.ros.demo import PERSON_FRAMES
    from hpm_ros.video import read_frames

    wanted = set(PERSON_FRAMES[8:])
    frames = [letterbox(frame, SIZE) for index, frame in read_frames(sample_video_path())
              if index in wanted]
    return [frames[i % len(frames)] for i in range(count)]


def time_front_end(runtime: str, frames: list, threads: int) -> list:
    """ms per frame of BlazePose alone (tracking) over ``frames`` after WARMUP."""
    front_end = create_front_end('blazepose', runtime=runtime, threads=threads)
    samples = []
    for index, frame in enumerate(frames[:WARMUP] + frames):
        start = time.perf_counter()
        front_end.process(frame, stamp=index / 10.0)
        if index >= WARMUP:
            samples.append((time.perf_counter() - start) * 1000.0)
    front_end.close()
    return samples


def time_pipeline(config: PipelineConfig, frames: list) -> dict:
    """{stage: [ms per frame]} of the whole pipeline over ``frames`` after WARMUP."""
    pipeline = PosePipeline(config)
    samples = {stage: [] for stage in STAGES}
    corrector = pipeline.lifter.corrector_for('blazepose33')
    samples['setup'] = (f'Ψ_T {pipeline.backend.selection}; correction of BlazePose\'s 2D '
                        f'(the lifter\'s setting for blazepose33) on '
                        f'{getattr(corrector, "runtime", "torch")}: {corrector.config}')
    found = 0
    for index, frame in enumerate(frames[:WARMUP] + frames):
        result = pipeline.process(frame, stamp=index / 10.0, frame_id='camera')
        if index >= WARMUP:
            found += int(result.valid)
            for stage in STAGES:
                samples[stage].append(result.timings_ms.get(stage, 0.0))
    samples['found'] = found
    return samples


def print_table(frames: int, threads: int, correction: str,
                runtimes=('litert', 'onnxruntime'), backends=('torch', 'auto')) -> None:
    """Print the whole-pipeline table (see the module docstring)."""
    torch.set_num_threads(threads)
    images = person_frames(frames)
    print(f'\nWhole real-image pipeline, {SIZE[0]}x{SIZE[1]}, {frames} frames of a real person '
          f'(tracking) after {WARMUP} warm-up, {threads} thread(s), correction {correction}; '
          'ms/frame p50 / p95\n')
    print('| BlazePose runtime | Ψ_T backend | BlazePose alone | front end | Ψ_T | correction '
          '| placement | total | FPS (p50) | correction share | × BlazePose alone '
          '| × front end, per frame | person |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    used = {}
    for runtime in runtimes:
        for backend in backends:
            alone = time_front_end(runtime, images, threads)
            config = PipelineConfig(front_end_runtime=runtime, backend=backend,
                                    correction_preset=correction, threads=threads)
            stream = time_pipeline(config, images)
            used[backend] = stream['setup']
            total, base = percentile(stream['total'], 0.5), percentile(alone, 0.5)
            share = percentile(stream['correction'], 0.5) / total
            per_frame = percentile([t / f for t, f in zip(stream['total'],
                                                          stream['front_end'])], 0.5)
            cells = ' | '.join(f'{percentile(stream[s], 0.5):.2f} / '
                               f'{percentile(stream[s], 0.95):.2f}' for s in STAGES)
            print(f'| {runtime} | {backend} | {base:.2f} / {percentile(alone, 0.95):.2f} | '
                  f'{cells} | {1000.0 / total:.1f} | {100 * share:.0f} % | '
                  f'{total / base:.2f} | {per_frame:.2f} | {stream["found"]}/{frames} |')
    for backend, setup in used.items():
        print(f'\nbackend {backend}: {setup}')


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--correction', default='aligned')
    args = parser.parse_args()
    print(f'Machine: {machine_description()}')
    print_table(args.frames, args.threads, args.correction)


if __name__ == '__main__':
    main()
