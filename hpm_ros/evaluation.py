"""Evaluation on clips with 3D ground truth: Table 2 style per-action errors and the Table 5
ablations (without correction at test, without correction at train and test, single frame,
2D ground truth as the correction target)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.data.clips import ClipBank
from hpm_ros.geometry import root_relative
from hpm_ros.metrics import format_table, mpjpe, p_mpjpe, per_action_table
from hpm_ros.model.machine import PoseMachine
from hpm_ros.pipeline import PipelineConfig

JOINT_CONFIDENCE = PipelineConfig.joint_confidence
VARIANTS = {
    'full': 'Ours (with correction)',
    'no_correction_test': 'w/o self-correction at test',
    'no_correction_train_test': 'w/o self-correction at train and test (Ψ_T output)',
    'single_frame': 'single frame (no temporal state)',
    'gt2d_correction': 'with 2D ground truth as correction target',
}


@dataclass
class Evaluation:
    """Per-frame errors of every variant: mpjpe[variant] and p_mpjpe[variant] are [N·T] mm;
    actions [N·T] str; correction_applied [N·T] bool of the 'full' variant; clips [N] the bank
    indices evaluated; pose2d [N·T, K, 2] Ψ_R's 2D (normalised crop coordinates) and pose3d
    [N·T, K, 3] mm root-relative, the 'full' variant's output (for pictures)."""

    mpjpe: dict
    p_mpjpe: dict
    actions: np.ndarray
    correction_applied: np.ndarray
    clips: np.ndarray = None
    pose2d: np.ndarray = None
    pose3d: np.ndarray = None

    def tables(self, metric: str) -> dict:
        """Variant label -> ActionTable of ``metric`` ('mpjpe' or 'p_mpjpe')."""
        errors = getattr(self, metric)
        return {VARIANTS[name]: per_action_table(values, self.actions)
                for name, values in errors.items()}


def _denormalised(machine: PoseMachine, pose: torch.Tensor) -> np.ndarray:
    return machine.denormalise_3d(pose).detach().cpu().numpy()


@torch.no_grad()
def _stream(machine: PoseMachine, images: torch.Tensor, temporal: bool) -> list:
    """Per frame outputs of clips [B, T, 3, S, S], state carried (or reset every frame)."""
    state, outputs = None, []
    for t in range(images.shape[1]):
        output, state = machine.step(images[:, t], state if temporal else None)
        outputs.append(output)
    return outputs


def evaluate_bank(machine: PoseMachine, bank: ClipBank, correction: CorrectionConfig,
                  variants=tuple(VARIANTS), batch_clips: int = 32, progress: bool = True,
                  joint_confidence: float = JOINT_CONFIDENCE) -> Evaluation:
    """Run every variant over every frame of ``bank`` (clips streamed causally, state
    carried from the first frame of each clip) and measure MPJPE / P-MPJPE against its 3D.
    As in the node's pipeline, only joints whose Ψ_R confidence reaches ``joint_confidence``
    enter the correction's 2D loss (all joints for the 2D ground truth target)."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f'unknown evaluation variants {unknown}; choose from {list(VARIANTS)}')
    machine = machine.eval()
    corrector = Corrector(machine, correction)
    no_correction = Corrector(machine, CorrectionConfig.from_preset('off'))
    predictions = {name: [] for name in variants}
    applied, pose2d = [], []
    clips = bank.indices(only_3d=True)
    for begin in tqdm(range(0, len(clips), batch_clips), desc='evaluate', disable=not progress):
        indices = clips[begin:begin + batch_clips]
        batch = bank.batch(indices, machine.normalise_3d, torch.device('cpu'))
        temporal = _stream(machine, batch['images'], temporal=True)
        single = _stream(machine, batch['images'], temporal=False) \
            if 'single_frame' in variants else None
        per_frame = {name: [] for name in variants}
        batch_applied = []
        pose2d.append(torch.stack([output.pose2d for output in temporal], 1).cpu().numpy())
        for t, output in enumerate(temporal):
            weights = (output.confidence >= joint_confidence).float()
            full = corrector.correct(output.pose3d, output.pose2d, weights)
            batch_applied.append(full.applied.cpu().numpy())
            results = {
                'full': full.pose3d_mm,
                'no_correction_test': lambda: no_correction.correct(
                    output.pose3d, output.pose2d).pose3d_mm,
                'no_correction_train_test': lambda: machine.denormalise_3d(output.pose3d),
                'single_frame': lambda: corrector.correct(
                    single[t].pose3d, single[t].pose2d,
                    (single[t].confidence >= joint_confidence).float()).pose3d_mm,
                'gt2d_correction': lambda: corrector.correct(
                    output.pose3d, batch['pose2d'][:, t]).pose3d_mm,
            }
            for name in variants:
                value = results[name]
                per_frame[name].append((value if torch.is_tensor(value) else value()).cpu())
        applied.append(np.stack(batch_applied, axis=1))
        for name in variants:
            predictions[name].append(torch.stack(per_frame[name], dim=1).numpy())
    truth = bank.pose3d[clips].reshape(-1, *bank.pose3d.shape[2:])
    actions = np.repeat(np.asarray(bank.actions)[clips], bank.pose3d.shape[1])
    errors, aligned, outputs = {}, {}, {}
    for name in variants:
        outputs[name] = root_relative(np.concatenate(predictions[name]).reshape(truth.shape))
        errors[name] = mpjpe(outputs[name], truth)
        aligned[name] = p_mpjpe(outputs[name], truth)
    return Evaluation(errors, aligned, actions, np.concatenate(applied).reshape(-1), clips,
                      np.concatenate(pose2d).reshape(*truth.shape[:2], 2), outputs.get('full'))


def render_samples(evaluation: Evaluation, bank: ClipBank, png_path: Path,
                   count: int = 6) -> Path:
    """A PNG grid of ``count`` sample frames (the last frame of clips of different actions):
    the crop with Ψ_R's 2D skeleton, and a side view of the predicted 3D (colours) over the
    true 3D (grey), with the frame's MPJPE."""
    from PIL import Image, ImageDraw

    from hpm_ros.render import draw_pose_2d, draw_side_view, strip

    frames = bank.pose3d.shape[1]
    order = np.argsort([str(bank.actions[c]) for c in evaluation.clips], kind='stable')
    chosen = [order[int(i)] for i in np.linspace(0, len(order) - 1, min(count, len(order)))]
    rows = []
    for position in chosen:
        clip, frame = evaluation.clips[position], position * frames + frames - 1
        crop = bank.images[clip, -1]
        size = crop.shape[0]
        overlay = draw_pose_2d(crop, evaluation.pose2d[frame] * size - 0.5)
        height = max(size, 256)
        side = draw_side_view(evaluation.pose3d[frame], size=height,
                              truth=root_relative(bank.pose3d[clip, -1].astype(np.float64)))
        panel = Image.fromarray(strip([overlay, side], height=height))
        ImageDraw.Draw(panel).text(
            (4, height - 14), f'{bank.actions[clip]}  MPJPE {evaluation.mpjpe["full"][frame]:.0f}'
            ' mm', fill=(255, 255, 255))
        rows.append(np.asarray(panel))
    grid = [np.concatenate(rows[i:i + 2], axis=1) if len(rows[i:i + 2]) == 2 else rows[i]
            for i in range(0, len(rows), 2)]
    width = max(row.shape[1] for row in grid)
    grid = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0))) for row in grid]
    Image.fromarray(np.concatenate(grid, axis=0)).save(png_path)
    return Path(png_path)


def write_report(evaluation: Evaluation, folder: Path, title: str, notes: str = '') -> Path:
    """``report.md`` with MPJPE and P-MPJPE tables and ``per_action_mpjpe.png``; returns the
    report path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mpjpe_tables = evaluation.tables('mpjpe')
    lines = [f'# {title}', '', notes, '',
             f'Frames: {len(evaluation.actions)}; correction applied on '
             f'{evaluation.correction_applied.mean() * 100:.1f} % of frames (full variant).', '',
             '## MPJPE (mm)', '', format_table(mpjpe_tables),
             '## P-MPJPE (mm)', '', format_table(evaluation.tables('p_mpjpe')),
             '![per-action MPJPE](per_action_mpjpe.png)', '']
    plot_per_action(mpjpe_tables, folder / 'per_action_mpjpe.png')
    report = folder / 'report.md'
    report.write_text('\n'.join(lines))
    return report


def plot_per_action(tables: dict, png_path: Path) -> Path:
    """Grouped bar chart: one group per action (plus Avg), one bar per variant."""
    from hpm_ros.figures import new_figure, save_figure

    actions = list(dict.fromkeys(a for table in tables.values() for a in table.actions))
    labels = actions + ['Avg']
    width = 0.8 / max(len(tables), 1)
    figure, axis = new_figure(figsize=(max(6.0, 1.2 * len(labels)), 4.0))
    for index, (name, table) in enumerate(tables.items()):
        values = dict(zip(table.actions, table.means))
        heights = [values.get(a, np.nan) for a in actions] + [table.average]
        positions = np.arange(len(labels)) + (index - (len(tables) - 1) / 2) * width
        axis.bar(positions, heights, width, label=name)
    axis.set_xticks(np.arange(len(labels)), labels, rotation=30, ha='right')
    axis.set_ylabel('MPJPE (mm)')
    axis.legend(fontsize=7)
    return save_figure(figure, png_path)


def run_evaluation(model_path: str, clips: int, clip_length: int, seed: int, correction: str,
                   output: str, correction_overrides: dict = None) -> Path:
    """`hpm evaluate`: render ``clips`` held-out clips (test seeds, held-out mocap trials),
    evaluate every variant and write the report; returns the report path."""
    from hpm_ros.checkpoint import load_checkpoint
    from hpm_ros.data.mocap_check import find_mocap_root
    from hpm_ros.data.synthetic_bank import build_bank
    from hpm_ros.resources import default_model_path

    machine, info = load_checkpoint(model_path or default_model_path('psi_r'))
    bank = build_bank(clips, clip_length, machine.config.input_size, seed=seed, split='test',
                      mocap_dir=find_mocap_root())
    overrides = correction_overrides or {}
    evaluation = evaluate_bank(machine, bank,
                               CorrectionConfig.from_preset(correction, **overrides))
    knobs = ''.join(f', {name} {value}' for name, value in overrides.items())
    notes = (f'Model `{info.path.name}` (sha256 {info.sha256[:12]}), config '
             f'`{info.config.name}`; {clips} held-out synthetic clips of {clip_length} frames '
             f'(test seeds, held-out CMU trials), correction preset `{correction}`{knobs}; '
             f'joints with Ψ_R confidence >= {JOINT_CONFIDENCE} enter the correction.\n\n'
             '![sample frames: Ψ_R 2D on the crop, predicted 3D (colour) over the truth (grey)]'
             '(samples.png)')
    Path(output).mkdir(parents=True, exist_ok=True)
    render_samples(evaluation, bank, Path(output) / 'samples.png')
    return write_report(evaluation, Path(output), 'hpm evaluate', notes)
