"""Algorithm 1 trainer: configs, each stage lowers its loss, 2D-only samples, resume."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from hpm_ros.checkpoint import load_checkpoint
from hpm_ros.data.clips import ClipBank
from hpm_ros.errors import ConfigError
from hpm_ros.model import CONFIGS
from hpm_ros.training import loop
from hpm_ros.training.config import TrainConfig, train_config_from_dict
from hpm_ros.training.losses import gaussian_heatmaps, masked_squared_error
from hpm_ros.training.stages import StageLoss, set_trainable

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_registered(tiny_config, monkeypatch):
    monkeypatch.setitem(CONFIGS, 'tiny', tiny_config)
    return tiny_config


def blob_bank(count: int, frames: int, size: int, two_d_only: int = 0) -> ClipBank:
    """Clips whose images show one bright square per joint at its 2D position."""
    rng = np.random.default_rng(0)
    pose2d = rng.uniform(0.15, 0.85, (count, frames, 17, 2)).astype(np.float32)
    images = np.zeros((count, frames, size, size, 3), np.uint8)
    for n in range(count):
        for t in range(frames):
            for j, (x, y) in enumerate(pose2d[n, t]):
                u, v = int(x * size), int(y * size)
                images[n, t, max(v - 2, 0):v + 3, max(u - 2, 0):u + 3] = (
                    40 + 12 * j, 255 - 10 * j, 128)
    pose3d = rng.normal(0, 300, (count, frames, 17, 3)).astype(np.float32)
    pose3d[:, :, 0] = 0
    has_3d = np.arange(count) >= two_d_only
    return ClipBank(images, pose2d, pose3d, has_3d, np.array(['blob'] * count))


def test_config_rejects_unknown_keys():
    config = train_config_from_dict({'model': 'lite', 'stages': {'pose2d': {'steps': 3}}})
    assert config.stages['pose2d'].steps == 3 and list(config.stages) == ['pose2d']
    with pytest.raises(ConfigError, match='unknown keys in training config'):
        train_config_from_dict({'modle': 'lite'})
    with pytest.raises(ConfigError, match=r'stages.pose2d'):
        train_config_from_dict({'stages': {'pose2d': {'stpes': 3}}})
    with pytest.raises(ConfigError, match='unknown stages'):
        train_config_from_dict({'stages': {'pretrain': {}}})
    with pytest.raises(ConfigError, match='unknown keys in data'):
        train_config_from_dict({'data': {'clipz': 3}})


def test_masked_loss_ignores_2d_only_samples():
    prediction = torch.zeros(2, 3, 17, 3, requires_grad=True)
    target = torch.ones(2, 3, 17, 3)
    mask = torch.zeros(2, 3, 17)
    loss = masked_squared_error(prediction, target, mask)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(prediction.grad) == 0
    mask[0] = 1
    assert masked_squared_error(prediction, target, mask).item() == pytest.approx(3.0)


def test_gaussian_heatmaps_peak_at_the_joint():
    maps = gaussian_heatmaps(torch.tensor([[[0.5625, 0.3125]]]), 8, 0.5)
    assert maps.shape == (1, 1, 8, 8)
    assert torch.isclose(maps.sum(), torch.tensor(1.0))
    assert divmod(int(maps.flatten().argmax()), 8) == (2, 4)


def test_two_d_only_samples_contribute_no_3d_loss(tiny_registered):
    from hpm_ros.model import build_machine

    machine = build_machine(tiny_registered).train()
    bank = blob_bank(4, 2, tiny_registered.input_size, two_d_only=4)
    batch = bank.batch(np.arange(4), machine.normalise_3d, torch.device('cpu'))
    set_trainable(machine, 'finetune')
    terms = StageLoss(machine, TrainConfig().losses)(batch, 'finetune')
    assert terms['pose3d'].item() == 0.0 and terms['regression3d'].item() == 0.0
    machine.zero_grad()
    terms['pose3d'].backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in machine.transformer.parameters())


def test_cached_features_give_the_transformer_loss_of_the_frozen_trunk(tiny_registered):
    from hpm_ros.model import build_machine

    torch.manual_seed(0)
    machine = build_machine(tiny_registered)
    bank = blob_bank(5, 3, tiny_registered.input_size, two_d_only=1)
    model = StageLoss(machine, TrainConfig().losses)
    pool = bank.indices(only_3d=True)
    key, cache = loop.stage_cache(model, 'transformer', bank, pool, machine, torch.device('cpu'))
    assert key == 'frozen_features' and cache.dtype == torch.float16
    assert cache.shape[:2] == (5, 3) and not cache[0].any() and cache[pool].abs().sum() > 0
    batch = bank.batch(pool[:3], machine.normalise_3d, torch.device('cpu'))
    direct = model(batch, 'transformer')['pose3d']
    cached = model({**batch, key: cache[torch.from_numpy(pool[:3])]}, 'transformer')['pose3d']
    torch.testing.assert_close(cached, direct, rtol=1e-2, atol=1e-4)
    assert loop.stage_cache(model, 'pose2d', bank, pool, machine, torch.device('cpu')) == (
        None, None)


def _stage_rows(log_path, stage):
    return [row for row in csv.DictReader(open(log_path)) if row['stage'] == stage]


def test_each_stage_lowers_its_loss(tiny_registered, tmp_path):
    steps = {'pose2d': 40, 'transformer': 30, 'projector': 30, 'finetune': 20}
    config = train_config_from_dict({
        'model': 'tiny', 'output_dir': str(tmp_path / 'run'),
        'stages': {name: {'steps': n, 'lr': 3e-3, 'batch_size': 4} for name, n in steps.items()},
    })
    bank = blob_bank(6, 3, tiny_registered.input_size, two_d_only=2)
    final = loop.train(config, bank, progress=False)
    for stage in steps:
        rows = _stage_rows(tmp_path / 'run' / loop.LOG_NAME, stage)
        losses = [float(row['total']) for row in rows]
        assert len(losses) == steps[stage]
        assert np.mean(losses[-5:]) < np.mean(losses[:5]), stage
        assert (tmp_path / 'run' / f'stage_{stage}.pt').is_file()
    _, info = load_checkpoint(final)
    assert info.metadata['stage'] == 'final'
    assert info.metadata['training']['stages']['pose2d']['steps'] == 40
    assert (tmp_path / 'run' / 'loss_curves.png').stat().st_size > 1000


def test_resume_continues_an_interrupted_run(tiny_registered, tmp_path, monkeypatch):
    config = train_config_from_dict({
        'model': 'tiny', 'output_dir': str(tmp_path / 'run'),
        'stages': {'pose2d': {'steps': 6, 'batch_size': 2},
                   'transformer': {'steps': 20, 'batch_size': 2}},
    })
    bank = blob_bank(4, 2, tiny_registered.input_size)
    write_row = loop._write_row

    def interrupt_at_step_15(handle, writer, row):
        if row['stage'] == 'transformer' and row['step'] == 15:
            raise KeyboardInterrupt
        return write_row(handle, writer, row)

    monkeypatch.setattr(loop, '_write_row', interrupt_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config, bank, progress=False, checkpoint_every=10)
    assert not (tmp_path / 'run' / 'final.pt').exists()
    monkeypatch.setattr(loop, '_write_row', write_row)
    loop.train(config, bank, resume=True, progress=False, checkpoint_every=10)
    log = tmp_path / 'run' / loop.LOG_NAME
    assert [int(r['step']) for r in _stage_rows(log, 'pose2d')] == list(range(1, 7))
    steps = [int(r['step']) for r in _stage_rows(log, 'transformer')]
    assert steps == list(range(1, 15)) + list(range(11, 21)), 'restarted from step 10'
    assert (tmp_path / 'run' / 'final.pt').is_file()


@pytest.mark.parametrize('recipe', ['lite.yaml', 'keypoints.yaml'])
def test_shipped_recipes_run_end_to_end_on_a_short_schedule(recipe, tiny_registered, tmp_path,
                                                            monkeypatch):
    """`hpm train --config config/train/<recipe>`: the shipped schedule's stages, data and
    losses, with a tiny model, a few clips and a few steps per stage."""
    import dataclasses

    from hpm_ros.model.config import KEYPOINTS
    from hpm_ros.training.config import load_train_config
    from hpm_ros.training.run import run_training

    monkeypatch.setitem(CONFIGS, 'tiny_kp', dataclasses.replace(
        KEYPOINTS, name='tiny_kp', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32))
    config = load_train_config(ROOT / 'config' / 'train' / recipe)
    shipped_stages = list(config.stages)
    config.model = 'tiny' if config.model == 'lite' else 'tiny_kp'
    config.output_dir = str(tmp_path / 'run')
    config.data.train_clips, config.data.clip_length = 8, 3
    config.data.mocap_fraction = 0.0  # reading every mocap file takes half a minute
    if config.correction_tuning:
        config.correction_tuning['clips'] = 3
    for stage in config.stages.values():
        stage.steps, stage.batch_size = 3, 2
    final = run_training(config, workers=1)
    machine, info = load_checkpoint(final)
    assert machine.config.name == config.model and info.metadata['stage'] == 'final'
    rows = list(csv.DictReader(open(tmp_path / 'run' / loop.LOG_NAME)))
    assert list(dict.fromkeys(row['stage'] for row in rows)) == shipped_stages
    assert all(np.isfinite(float(row['total'])) for row in rows)
    if config.correction_tuning:
        assert info.metadata['correction']['preset'] == 'aligned'
