"""End-to-end latency per backend and config (a table like the paper's Table 4).

Usage: python bench/latency.py [--configs lite,paper] [--frames 100] [--threads N]
       [--backends torch,onnxruntime,tensorrt] [--device cpu] [--correction aligned]
       [--batch 8] [--tune] [--checkpoint CKPT] [--real-frames 100]

First table: the whole real-image pipeline (BlazePose + the keypoints lifter + correction +
placement) at 640×480 per runtime, next to BlazePose alone (bench/real_pipeline.py; skipped
with ``--real-frames 0``). Then the paper's image models:

Streams ``--frames`` frames (batch 1, after warm-up) through Ψ_R, one Ψ_T step with the
carried LSTM state and the self-supervised correction, timing each stage. Prints ms/frame
p50 and p95 per stage, end-to-end FPS at p50, threads, the ratio of each backend's total to
torch eager measured in the same run, and batch-``--batch`` throughput. ``--tune`` adds a
table of ONNX Runtime session settings for the first config. Weights are random (Xavier)
unless ``--checkpoint`` is given; latency does not depend on them, the correction's early
stop does.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402
from real_pipeline import print_table as print_real_pipeline_table  # noqa: E402

from hpm_ros.backends import available_backends, canonical_name, create_backend  # noqa: E402
from hpm_ros.backends.export import build_tensorrt_engine, export_onnx  # noqa: E402
from hpm_ros.model import build_machine, get_config  # noqa: E402

WARMUP = 5
STAGES = ('psi_r', 'psi_t', 'correction', 'total')
TUNING = (
    ('default: spin off, ORT_ENABLE_ALL, sequential', {}),
    ('allow_spinning on', {'allow_spinning': True}),
    ('intra_op_threads 1', {'intra_op_threads': 1}),
    ('ORT_ENABLE_BASIC', {'optimization': 'basic'}),
    ('ORT_ENABLE_EXTENDED', {'optimization': 'extended'}),
    ('ORT_DISABLE_ALL', {'optimization': 'disable'}),
    ('parallel, 2 inter-op threads', {'execution_mode': 'parallel', 'inter_op_threads': 2}),
)


def percentile(samples: list, fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (fraction in [0, 1])."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def make_corrector(machine, preset: str):
    """Build a Corrector with ``preset``; None when hpm_ros.correction is absent or 'off'."""
    if preset == 'off':
        return None
    try:
        from hpm_ros.correction import CorrectionConfig, Corrector
    except ImportError:
        return None
    return Corrector(machine, CorrectionConfig.from_preset(preset))


def run_stream(backend, corrector, frames: int, batch: int) -> dict:
    """{stage: [ms per batch]} over ``frames`` timed batches after WARMUP untimed ones."""
    size = backend.config.input_size
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(batch, 3, size, size, generator=generator).to(backend.device)
              for _ in range(8)]
    sync = torch.cuda.synchronize if backend.device.type == 'cuda' else (lambda: None)
    samples = {stage: [] for stage in STAGES}
    backend.reset_state(batch)
    for index in range(WARMUP + frames):
        start = time.perf_counter()
        features, _, pose2d, _ = backend.run_pose2d(images[index % len(images)])
        sync()
        mark_r = time.perf_counter()
        pose3d, backend.state = backend.run_transformer_step(features, backend.state)
        sync()
        mark_t = time.perf_counter()
        if corrector is not None:
            corrector.correct(pose3d, pose2d)
            sync()
        end = time.perf_counter()
        if index >= WARMUP:
            for stage, (a, b) in zip(STAGES, ((start, mark_r), (mark_r, mark_t),
                                              (mark_t, end), (start, end))):
                samples[stage].append((b - a) * 1000.0)
    return samples


def prepare_models(machine, backends: list, folder: Path) -> None:
    """Export ONNX (and TensorRT engines) of ``machine`` into ``folder`` when needed."""
    if 'onnxruntime' in backends or 'tensorrt' in backends:
        export_onnx(machine, folder)
    if 'tensorrt' in backends:
        for part in ('pose2d', 'transformer'):
            build_tensorrt_engine(folder / f'{machine.config.name}.{part}.onnx', 'fp16')


def load_machine(name: str, args):
    """Load the machine of config ``name`` from ``--checkpoint``, else Xavier (seed 0)."""
    torch.manual_seed(0)
    if args.checkpoint:
        from hpm_ros.checkpoint import load_checkpoint
        return load_checkpoint(args.checkpoint, expected_config=name)[0]
    return build_machine(get_config(name))


def bench_config(machine, args, backends: list, folder: Path) -> list:
    """Rows of the main table for one machine: one per backend."""
    prepare_models(machine, backends, folder)
    corrector = make_corrector(machine, args.correction)
    rows = []
    for backend_name in backends:
        options = {'intra_op_threads': args.threads} if backend_name == 'onnxruntime' else {}
        if backend_name == 'tensorrt':
            options = {'precision': 'fp16'}
        backend = create_backend(backend_name, machine, folder, args.device, **options)
        stream = run_stream(backend, corrector, args.frames, 1)
        throughput = run_stream(backend, corrector, max(4, args.frames // args.batch), args.batch)
        rows.append({'config': machine.config.name, 'backend': backend.name,
                     'threads': backend.threads, 'stream': stream,
                     'batch_fps': 1000.0 * args.batch / percentile(throughput['total'], 0.5)})
        backend.close()
    return rows


def format_cell(samples: list) -> str:
    return f'{percentile(samples, 0.5):.2f} / {percentile(samples, 0.95):.2f}' if samples \
        else 'n/a'


def print_main_table(rows: list, args, correction: bool) -> None:
    print(f'\nbatch 1 streaming, {args.frames} frames after {WARMUP} warm-up, device '
          f'{args.device}; ms/frame p50 / p95; correction: '
          f'{args.correction if correction else "n/a (hpm_ros.correction absent or off)"}\n')
    print('| config | backend | threads | Ψ_R | Ψ_T | correction | total | FPS (p50) '
          f'| × torch | batch {args.batch} frames/s |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for row in rows:
        stream = row['stream']
        total = percentile(stream['total'], 0.5)
        torch_rows = [r for r in rows if r['config'] == row['config'] and r['backend'] == 'torch']
        ratio = (f'{percentile(torch_rows[0]["stream"]["total"], 0.5) / total:.2f}'
                 if torch_rows else 'n/a')
        cells = [format_cell(stream[stage]) if stage != 'correction' or correction else 'n/a'
                 for stage in STAGES]
        print(f'| {row["config"]} | {row["backend"]} | {row["threads"]} | '
              + ' | '.join(cells) + f' | {1000.0 / total:.1f} | {ratio} | '
              f'{row["batch_fps"]:.1f} |')


def print_tuning_table(machine, args, folder: Path) -> None:
    """Time ONNX Runtime session settings end to end for one machine exported in ``folder``."""
    name = machine.config.name
    corrector = make_corrector(machine, args.correction)
    print(f'\nONNX Runtime session settings, {name}, batch 1, {args.frames} frames, '
          f'correction {args.correction if corrector else "n/a"}; ms/frame p50 / p95\n')
    print('| settings | Ψ_R | Ψ_T | correction | total | FPS (p50) |')
    print('|---|---|---|---|---|---|')
    for label, options in TUNING:
        if args.threads and 'intra_op_threads' not in options:
            options = dict(options, intra_op_threads=args.threads)
        backend = create_backend('onnxruntime', machine, folder, args.device, **options)
        stream = run_stream(backend, corrector, args.frames, 1)
        print(f'| {label} | ' + ' | '.join(format_cell(stream[s]) for s in STAGES)
              + f' | {1000.0 / percentile(stream["total"], 0.5):.1f} |')


def main() -> None:
    """Print the latency tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', default='lite,paper')
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch and ONNX Runtime intra-op threads (0: runtime default)')
    parser.add_argument('--backends', default='torch,onnxruntime,tensorrt')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--correction', default='aligned', help="preset, or 'off'")
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--checkpoint', help='use trained weights (its config must be listed)')
    parser.add_argument('--tune', action='store_true', help='ONNX Runtime settings table')
    parser.add_argument('--real-frames', type=int, default=100,
                        help='frames of the real-image pipeline table (0: skip it)')
    args = parser.parse_args()
    if args.frames < 1 or args.batch < 1 or args.threads < 0:
        parser.error('--frames and --batch must be positive, --threads >= 0')
    if args.threads:
        torch.set_num_threads(args.threads)
    reasons = available_backends(args.device)
    requested = [canonical_name(name) for name in args.backends.split(',')]
    backends = [name for name in requested if reasons[name] is None]
    print(f'Machine: {machine_description()}')
    for name in requested:
        if reasons[name]:
            print(f'skipped backend {name}: {reasons[name]}')
    if args.real_frames:
        print_real_pipeline_table(args.real_frames, args.threads or 1, args.correction)
    configs = args.configs.split(',')
    rows = []
    with tempfile.TemporaryDirectory(prefix='hpm_latency_') as folder:
        machines = [load_machine(name, args) for name in configs]
        for machine in machines:
            rows += bench_config(machine, args, backends, Path(folder))
        correction = make_corrector(machines[0], args.correction)
        print_main_table(rows, args, correction is not None)
        if args.tune and 'onnxruntime' in backends:
            print_tuning_table(machines[0], args, Path(folder))
    print('\nPaper (Table 4, GTX 1080, full model with correction): 51 ms/frame.')


if __name__ == '__main__':
    main()
