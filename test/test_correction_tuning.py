"""Per-checkpoint correction settings: chosen on validation banks, stored, used by the lifter."""
import dataclasses

import torch

from hpm_ros.checkpoint import load_checkpoint, save_checkpoint
from hpm_ros.data.lifter_clips import build_lifter_bank
from hpm_ros.lift import KeypointLifter
from hpm_ros.model import build_machine
from hpm_ros.model.config import KEYPOINTS
from hpm_ros.training.correction_tuning import (TuningConfig, best_per_detector, best_setting,
                                                tune_checkpoint)


def test_best_setting_never_hurts_a_detector_when_it_can_avoid_it():
    rows = [({'lr': 0.05}, {'a': (100.0, 80.0), 'b': (100.0, 101.0)}),
            ({'lr': 0.02}, {'a': (100.0, 95.0), 'b': (100.0, 97.0)}),
            ({'lr': 0.01}, {'a': (100.0, 98.0), 'b': (100.0, 99.0)})]
    assert best_setting(rows)[0] == {'lr': 0.02}
    worse = [({'lr': 0.05}, {'a': (100.0, 101.0)}), ({'lr': 0.01}, {'a': (100.0, 100.5)})]
    assert best_setting(worse)[0] == {'lr': 0.01}


def test_best_per_detector_prefers_fewer_steps_and_switches_off_what_hurts():
    rows = [({'lr': 0.05, 'max_steps': 8}, {'a': (100.0, 90.0), 'b': (100.0, 100.5)}),
            ({'lr': 0.02, 'max_steps': 4}, {'a': (100.0, 90.05), 'b': (100.0, 101.0)}),
            ({'lr': 0.01, 'max_steps': 2}, {'a': (100.0, 95.0), 'b': (100.0, 100.2)})]
    chosen = best_per_detector(rows, tolerance_mm=0.1)
    assert chosen['a'] == ({'lr': 0.02, 'max_steps': 4}, (100.0, 90.05))
    assert chosen['b'] == ({'max_steps': 0}, (100.0, 100.0))
    assert best_per_detector(rows, tolerance_mm=0.0)['a'][0] == {'lr': 0.05, 'max_steps': 8}


def test_tuning_stores_the_chosen_settings_in_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_kp', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32,
        input_encoding='rays')
    path = save_checkpoint(tmp_path / 'm.pt', build_machine(config), stage='final',
                           training={'data': {'fps': 25.0, 'clip_length': 4}})

    def bank(detector, clips, seed):
        return build_lifter_bank(clips, 4, seed=seed, split='val', detectors={detector: 1.0},
                                 encoding='rays', progress=False)
    grid = {'lr': [0.01, 0.05], 'max_steps': [1, 2]}
    entry = tune_checkpoint(path, TuningConfig(clips=6, grid=grid), bank, ['mocap', 'coco'],
                            progress=False)
    assert set(entry['validation']) == {'mocap', 'coco'} and len(entry['grid']) == 4
    assert entry['overrides'] in [row['overrides'] for row in entry['grid']]
    _, info = load_checkpoint(path)
    assert info.metadata['correction']['overrides'] == entry['overrides']
    assert info.metadata['stage'] == 'final'
    lifter = KeypointLifter(path)
    assert lifter.corrector.config.lr == entry['overrides']['lr']
    assert lifter.corrector.config.max_steps == entry['overrides']['max_steps']
    assert set(entry['per_joint_set']) == {'h36m17', 'coco17'}
    for joint_set, chosen in entry['per_joint_set'].items():
        config = lifter.core.corrector_for(joint_set).config
        assert chosen['corrected_mm'] <= chosen['uncorrected_mm']
        assert config.max_steps == chosen['overrides']['max_steps']
        if config.max_steps:
            assert chosen['overrides'] in [row['overrides'] for row in entry['grid']]
    assert tune_checkpoint(path, TuningConfig(clips=0), bank, ['mocap']) == {}
