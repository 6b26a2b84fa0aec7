"""BlazePose front end alone: per-stage latency per runtime, and the person gate's rates.

Usage: python bench/blazepose.py [--runtimes litert,onnxruntime,tensorrt] [--frames 60]
       [--threads 1] [--device cpu] [--sizes 640x480,768x432]
       python bench/blazepose.py --gating VIDEO [--labels LABELS.json] [--runtimes litert]

Latency: frames 60.. of ``samples/room_walk.mp4`` (a person standing, then walking out),
resized to each size, streamed through the front end after a warm-up, in tracking mode
(detector only when the person is lost) and detection-only mode (detector on every frame).
Prints ms/frame p50 / p95 of the stages 'detect', 'landmarks' and 'total' (the whole
``process`` call: checks, crops, decoding, filters, gate) and FPS at p50. Runtimes whose
models or libraries are missing are listed as skipped with the reason.

``--gating``: streams a labelled video (``test/data/blazepose/one_by_one_labels.json``
labels the shared ``one-by-one-person-detection.mp4``) and prints, per mode, the fraction of
'person' frames with a reported person (recall) and of 'empty' frames with one (false
poses), with the default gate and with the gate off (presence check only, as mediapipe).
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402

from hpm_ros.errors import BackendUnavailableError, CheckpointError  # noqa: E402
from hpm_ros.frontends.blazepose import RUNTIMES, BlazePoseFrontEnd  # noqa: E402
from hpm_ros.resources import package_share  # noqa: E402
from hpm_ros.video import read_frames  # noqa: E402

WARMUP = 5
STAGES = ('detect', 'landmarks', 'total')
MODES = (('tracking', True), ('detection-only', False))
GATE_OFF = {'min_visible_landmarks': 0, 'min_skeleton_px': 0.0}
LABELS = package_share() / 'test' / 'data' / 'blazepose' / 'one_by_one_labels.json'


def percentile(samples: list, fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (fraction in [0, 1])."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def sample_frames(count: int, size: tuple) -> list:
    """``count`` RGB frames of the sample video from frame 60, resized to ``size`` (w, h)."""
    import cv2

    frames = []
    for index, frame in read_frames(package_share() / 'samples' / 'room_walk.mp4'):
        if index >= 60:
            frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        if len(frames) == count:
            break
    return frames


def open_front_end(runtime: str, args, **options):
    """Make a front end on ``runtime``; the reason as a string when it cannot be made."""
    try:
        return BlazePoseFrontEnd(runtime, threads=args.threads, device=args.device, **options)
    except (BackendUnavailableError, CheckpointError) as error:
        return str(error)


def stream(front_end, frames: list) -> dict:
    """{stage: [ms]} over ``frames`` after WARMUP untimed ones, and the frames with a person."""
    front_end.reset()
    samples = {stage: [] for stage in STAGES}
    found = 0
    for index in range(WARMUP + len(frames)):
        output = front_end.process(frames[index % len(frames)], stamp=index / 10.0)
        if index >= WARMUP:
            found += bool(output.people)
            for stage in STAGES:
                samples[stage].append(output.timings_ms[stage])
    samples['found'] = found
    return samples


def latency(args) -> None:
    """Print the latency table."""
    sizes = [tuple(int(v) for v in size.split('x')) for size in args.sizes.split(',')]
    print(f'\nBlazePose front end, {args.frames} frames after {WARMUP} warm-up, '
          f'{args.threads} thread(s), device {args.device}; ms/frame p50 / p95\n')
    print('| runtime | size | mode | detect | landmarks | total | FPS (p50) '
          '| frames with a person |')
    print('|---|---|---|---|---|---|---|---|')
    skipped = []
    for runtime in args.runtimes.split(','):
        for mode, tracking in MODES:
            front_end = open_front_end(runtime, args, tracking=tracking)
            if isinstance(front_end, str):
                skipped.append(f'skipped runtime {runtime}: {front_end}')
                break
            for size in sizes:
                samples = stream(front_end, sample_frames(args.frames, size))
                cells = ' | '.join(f'{percentile(samples[s], 0.5):.2f} / '
                                   f'{percentile(samples[s], 0.95):.2f}' for s in STAGES)
                fps = 1000.0 / percentile(samples['total'], 0.5)
                print(f'| {runtime} | {size[0]}x{size[1]} | {mode} | {cells} | {fps:.1f} | '
                      f'{samples["found"]}/{args.frames} |')
            front_end.close()
    for line in skipped:
        print(line)


def frame_labels(path: Path, count: int) -> np.ndarray:
    """Per-frame label ('person', 'empty', 'partial') from a labels file."""
    ranges = json.loads(Path(path).read_text())
    labels = np.full(count, '', dtype=object)
    for label in ('person', 'empty', 'partial'):
        for first, last in ranges[label]:
            labels[first:last + 1] = label
    return labels


def gating(args) -> None:
    """Print recall and false poses of the gate on a labelled video."""
    from hpm_ros.video import probe_video

    labels = frame_labels(args.labels, probe_video(Path(args.gating)).num_frames)
    person, empty = labels == 'person', labels == 'empty'
    runtime = args.runtimes.split(',')[0]
    print(f'\n{args.gating}: {len(labels)} frames, {person.sum()} person, {empty.sum()} empty, '
          f'{(labels == "partial").sum()} partial (not counted); runtime {runtime}\n')
    print('| mode | gate | recall (person frames with a person) | false poses (empty frames '
          'with a person) |')
    print('|---|---|---|---|')
    for mode, tracking in MODES:
        for gate, options in (('default', {}), ('off (presence only)', GATE_OFF)):
            front_end = open_front_end(runtime, args, tracking=tracking, **options)
            if isinstance(front_end, str):
                print(f'skipped runtime {runtime}: {front_end}')
                return
            found = np.array([bool(front_end.process(frame, stamp=index / 10.0).people)
                              for index, frame in read_frames(Path(args.gating))])
            front_end.close()
            print(f'| {mode} | {gate} | {found[person].sum()}/{person.sum()} = '
                  f'{found[person].mean():.1%} | {found[empty].sum()}/{empty.sum()} = '
                  f'{found[empty].mean():.1%} |')


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runtimes', default=','.join(RUNTIMES))
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--sizes', default='640x480,768x432')
    parser.add_argument('--gating', help='labelled video: print recall and false poses')
    parser.add_argument('--labels', default=str(LABELS))
    args = parser.parse_args()
    if args.frames < 1 or args.threads < 1:
        parser.error('--frames and --threads must be positive')
    print(f'Machine: {machine_description()}')
    if args.gating:
        gating(args)
    else:
        latency(args)


if __name__ == '__main__':
    main()
