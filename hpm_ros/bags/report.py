"""The report folder of `hpm bag-eval`: report.md, results.json, frames.npz and two PNGs.

``report.md`` states what was read (images, recorded rate, topics), what was processed, every
input warning, per-stage latency, MPJPE / P-MPJPE with and without the self-supervised
correction when the bag holds ground truth, and the correction's applied / discarded counts.
``error_plot.png`` plots per-frame errors (or, without ground truth, the confidence and how
far the correction moved the pose); ``strip.png`` is a strip of frames with their skeletons.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hpm_ros.bags.evaluate import STAGES
from hpm_ros.geometry import root_relative
from hpm_ros.metrics import mpjpe, p_mpjpe


def accuracy(result: dict) -> dict:
    """MPJPE / P-MPJPE (mm) of the frames with a pose and ground truth, or {} without truth.

    Predictions are the root-relative ``joints3d`` (after correction) and ``joints3d_raw``
    (before); the truth is made root-relative; ``root_error_mm`` compares camera-frame roots.
    Per-frame arrays [N] hold NaN on frames that were not evaluated."""
    truth_m = result['truth_m']
    has_truth = np.isfinite(truth_m).all(axis=(1, 2))
    chosen = has_truth & result['valid']
    if not chosen.any():
        return {}
    truth = root_relative(truth_m[chosen].astype(np.float64) * 1000.0)
    per_frame = {}
    for name, key in (('corrected', 'joints3d'), ('uncorrected', 'joints3d_raw')):
        for metric, function in (('mpjpe', mpjpe), ('p_mpjpe', p_mpjpe)):
            values = np.full(len(chosen), np.nan)
            values[chosen] = function(result[key][chosen], truth)
            per_frame[f'{metric}_{name}'] = values
    root = np.full(len(chosen), np.nan)
    root[chosen] = np.linalg.norm(result['joints3d_camera'][chosen, 0].astype(np.float64)
                                  - truth_m[chosen, 0], axis=-1) * 1000.0
    per_frame['root_error'] = root
    means = {f'{key}_mm': float(np.mean(values[chosen])) for key, values in per_frame.items()}
    return {'frames_evaluated': int(chosen.sum()), 'frames_with_truth': int(has_truth.sum()),
            'per_frame': per_frame, **means}


def summarise(result: dict, config) -> dict:
    """The numbers of the report as plain data (results.json)."""
    frames = len(result['valid'])
    timings = result['timings_ms']
    latency = {stage: {'mean': float(timings[:, i].mean()),
                       'p50': float(np.percentile(timings[:, i], 50)),
                       'p95': float(np.percentile(timings[:, i], 95)),
                       'max': float(timings[:, i].max())} for i, stage in enumerate(STAGES)}
    summary = {
        'images_in_bag': int(result['images_in_bag']), 'frames_processed': frames,
        'frames_with_person': int(result['valid'].sum()),
        'bag_rate_hz': ((result['images_in_bag'] - 1) / result['bag_duration_s']
                        if result['bag_duration_s'] > 0 else None),
        'pipeline_rate_hz': 1000.0 / latency['total']['mean'],
        'wall_rate_hz': frames / result['wall_s'] if result['wall_s'] > 0 else None,
        'latency_ms': latency,
        'correction_applied': int(result['correction_applied'].sum()),
        'correction_discarded': int(result['correction_discarded'].sum()),
        'warnings': dict(result['warnings']),
        'front_end': config.front_end, 'model': str(config.resolved_model_path()),
        'backend': result.get('backend', config.backend),
        'correction_runtimes': result.get('correction_runtimes', {}),
        'correction_preset': config.correction_preset,
        'frames_with_truth': int(np.isfinite(result['truth_m']).all(axis=(1, 2)).sum()),
        'bodies_max': int((result['track_id'] >= 0).sum(axis=1).max()),
        'track_ids': sorted(int(i) for i in np.unique(result['track_id']) if i >= 0)}
    found = accuracy(result)
    if found:
        summary.update(
            frames_evaluated=found['frames_evaluated'],
            frames_with_truth=found['frames_with_truth'],
            mpjpe_mm=found['mpjpe_corrected_mm'], p_mpjpe_mm=found['p_mpjpe_corrected_mm'],
            mpjpe_raw_mm=found['mpjpe_uncorrected_mm'],
            p_mpjpe_raw_mm=found['p_mpjpe_uncorrected_mm'], root_error_mm=found['root_error_mm'])
    return summary


def _number(value, digits: int = 1) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _markdown(summary: dict, bag, output_bag, input_topics: dict, output_counts: dict) -> str:
    frames = summary['frames_processed']
    lines = [f'# bag-eval: {bag}', '',
             f'Model `{summary["model"]}`, backend {summary["backend"]}, correction preset '
             f'{summary["correction_preset"]} (runs on: {summary["correction_runtimes"]}).', '',
             '## Frames', '',
             f'- Images in the bag: {summary["images_in_bag"]}, recorded at '
             f'{_number(summary["bag_rate_hz"])} Hz',
             f'- Processed: {frames} (in bag order, one pipeline, state carried frame to frame); '
             f'with a person: {summary["frames_with_person"]}',
             f'- Rate: {_number(summary["pipeline_rate_hz"])} frames/s pipeline '
             f'(1 / mean total latency), {_number(summary["wall_rate_hz"])} frames/s wall clock '
             'including bag reading and writing',
             '- Input topics: ' + ', '.join(
                 f'`{t}` ({m})' for t, m in sorted(input_topics.items())),
             f'- Output bag `{output_bag}`: ' + ', '.join(
                 f'`{t}` {n}' for t, n in sorted(output_counts.items())), '']
    warnings = summary['warnings']
    if warnings:
        lines += ['## Warnings', '']
        lines += [f'- {kind} {count}' for kind, count in sorted(warnings.items())]
        skipped = summary['images_in_bag'] - frames
        lines += ['', f'{skipped} of {summary["images_in_bag"]} images were skipped; the '
                  'numbers below are over the processed frames only.', '']
    else:
        lines += ['No input warnings: every image was processed.', '']
    lines += ['## Latency per stage (ms)', '', '| stage | mean | p50 | p95 | max |',
              '|---|---:|---:|---:|---:|']
    lines += [f'| {stage} | {v["mean"]:.2f} | {v["p50"]:.2f} | {v["p95"]:.2f} | '
              f'{v["max"]:.2f} |' for stage, v in summary['latency_ms'].items()]
    lines += ['']
    if 'mpjpe_mm' in summary:
        found = summary
        lines += ['## Accuracy against the ground truth (mm)', '',
                  f'{found["frames_evaluated"]} frames evaluated (with ground truth and a '
                  f'person found) of {frames}; {found["frames_with_truth"]} have ground truth. '
                  'Poses are root-relative, H36M-17 joints.', '',
                  '| | MPJPE | P-MPJPE |', '|---|---:|---:|',
                  f'| with correction | {found["mpjpe_mm"]:.2f} | '
                  f'{found["p_mpjpe_mm"]:.2f} |',
                  f'| without correction | {found["mpjpe_raw_mm"]:.2f} | '
                  f'{found["p_mpjpe_raw_mm"]:.2f} |', '',
                  f'Root position error in the camera frame: {found["root_error_mm"]:.1f} mm.',
                  '']
    elif summary['frames_with_truth']:
        lines += ['## Accuracy', '', f'{summary["frames_with_truth"]} frames have ground truth, '
                  'but no person was found in any of them: no MPJPE.', '']
    else:
        lines += ['## Accuracy', '', 'The bag holds no ground truth for the processed frames: '
                  'no MPJPE.', '']
    lines += ['## Self-supervised correction', '',
              f'Applied on {summary["correction_applied"]} of {frames} frames, discarded '
              f'(robust joints jumped) on {summary["correction_discarded"]}.', '',
              '![per-frame errors](error_plot.png)', '', '![frames](strip.png)', '']
    return '\n'.join(lines)


def plot_per_frame(result: dict, found: dict, png_path: Path) -> Path:
    """Per-frame MPJPE with / without correction (with truth), confidence and correction shift."""
    from hpm_ros.figures import new_figure, save_figure

    index = np.arange(len(result['valid']))
    rows = 2 if found else 1
    figure, axes = new_figure(rows, 1, figsize=(9.0, 2.6 * rows), sharex=True,
                              squeeze=False)
    if found:
        axis = axes[0, 0]
        for key, label in (('mpjpe_uncorrected', 'MPJPE without correction'),
                           ('mpjpe_corrected', 'MPJPE with correction'),
                           ('p_mpjpe_corrected', 'P-MPJPE with correction')):
            axis.plot(index, found['per_frame'][key], label=label, linewidth=1.2)
        axis.set_ylabel('error (mm)')
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    axis = axes[-1, 0]
    shift = np.linalg.norm(result['joints3d'] - result['joints3d_raw'], axis=-1).mean(axis=1)
    axis.plot(index, shift, color='tab:purple', linewidth=1.2, label='correction shift (mm)')
    axis.set_ylabel('shift (mm)')
    axis.set_xlabel('frame')
    twin = axis.twinx()
    twin.plot(index, result['confidence'].mean(axis=1), color='tab:gray', linewidth=1.0,
              label='mean joint confidence')
    twin.set_ylabel('confidence')
    axis.legend(loc='upper left', fontsize=7)
    twin.legend(loc='upper right', fontsize=7)
    return save_figure(figure, png_path)


def render_frames(result: dict, png_path: Path, joint_confidence: float) -> Path:
    """Write the strip of the chosen frames; return its path.

    Each frame: every person's 2D overlay with their ID, then the primary person's 3D side
    view (truth in grey).
    """
    from PIL import Image

    from hpm_ros.render import draw_people_2d, draw_side_view, strip

    panels = []
    for _, image, pose, truth_m in result['strip']:
        people = pose.people or []
        panels.append(draw_people_2d(
            image, np.array([p.keypoints2d for p in people]).reshape(-1, 17, 2),
            np.array([p.confidence for p in people]).reshape(-1, 17),
            np.array([p.track_id for p in people]), joint_confidence))
        truth = None if truth_m is None else root_relative(np.asarray(truth_m) * 1000.0)
        if pose.valid:
            panels.append(draw_side_view(pose.joints3d, truth=truth))
    Image.fromarray(strip(panels)).save(png_path)
    return Path(png_path)


def _topic_counts(bag) -> dict:
    from hpm_ros.bags.io import BagReader

    with BagReader(bag) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def write_report(result: dict, folder, bag, output_bag, config) -> Path:
    """Write report.md, results.json, frames.npz, error_plot.png and strip.png; return
    the report path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarise(result, config)
    output_counts = _topic_counts(output_bag)
    summary.update(bag=str(bag), output_bag=str(output_bag), output_counts=output_counts)
    (folder / 'results.json').write_text(json.dumps(summary, indent=2))
    np.savez(folder / 'frames.npz', **{key: result[key] for key in (
        'stamp_ns', 'keypoints2d', 'confidence', 'joints3d', 'joints3d_raw', 'joints3d_camera',
        'valid', 'correction_applied', 'correction_discarded', 'truth_m', 'timings_ms',
        'keypoints2d_people', 'confidence_people', 'joints3d_people', 'joints3d_camera_people',
        'track_id')},
        timing_names=np.array(STAGES))
    plot_per_frame(result, accuracy(result), folder / 'error_plot.png')
    render_frames(result, folder / 'strip.png', config.joint_confidence)
    report = folder / 'report.md'
    report.write_text(_markdown(summary, bag, output_bag, result['input_topics'],
                                output_counts))
    return report
