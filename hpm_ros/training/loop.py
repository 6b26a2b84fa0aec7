"""The training loop of Algorithm 1: stages in order, checkpoints, resume, logs, DDP."""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import distributed
from tqdm import tqdm

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.data.clips import ClipBank
from hpm_ros.model import build_machine
from hpm_ros.model.machine import PoseMachine
from hpm_ros.training.config import STAGE_NAMES, TrainConfig, model_config
from hpm_ros.training.stages import StageLoss, set_trainable

LOG_NAME = 'training_log.csv'
RESUME_NAME = 'resume.pt'
NORMALISATION_MARGIN = 0.1


class DistributedContext:
    """Rank, world size and device under torchrun (WORLD_SIZE > 1), else a single process."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if torch.cuda.is_available():
            self.device = torch.device('cuda', local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device('cpu')
        if self.world_size > 1 and not distributed.is_initialized():
            distributed.init_process_group('nccl' if self.device.type == 'cuda' else 'gloo')

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around ``module`` when running distributed."""
        if self.world_size == 1:
            return module
        device_ids = [self.device.index] if self.device.type == 'cuda' else None
        return torch.nn.parallel.DistributedDataParallel(
            module, device_ids=device_ids, find_unused_parameters=True)


def fit_normalisation(machine: PoseMachine, bank: ClipBank) -> None:
    """Per-coordinate min-max statistics (paper section 4.1) of the 3D training poses, widened
    by 10 % of the range on each side so that test poses rarely leave [0, 1]."""
    poses = bank.pose3d[bank.has_3d].reshape(-1, *bank.pose3d.shape[2:])
    low, high = poses.min(axis=0), poses.max(axis=0)
    margin = np.maximum(high - low, 1.0) * NORMALISATION_MARGIN
    machine.set_normalisation(torch.from_numpy(low - margin), torch.from_numpy(high + margin))


def learning_rate(stage_config, step: int) -> float:
    """Cosine decay from ``lr`` to ``lr * lr_final_fraction`` over the stage's steps."""
    progress = step / max(stage_config.steps, 1)
    floor = stage_config.lr * stage_config.lr_final_fraction
    return floor + 0.5 * (stage_config.lr - floor) * (1 + math.cos(math.pi * progress))


def cache_frozen_outputs(compute, bank: ClipBank, pool: np.ndarray, machine: PoseMachine,
                         device: torch.device, chunk: int, dtype: torch.dtype,
                         description: str) -> torch.Tensor:
    """[N, ...] ``compute(batch)`` of every clip (rows of ``pool`` filled, others zero) with
    the machine in eval mode, stored as ``dtype``: what a stage reads instead of running its
    frozen parts at every step."""
    training = machine.training
    machine.eval()
    cache = None
    for begin in tqdm(range(0, len(pool), chunk), desc=description, leave=False):
        indices = pool[begin:begin + chunk]
        outputs = compute(bank.batch(indices, machine.normalise_3d, device))
        if cache is None:
            cache = torch.zeros((len(bank), *outputs.shape[1:]), dtype=dtype, device=device)
        cache[torch.from_numpy(indices)] = outputs.to(dtype)
    machine.train(training)
    return cache


def stage_cache(model, stage: str, bank: ClipBank, pool: np.ndarray, machine: PoseMachine,
                device: torch.device) -> tuple:
    """(batch key, cached tensor) of what ``stage`` would recompute from frozen parts at
    every step, or (None, None): Ψ_T's p3d [N, T, K, 3] for the projector stage (Algorithm 1,
    step 3), Ψ_R's f2d [N, T, C, F, F] float16 for the transformer stage of the image front
    end (step 2: ω_R is fixed, so its features are too; the keypoints front end's channels
    train)."""
    loss = model.module if hasattr(model, 'module') else model
    if stage == 'projector':
        return 'frozen_pose3d', cache_frozen_outputs(
            loss.frozen_pose3d, bank, pool, machine, device, 32, torch.float32,
            'cache Ψ_T outputs')
    if stage == 'transformer' and machine.config.front_end == 'image':
        # Half precision halves the memory (lite: 34 KB a frame); its rounding (3 significant
        # digits) is far below the joint maps' own noise.
        return 'frozen_features', cache_frozen_outputs(
            loss.frozen_features, bank, pool, machine, device, 16, torch.float16,
            'cache Ψ_R features')
    return None, None


def _save_resume(path: Path, machine: PoseMachine, optimizer, stage_index: int,
                 step: int) -> None:
    partial = path.with_name(path.name + '.partial')
    torch.save({'stage_index': stage_index, 'step': step, 'model': machine.state_dict(),
                'optimizer': optimizer.state_dict() if optimizer is not None else None,
                'torch_rng': torch.get_rng_state()}, partial)
    os.replace(partial, path)


def train(config: TrainConfig, bank: ClipBank, resume: bool = False,
          checkpoint_every: int = 200, progress: bool = True) -> Path:
    """Run every configured stage of Algorithm 1 on ``bank``; returns the final checkpoint.

    Writes into ``config.output_dir``: ``stage_<name>.pt`` after each stage, ``final.pt``,
    ``training_log.csv`` (one row per step), ``loss_curves.png`` and ``resume.pt`` (for
    ``resume=True``, which continues from the last saved step).
    """
    context = DistributedContext()
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed + context.rank)
    rng = np.random.default_rng(config.seed + 1000 * context.rank)
    machine = build_machine(model_config(config)).to(context.device)
    fit_normalisation(machine, bank)

    start_stage, start_step, optimizer_state = 0, 0, None
    resume_path = output / RESUME_NAME
    if resume and resume_path.is_file():
        saved = torch.load(resume_path, map_location=context.device, weights_only=True)
        machine.load_state_dict(saved['model'])
        start_stage, start_step = saved['stage_index'], saved['step']
        optimizer_state = saved['optimizer']
        torch.set_rng_state(saved['torch_rng'])
        rng = np.random.default_rng(config.seed + start_stage * 7919 + start_step)
    log_path = output / LOG_NAME
    new_log = not (resume and log_path.is_file())
    log_file = open(log_path, 'w' if new_log else 'a', newline='') if context.is_main else None
    writer = None
    stage_order = [name for name in STAGE_NAMES if name in config.stages]
    try:
        for stage_index, stage in enumerate(stage_order):
            if stage_index < start_stage:
                continue
            stage_config = config.stages[stage]
            parameters = set_trainable(machine, stage)
            optimizer = torch.optim.Adam(parameters, lr=stage_config.lr,
                                         weight_decay=stage_config.weight_decay)
            first_step = 0
            if stage_index == start_stage and optimizer_state is not None:
                optimizer.load_state_dict(optimizer_state)
                first_step = start_step
            model = context.wrap(StageLoss(machine, config.losses))
            machine.train()
            pool = bank.indices(only_3d=stage in ('transformer', 'projector'))
            cache_key, cache = stage_cache(model, stage, bank, pool, machine, context.device)
            began = time.perf_counter()
            bar = tqdm(range(first_step, stage_config.steps), desc=f'stage {stage}',
                       disable=not (progress and context.is_main), dynamic_ncols=True)
            for step in bar:
                lr = learning_rate(stage_config, step)
                for group in optimizer.param_groups:
                    group['lr'] = lr
                indices = rng.choice(pool, size=stage_config.batch_size,
                                     replace=len(pool) < stage_config.batch_size)
                batch = bank.batch(indices, machine.normalise_3d, context.device,
                                   with_inputs=cache is None)
                if cache is not None:
                    batch[cache_key] = cache[torch.from_numpy(indices)]
                terms = model(batch, stage)
                optimizer.zero_grad(set_to_none=True)
                terms['total'].backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
                optimizer.step()
                row = {'stage': stage, 'step': step + 1, 'lr': lr,
                       'seconds': time.perf_counter() - began,
                       **{name: float(value.detach()) for name, value in terms.items()}}
                bar.set_postfix(loss=f'{row["total"]:.4g}')
                if log_file is not None:
                    writer = _write_row(log_file, writer, row)
                if context.is_main and (step + 1) % checkpoint_every == 0:
                    _save_resume(resume_path, machine, optimizer, stage_index, step + 1)
            machine.eval()
            if context.is_main:
                save_checkpoint(output / f'stage_{stage}.pt', machine, stage=stage,
                                training=_config_summary(config))
                _save_resume(resume_path, machine, None, stage_index + 1, 0)
        final = output / 'final.pt'
        if context.is_main:
            save_checkpoint(final, machine, stage='final', training=_config_summary(config))
            log_file.close()
            log_file = None
            from hpm_ros.training.plots import plot_loss_curves

            plot_loss_curves(log_path, output / 'loss_curves.png')
        return final
    finally:
        if log_file is not None:
            log_file.close()


LOG_COLUMNS = ('stage', 'step', 'lr', 'seconds', 'total', 'pose2d', 'heatmap', 'pose3d',
               'regression3d', 'projection2d')


def _write_row(handle, writer, row: dict):
    if writer is None:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, restval='')
        if handle.tell() == 0:
            writer.writeheader()
    writer.writerow(row)
    handle.flush()
    return writer


def _config_summary(config: TrainConfig) -> dict:
    summary = asdict(config)
    summary['stages'] = {name: asdict(stage) for name, stage in config.stages.items()}
    return summary
