"""The `hpm` command: demo, train, evaluate, export, estimate and info."""
from __future__ import annotations

import argparse
import sys

from hpm_ros.errors import HpmError


def _add_demo(commands) -> None:
    parser = commands.add_parser(
        'demo', help='the node with its defaults, fed the shipped real clip over DDS')
    parser.add_argument('--output', default='out/demo', help='results folder')
    parser.add_argument('--frames', type=int, help='only the first N frames of the clip')
    parser.add_argument('--clip', help='another video (default: samples/room_walk.mp4)')
    parser.add_argument('--model', help='lifter checkpoint (default: the shipped one)')
    parser.add_argument('--correction', default='aligned', help='off, paper, official or aligned')
    parser.add_argument('--domain-id', type=int, default=87,
                        help='ROS_DOMAIN_ID of the demo graph (discovery stays on localhost)')


def _run_demo(args) -> int:
    from hpm_ros.ros.demo import format_summary, run_demo

    summary = run_demo(args.output, args.frames, args.model, args.correction, args.domain_id,
                       clip_path=args.clip)
    print(format_summary(summary))
    print(f'results in {args.output}/: demo.gif, summary.md, results.json, poses.npz, node.log')
    return 0 if summary['poses_received'] else 1


def _add_train(commands) -> None:
    parser = commands.add_parser('train', help='train a model (Algorithm 1) on synthetic clips')
    parser.add_argument('--config', required=True,
                        help='training YAML, e.g. config/train/lite.yaml')
    parser.add_argument('--resume', action='store_true', help='continue from resume.pt')
    parser.add_argument('--output-dir', help='override output_dir of the config')
    parser.add_argument('--threads', type=int, help='torch CPU threads (override the config)')


def _run_train(args) -> int:
    from hpm_ros.training.run import main

    main(args.config, args.resume, args.output_dir, args.threads)
    return 0


def _add_evaluate(commands) -> None:
    parser = commands.add_parser(
        'evaluate', help='per-action MPJPE / P-MPJPE and Table 5 ablations on held-out clips')
    parser.add_argument('--model', help='image checkpoint (default: models/hpm_lite.pt)')
    parser.add_argument('--clips', type=int, default=200, help='held-out clips to render')
    parser.add_argument('--clip-length', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--correction', default='aligned', help='off, paper, official or aligned')
    parser.add_argument('--correction-lr', type=float,
                        help='learning rate of the correction (default: the preset\'s)')
    parser.add_argument('--output', default='out/evaluate', help='report folder')


def _run_evaluate(args) -> int:
    from hpm_ros.evaluation import run_evaluation

    overrides = {} if args.correction_lr is None else {'lr': args.correction_lr}
    report = run_evaluation(args.model, args.clips, args.clip_length, args.seed,
                            args.correction, args.output, overrides)
    print(report.read_text())
    print(f'report: {report}')
    return 0


def _add_export(commands) -> None:
    parser = commands.add_parser(
        'export', help='export Ψ_T (and Ψ_R of an image model) to ONNX / TensorRT; '
        '--blazepose: TensorRT engines of BlazePose')
    parser.add_argument('--model', help='checkpoint (default: the shipped keypoints lifter)')
    parser.add_argument('--blazepose', action='store_true',
                        help='also build TensorRT engines of the shipped BlazePose ONNX files '
                        '(needs --format tensorrt, tensorrt and a GPU)')
    parser.add_argument('--blazepose-dir', help='folder of the BlazePose files (default: '
                        'models/blazepose)')
    parser.add_argument('--output', help='folder (default: beside the checkpoint)')
    parser.add_argument('--format', default='onnx', help='onnx, tensorrt or onnx,tensorrt')
    parser.add_argument('--precision', default='fp16', choices=('fp32', 'fp16'))
    parser.add_argument('--workspace-mb', type=int, default=1024)


def _run_export(args) -> int:
    from pathlib import Path

    from hpm_ros.backends.export import export_main
    from hpm_ros.resources import default_model_path

    model = Path(args.model) if args.model else default_model_path()
    output = Path(args.output) if args.output else model.parent
    formats = tuple(args.format.split(','))
    if args.blazepose and 'tensorrt' not in formats:
        raise ValueError('--blazepose builds TensorRT engines: add --format tensorrt (the '
                         'BlazePose ONNX files are shipped in models/blazepose)')
    for path in export_main(model, output, formats, args.precision, args.workspace_mb):
        print(path)
    if args.blazepose:
        from hpm_ros.backends.export import export_blazepose_engines
        for path in export_blazepose_engines(args.blazepose_dir, args.precision,
                                             args.workspace_mb):
            print(path)
    return 0


def _add_info(commands) -> None:
    parser = commands.add_parser('info', help='what a checkpoint holds')
    parser.add_argument('--model', help='checkpoint (default: the shipped model)')


def _run_info(args) -> int:
    from hpm_ros.checkpoint import load_checkpoint
    from hpm_ros.model.complexity import complexity
    from hpm_ros.resources import default_model_path

    machine, info = load_checkpoint(args.model or default_model_path())
    counts = complexity(machine)['total']
    print(f'checkpoint: {info.path}\nsha256: {info.sha256}\nformat version: '
          f'{info.format_version}\nconfig: {info.config.to_dict()}\njoint set: {info.joint_set}'
          f'\nparameters: {counts["params"]:,}\nMACs/frame: {counts["macs"]:,}')
    for key, value in info.metadata.items():
        if key == 'correction' and isinstance(value, dict):
            print(f'correction (tuned on validation banks): preset {value.get("preset")}, '
                  f'shared {value.get("overrides")}, {len(value.get("grid", []))} settings '
                  'tried')
            for joint_set, entry in (value.get('per_joint_set') or {}).items():
                print(f'  {joint_set}: {entry["overrides"]} ({entry.get("detector")} bank '
                      f'{entry["uncorrected_mm"]:.1f} -> {entry["corrected_mm"]:.1f} mm)')
        elif key != 'training':
            print(f'{key}: {value}')
    return 0


COMMANDS = {
    'demo': (_add_demo, _run_demo),
    'train': (_add_train, _run_train),
    'evaluate': (_add_evaluate, _run_evaluate),
    'export': (_add_export, _run_export),
    'info': (_add_info, _run_info),
}


def _lazy(module: str) -> tuple:
    """(add_parser, run) of a module that exposes both, imported when the parser is built."""
    import importlib

    return (lambda commands: importlib.import_module(module).add_parser(commands),
            lambda args: importlib.import_module(module).run(args))


COMMANDS.update({
    'make-bag': _lazy('hpm_ros.bags.make'),
    'bag-eval': _lazy('hpm_ros.bags.evaluate'),
    'play': _lazy('hpm_ros.ros.play'),
    'lift': _lazy('hpm_ros.lift'),
    'estimate': _lazy('hpm_ros.estimate'),
    'camera': _lazy('hpm_ros.ros.camera'),
    'fastdds-profile': _lazy('hpm_ros.ros.transport'),
})


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `hpm` sub-command."""
    parser = argparse.ArgumentParser(
        prog='hpm', description='3D human pose machines with self-supervised correction')
    commands = parser.add_subparsers(dest='command', required=True)
    for add, _ in COMMANDS.values():
        add(commands)
    return parser


def main(argv: list = None) -> int:
    """Run one `hpm` sub-command; errors of hpm_ros print one line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (HpmError, FileNotFoundError, ValueError) as error:
        print(f'hpm {args.command}: error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
