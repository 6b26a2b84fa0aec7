"""Evaluation metrics on numpy arrays: MPJPE and its aligned variants, per-action tables.

Every metric returns one value per sample (frame) so that callers can group and average them.
Joint masks are [K] or [N, K] bool; masked-out joints may hold NaN. A sample whose mask selects
no joint gets NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from hpm_ros.geometry import expand_joint_mask, procrustes_align

# Human3.6M action names as in its files (VideoPose3D spelling), in the paper's Table 2 order.
H36M_ACTIONS = ('Directions', 'Discussion', 'Eating', 'Greeting', 'Phoning', 'Posing',
                'Purchases', 'Sitting', 'SittingDown', 'Smoking', 'Photo', 'Waiting', 'Walking',
                'WalkDog', 'WalkTogether')


def _pair(predicted, target, dims: Optional[int] = None) -> tuple:
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if predicted.ndim != 3 or predicted.shape != target.shape:
        raise ValueError(f'predicted and target must both be [N, K, D] of the same shape, got '
                         f'{predicted.shape} and {target.shape}')
    if dims is not None and predicted.shape[-1] != dims:
        raise ValueError(f'poses must have {dims} coordinates per joint, got {predicted.shape}')
    return predicted, target


def _masked_mean(errors: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Mean of [N, K] errors over the selected joints; NaN where none is selected."""
    total = np.where(selected, errors, 0.0).sum(axis=1)
    count = selected.sum(axis=1)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def mpjpe(predicted, target, mask=None) -> np.ndarray:
    """Mean per-joint position error [N] float64 of poses [N, K, D], unit of the poses."""
    predicted, target = _pair(predicted, target)
    selected = expand_joint_mask(mask, *predicted.shape[:2])
    return _masked_mean(np.linalg.norm(predicted - target, axis=-1), selected)


def p_mpjpe(predicted, target, mask=None) -> np.ndarray:
    """MPJPE [N] after per-sample similarity (Procrustes) alignment of [N, K, 3] predictions.

    Rotation (reflections excluded), translation and scale are fitted on the masked joints.
    """
    predicted, target = _pair(predicted, target, dims=3)
    aligned = procrustes_align(predicted, target, scale=True, mask=mask)
    return mpjpe(aligned, target, mask)


def n_mpjpe(predicted, target, mask=None) -> np.ndarray:
    """MPJPE [N] after per-sample scale-only alignment (VideoPose3D's N-MPJPE).

    The scale s minimises sum_k |s p_k - t_k|^2 over the masked joints (no centring).
    """
    predicted, target = _pair(predicted, target)
    selected = expand_joint_mask(mask, *predicted.shape[:2])
    inner = np.where(selected, (predicted * target).sum(axis=-1), 0.0).sum(axis=1)
    power = np.where(selected, (predicted ** 2).sum(axis=-1), 0.0).sum(axis=1)
    scale = np.divide(inner, power, out=np.zeros_like(inner), where=power > 0)
    return mpjpe(scale[:, None, None] * predicted, target, mask)


def mpjve(predicted, target, mask=None) -> np.ndarray:
    """Mean per-joint velocity error [N - 1] of sequences [N, K, D] (unit of the poses per frame).

    Velocities are first differences between consecutive frames; a joint counts for a frame
    pair when the mask selects it in both frames.
    """
    predicted, target = _pair(predicted, target)
    if predicted.shape[0] < 2:
        raise ValueError(f'velocity error needs at least 2 frames, got {predicted.shape[0]}')
    selected = expand_joint_mask(mask, *predicted.shape[:2])
    velocity_error = np.diff(predicted, axis=0) - np.diff(target, axis=0)
    return _masked_mean(np.linalg.norm(velocity_error, axis=-1), selected[1:] & selected[:-1])


@dataclass(frozen=True)
class ActionTable:
    """Mean error per action: one row of a Table-2-style comparison.

    ``means[i]`` is the mean of the finite errors of ``actions[i]`` (NaN when it has none) and
    ``counts[i]`` their number.
    """

    actions: tuple
    means: tuple
    counts: tuple

    @property
    def average(self) -> float:
        """The 'Avg' column: unweighted mean over actions; NaN when an action has no value."""
        return float(np.mean(self.means)) if self.means else float('nan')

    @property
    def overall(self) -> float:
        """Mean over all samples (weighted by action size)."""
        total = sum(mean * count for mean, count in zip(self.means, self.counts) if count)
        count = sum(self.counts)
        return total / count if count else float('nan')


def per_action_table(errors: Union[Mapping[str, object], Sequence[float]],
                     actions: Optional[Sequence[str]] = None,
                     order: Optional[Sequence[str]] = None) -> ActionTable:
    """Group per-sample errors by action.

    ``errors`` is either a mapping action -> array of errors, or an array [N] with ``actions``
    [N] str. Columns follow ``order`` when given (actions absent from the data get NaN, like
    the paper's '-'); otherwise the order of first appearance. NaN errors are left out.
    """
    if isinstance(errors, Mapping):
        if actions is not None:
            raise ValueError('actions must not be given with an errors mapping')
        groups = {str(name): np.ravel(np.asarray(values, dtype=np.float64))
                  for name, values in errors.items()}
    else:
        values = np.asarray(errors, dtype=np.float64)
        if actions is None:
            raise ValueError('actions are required when errors is an array')
        labels = np.asarray(actions).astype(str)
        if values.ndim != 1 or labels.shape != values.shape:
            raise ValueError(f'errors and actions must both be [N], got {values.shape} and '
                             f'{labels.shape}')
        groups = {name: values[labels == name] for name in dict.fromkeys(labels.tolist())}
    if order is None:
        columns = tuple(groups)
    else:
        columns = tuple(str(name) for name in order)
        unknown = sorted(set(groups) - set(columns))
        if unknown or len(set(columns)) != len(columns):
            raise ValueError(f'order must list each action once; missing {unknown}')
    means, counts = [], []
    for name in columns:
        finite = groups.get(name, np.empty(0))
        finite = finite[np.isfinite(finite)]
        counts.append(int(finite.size))
        means.append(float(finite.mean()) if finite.size else float('nan'))
    return ActionTable(actions=columns, means=tuple(means), counts=tuple(counts))


def _cell(value: float, decimals: int) -> str:
    return f'{value:.{decimals}f}' if np.isfinite(value) else '-'


def format_table(tables: Union[ActionTable, Mapping[str, ActionTable]], decimals: int = 2,
                 header: str = 'Method') -> str:
    """Render a markdown table like the paper's Table 2.

    One row per method, one column per action and 'Avg'. A single ActionTable becomes one row
    called 'Error'; missing cells (and the 'Avg' of a row with any missing cell) are '-'.
    """
    if isinstance(tables, ActionTable):
        tables = {'Error': tables}
    if not tables:
        raise ValueError('format_table needs at least one ActionTable')
    columns = list(dict.fromkeys(name for table in tables.values() for name in table.actions))

    def row(cells) -> str:
        return '| ' + ' | '.join(str(cell).replace('|', '\\|') for cell in cells) + ' |'

    lines = [row([header, *columns, 'Avg']), '|' + '---|' + '---:|' * (len(columns) + 1)]
    for method, table in tables.items():
        values = dict(zip(table.actions, table.means))
        cells = [_cell(values.get(name, float('nan')), decimals) for name in columns]
        average = table.average if set(columns) <= set(table.actions) else float('nan')
        lines.append(row([method, *cells, _cell(average, decimals)]))
    return '\n'.join(lines) + '\n'
