"""Shapes, streaming == clip, joint dropout and initialisation of the pose machine."""
import pytest
import torch
from torch import nn

from hpm_ros.errors import ConfigError
from hpm_ros.model import LITE, PAPER, ModelConfig, build_machine
from hpm_ros.model.config import transformer_output_cells
from hpm_ros.model.pose2d import soft_argmax
from hpm_ros.model.projector import JointDropout


@pytest.mark.parametrize('config', [LITE, PAPER], ids=['lite', 'paper'])
def test_module_shapes(config):
    machine = build_machine(config)
    size, k, f = config.input_size, config.num_joints, config.feature_size
    with torch.no_grad():
        output, (h, c) = machine.step(torch.rand(1, 3, size, size))
    assert output.features.shape == (1, config.feature_channels, f, f)
    assert output.heatmaps.shape == (1, k, f, f)
    assert output.pose2d.shape == (1, k, 2)
    assert output.confidence.shape == (1, k)
    assert output.pose3d.shape == output.regressed3d.shape == (1, k, 3)
    assert output.projected2d.shape == (1, k, 2)
    assert h.shape == c.shape == (config.lstm_layers, 1, config.lstm_hidden)


def test_paper_sizes_match_the_publication():
    assert PAPER.input_size == 368
    assert PAPER.feature_size == 46 and PAPER.feature_channels == 128
    assert [len(stage) for stage in PAPER.trunk] == [2, 2, 4, 7]
    machine = build_machine(PAPER)
    assert machine.transformer.lstm.hidden_size == 1024
    assert machine.transformer.lstm.num_layers == 2
    assert machine.transformer.adapt[7].out_features == 1024
    convs = [m for m in machine.transformer.adapt if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [
        (128, (5, 5), (2, 2))] * 2
    projection = machine.projector.projection
    assert [projection.fc1.out_features, projection.fc2.out_features,
            projection.fc3.out_features, projection.fc4.out_features] == [1024, 1024, 1024, 34]
    regression = machine.projector.regression
    assert (regression.fc1.in_features, regression.fc2.out_features) == (51, 51)


def test_streaming_equals_clip(tiny_config):
    machine = build_machine(tiny_config)
    clip = torch.rand(2, 5, 3, tiny_config.input_size, tiny_config.input_size)
    with torch.no_grad():
        clip_out, clip_state = machine(clip)
        state = None
        streamed = []
        for t in range(clip.shape[1]):
            output, state = machine.step(clip[:, t], state)
            streamed.append(output)
    for name in ('pose2d', 'pose3d', 'regressed3d', 'projected2d', 'confidence'):
        stacked = torch.stack([getattr(o, name) for o in streamed], dim=1)
        torch.testing.assert_close(stacked, getattr(clip_out, name), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state[0], clip_state[0], rtol=1e-5, atol=1e-6)


def test_state_is_carried_and_resettable(tiny_config):
    machine = build_machine(tiny_config)
    frame = torch.rand(1, 3, tiny_config.input_size, tiny_config.input_size)
    with torch.no_grad():
        first, state = machine.step(frame)
        second, _ = machine.step(frame, state)
        again, _ = machine.step(frame, machine.initial_state(1))
    assert not torch.allclose(first.pose3d, second.pose3d)
    torch.testing.assert_close(first.pose3d, again.pose3d)


def test_joint_dropout_only_in_training():
    dropout = JointDropout(0.3)
    joints = torch.ones(1000, 17, 3)
    dropout.train()
    dropped = dropout(joints)
    zero_joints = (dropped == 0).all(dim=-1)
    assert ((dropped == 0) | (dropped == 1)).all()
    assert ((dropped == 0).all(dim=-1) | (dropped == 1).all(dim=-1)).all(), 'whole joints drop'
    assert abs(zero_joints.float().mean().item() - 0.3) < 0.02
    dropout.eval()
    assert torch.equal(dropout(joints), joints)


def test_machine_dropout_follows_train_mode(tiny_config):
    machine = build_machine(tiny_config)
    pose3d = torch.rand(64, 17, 3)
    with torch.no_grad():
        eval_a = machine.projector(pose3d)[0]
        eval_b = machine.projector(pose3d)[0]
        machine.train()
        train_out = machine.projector(pose3d)[0]
    torch.testing.assert_close(eval_a, eval_b)
    assert not torch.allclose(eval_a, train_out)


def test_soft_argmax_finds_a_peak():
    heatmaps = torch.full((1, 2, 8, 8), -50.0)
    heatmaps[0, 0, 2, 5] = 50.0
    heatmaps[0, 1, 7, 0] = 50.0
    coordinates, confidence = soft_argmax(heatmaps)
    torch.testing.assert_close(coordinates[0],
                               torch.tensor([[5.5 / 8, 2.5 / 8], [0.5 / 8, 7.5 / 8]]))
    assert (confidence > 0.99).all()
    flat, flat_confidence = soft_argmax(torch.zeros(1, 1, 8, 8))
    torch.testing.assert_close(flat[0, 0], torch.tensor([0.5, 0.5]))
    assert flat_confidence.item() == pytest.approx(9 / 64 * 4 / 9 * 4 / 9 * 9 / 4, rel=0.5)


def test_xavier_initialisation_zero_biases(tiny_config):
    machine = build_machine(tiny_config)
    conv = machine.pose2d.trunk[0]
    assert torch.count_nonzero(conv.bias) == 0
    bound = (6.0 / (conv.in_channels * 9 + conv.out_channels * 9)) ** 0.5
    assert conv.weight.abs().max() <= bound


def test_normalisation_round_trip(tiny_config):
    machine = build_machine(tiny_config)
    machine.set_normalisation(torch.full((17, 3), -800.0), torch.full((17, 3), 900.0))
    pose = torch.randn(4, 17, 3) * 300
    torch.testing.assert_close(machine.denormalise_3d(machine.normalise_3d(pose)), pose,
                               atol=1e-3, rtol=0)
    with pytest.raises(ValueError):
        machine.set_normalisation(torch.zeros(17, 3), torch.zeros(17, 3))


def test_config_validation(tiny_config):
    data = tiny_config.to_dict()
    assert ModelConfig.from_dict(data) == tiny_config
    with pytest.raises(ConfigError, match='unknown'):
        ModelConfig.from_dict({**data, 'bogus': 1})
    with pytest.raises(ConfigError, match='multiple'):
        ModelConfig.from_dict({**data, 'input_size': 100})
    with pytest.raises(ConfigError, match='too small'):
        ModelConfig.from_dict({**data, 'input_size': 64})
    assert transformer_output_cells(46) == 3 and transformer_output_cells(16) == 1


def test_transformer_reads_joint_maps_or_trunk_features(tiny_config):
    import dataclasses

    from hpm_ros.model.config import KEYPOINTS

    images = torch.rand(2, 3, tiny_config.input_size, tiny_config.input_size)
    maps_config = dataclasses.replace(tiny_config, transformer_input='heatmaps')
    trunk_config = dataclasses.replace(tiny_config, transformer_input='features')
    assert maps_config.feature_channels == 17
    assert trunk_config.feature_channels == tiny_config.trunk[-1][-1]
    with_maps = build_machine(maps_config).eval()
    with_trunk = build_machine(trunk_config).eval()
    with_trunk.pose2d.load_state_dict(with_maps.pose2d.state_dict())
    with torch.no_grad():
        maps, heatmaps, pose2d, _ = with_maps.encode(images)
        trunk, heatmaps_again, pose2d_again, _ = with_trunk.encode(images)
    torch.testing.assert_close(heatmaps, heatmaps_again)
    torch.testing.assert_close(pose2d, pose2d_again)
    assert trunk.shape[1] == tiny_config.trunk[-1][-1] and maps.shape == heatmaps.shape
    assert (maps > 0).all() and (maps <= 1).all()
    flat_maps, flat_heatmaps = maps.flatten(2), heatmaps.flatten(2)
    assert torch.equal(flat_maps.argmax(-1), flat_heatmaps.argmax(-1))
    torch.testing.assert_close(flat_maps.amax(-1), torch.ones(2, 17))
    ratio = flat_maps[..., 0] / flat_maps[..., 1]
    expected = torch.exp(tiny_config.softargmax_beta * (flat_heatmaps[..., 0]
                                                        - flat_heatmaps[..., 1]))
    torch.testing.assert_close(ratio, expected)
    with pytest.raises(ConfigError, match='transformer_input'):
        dataclasses.replace(tiny_config, transformer_input='images')
    with pytest.raises(ConfigError, match='keypoints front end'):
        dataclasses.replace(KEYPOINTS, transformer_input='heatmaps')
