"""Loss curves of a training run, from its CSV log, as a PNG."""
from __future__ import annotations

import csv
from pathlib import Path


def plot_loss_curves(log_path: Path, png_path: Path) -> Path:
    """One panel per stage, every logged loss term against the step, log scale."""
    from hpm_ros.figures import new_figure, save_figure

    rows = list(csv.DictReader(open(log_path, newline='')))
    stages = list(dict.fromkeys(row['stage'] for row in rows))
    panels = max(len(stages), 1)
    figure, axes = new_figure(1, panels, figsize=(4.5 * panels, 3.6), squeeze=False)
    for axis, stage in zip(axes[0], stages):
        stage_rows = [row for row in rows if row['stage'] == stage]
        steps = [int(row['step']) for row in stage_rows]
        for term in ('total', 'pose2d', 'heatmap', 'pose3d', 'regression3d', 'projection2d'):
            values = [float(row[term]) for row in stage_rows if row.get(term)]
            if len(values) == len(steps) and values:
                axis.plot(steps, values, label=term, linewidth=1)
        axis.set_yscale('log')
        axis.set_title(f'stage {stage}')
        axis.set_xlabel('step')
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel('loss')
    return save_figure(figure, png_path)
