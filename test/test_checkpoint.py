"""Checkpoint round trip and every checkpoint error."""
import dataclasses

import pytest
import torch

from hpm_ros.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from hpm_ros.errors import CheckpointError
from hpm_ros.model import build_machine


@pytest.fixture
def saved(tiny_config, tmp_path):
    machine = build_machine(tiny_config)
    machine.set_normalisation(torch.full((17, 3), -700.0), torch.full((17, 3), 650.0))
    return machine, save_checkpoint(tmp_path / 'model.pt', machine, note='unit test')


def test_round_trip_rebuilds_the_model_from_the_file_alone(saved, tiny_config):
    machine, path = saved
    loaded, info = load_checkpoint(path)
    assert info.config == tiny_config and info.format_version == FORMAT_VERSION
    assert info.joint_set == 'h36m17' and info.metadata == {'note': 'unit test'}
    assert len(info.sha256) == 64
    assert not loaded.training
    for key, value in machine.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    frame = torch.rand(1, 3, tiny_config.input_size, tiny_config.input_size)
    with torch.no_grad():
        torch.testing.assert_close(machine.step(frame)[0].regressed3d,
                                   loaded.step(frame)[0].regressed3d)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match='not found'):
        load_checkpoint(tmp_path / 'absent.pt')


def test_truncated_file(saved, tmp_path):
    _, path = saved
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match='truncated'):
        load_checkpoint(truncated)


def test_not_a_checkpoint(tmp_path):
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'\x00not a checkpoint' * 100)
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)
    foreign = tmp_path / 'foreign.pt'
    torch.save({'weights': torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match='lacks'):
        load_checkpoint(foreign)


def _rewrite(path, tmp_path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    out = tmp_path / 'changed.pt'
    torch.save(payload, out)
    return out


def test_other_format_version(saved, tmp_path):
    _, path = saved
    changed = _rewrite(path, tmp_path, lambda p: p.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match='format version'):
        load_checkpoint(changed)


def test_shape_mismatch(saved, tmp_path, tiny_config):
    _, path = saved
    wider = dataclasses.replace(tiny_config, lstm_hidden=48).to_dict()
    changed = _rewrite(path, tmp_path, lambda p: p.update(model_config=wider))
    with pytest.raises(CheckpointError, match='does not match'):
        load_checkpoint(changed)


def test_invalid_config_and_expected_name(saved, tmp_path):
    _, path = saved
    changed = _rewrite(path, tmp_path, lambda p: p['model_config'].update(colour='blue'))
    with pytest.raises(CheckpointError, match='invalid model config'):
        load_checkpoint(changed)
    with pytest.raises(CheckpointError, match="expected 'lite'"):
        load_checkpoint(path, expected_config='lite')


def test_a_text_file_and_nan_weights_are_refused(saved, tmp_path):
    text = tmp_path / 'notes.pt'
    text.write_text('a text file, not a model\n')
    with pytest.raises(CheckpointError, match='not a torch file'):
        load_checkpoint(text)
    machine, _ = saved
    with torch.no_grad():
        machine.projector.regression.fc1.weight[0, 0] = float('nan')
    path = save_checkpoint(tmp_path / 'nan.pt', machine)
    with pytest.raises(CheckpointError, match='NaN or infinite weights'):
        load_checkpoint(path)
