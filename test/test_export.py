"""ONNX export: one checked file per part, dynamic batch, metadata, refusal of wrong files."""
import dataclasses
import json
import shutil

import onnx
import pytest
import torch

from hpm_ros.backends import create_backend
from hpm_ros.backends.base import EXPORT_FORMAT_VERSION, weights_sha256
from hpm_ros.backends.export import export_main, export_onnx, import_tensorrt
from hpm_ros.correction import CorrectionConfig
from hpm_ros.correction.exported import correction_path
from hpm_ros.checkpoint import checkpoint_sha256, load_checkpoint, save_checkpoint
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.model import ModelConfig, build_machine
from hpm_ros.model.config import KEYPOINTS
from conftest import make_tiny_config


@pytest.fixture(scope='module')
def tiny_config():
    """Module-scoped tiny config (the export is shared by the module)."""
    return make_tiny_config()


@pytest.fixture(scope='module')
def exported(tmp_path_factory, tiny_config):
    """A tiny checkpoint exported once with export_main -> (checkpoint path, out dir)."""
    torch.manual_seed(1)
    machine = build_machine(tiny_config)
    machine.set_normalisation(torch.full((17, 3), -900.0), torch.linspace(100, 1000, 51)
                              .reshape(17, 3))
    root = tmp_path_factory.mktemp('export')
    checkpoint = save_checkpoint(root / 'tiny.pt', machine)
    paths = export_main(checkpoint, root / 'models', formats='onnx')
    models = root / 'models'
    assert paths[:2] == [models / 'tiny.pose2d.onnx', models / 'tiny.transformer.onnx']
    assert paths[2:] == [correction_path(models, machine, CorrectionConfig.from_preset(
        'aligned'))]
    return checkpoint, models


def copy_models(exported, tmp_path):
    target = tmp_path / 'models'
    shutil.copytree(exported[1], target)
    return target


def test_one_checked_file_per_part_with_dynamic_batch(exported, tiny_config):
    _, models = exported
    names = sorted(p.name for p in models.iterdir())
    assert names[1:] == ['tiny.pose2d.onnx', 'tiny.transformer.onnx']
    assert names[0].startswith('tiny.correction.')      # test/test_correction_export.py
    c, f, k = tiny_config.feature_channels, tiny_config.feature_size, 17
    layers, hidden = tiny_config.lstm_layers, tiny_config.lstm_hidden
    expected = {
        'pose2d': ({'images': ('B', 3, 128, 128)},
                   {'features': ('B', c, f, f), 'heatmaps': ('B', k, f, f),
                    'pose2d': ('B', k, 2), 'confidence': ('B', k)}),
        'transformer': ({'features': ('B', c, f, f), 'h': (layers, 'B', hidden),
                         'c': (layers, 'B', hidden)},
                        {'pose3d': ('B', k, 3), 'h_out': (layers, 'B', hidden),
                         'c_out': (layers, 'B', hidden)}),
    }
    for part, (inputs, outputs) in expected.items():
        model = onnx.load(str(models / f'tiny.{part}.onnx'))
        onnx.checker.check_model(model, full_check=True)
        assert not any(t.data_location == onnx.TensorProto.EXTERNAL
                       for t in model.graph.initializer)
        for values, wanted in ((model.graph.input, inputs), (model.graph.output, outputs)):
            shapes = {v.name: tuple('B' if d.dim_param else d.dim_value
                                    for d in v.type.tensor_type.shape.dim) for v in values}
            assert shapes == wanted


def test_metadata_identifies_model_and_checkpoint(exported, tiny_config):
    checkpoint, models = exported
    machine, info = load_checkpoint(checkpoint)
    for part, module in (('pose2d', machine.pose2d), ('transformer', machine.transformer)):
        model = onnx.load(str(models / f'tiny.{part}.onnx'))
        props = {p.key: p.value for p in model.metadata_props}
        assert props['hpm_ros.format_version'] == str(EXPORT_FORMAT_VERSION)
        assert props['hpm_ros.part'] == part
        assert ModelConfig.from_dict(json.loads(props['hpm_ros.model_config'])) == tiny_config
        assert props['hpm_ros.joint_set'] == 'h36m17'
        stats = json.loads(props['hpm_ros.normalisation'])
        assert stats['min_mm'][0] == [-900.0] * 3
        assert stats['max_mm'][16][2] == pytest.approx(1000.0)
        assert props['hpm_ros.checkpoint_sha256'] == checkpoint_sha256(checkpoint) == info.sha256
        assert props['hpm_ros.weights_sha256'] == weights_sha256(module)


def test_round_trip_at_several_batch_sizes(exported):
    checkpoint, models = exported
    backend = create_backend('onnxruntime', checkpoint, models)
    reference = create_backend('torch', checkpoint)
    for batch in (1, 3):
        images = torch.rand(batch, 3, 128, 128)
        ours, theirs = backend.run_pose2d(images), reference.run_pose2d(images)
        for mine, ref in zip(ours, theirs):
            assert mine.shape == ref.shape and mine.shape[0] == batch
            torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-6)


def test_truncated_file_is_refused(exported, tmp_path):
    models = copy_models(exported, tmp_path)
    path = models / 'tiny.transformer.onnx'
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        create_backend('onnxruntime', exported[0], models)


def test_missing_file_names_the_export_command(exported, tmp_path):
    with pytest.raises(BackendUnavailableError, match='hpm export .*--format onnx'):
        create_backend('onnxruntime', exported[0], tmp_path)
    with pytest.warns(RuntimeWarning, match='instead of onnxruntime'):
        backend = create_backend('onnxruntime', exported[0], tmp_path, allow_fallback=True)
    assert backend.name == 'torch' and 'not found' in backend.fallback_reason


def test_other_weights_are_refused(exported, tiny_config):
    machine, _ = load_checkpoint(exported[0])
    torch.manual_seed(2)
    other = build_machine(tiny_config)
    other.set_normalisation(machine.pose3d_min, machine.pose3d_max)
    with pytest.raises(CheckpointError, match='weights sha256'):
        create_backend('onnxruntime', other, exported[1])


def test_other_normalisation_is_refused(exported):
    machine, _ = load_checkpoint(exported[0])
    machine.set_normalisation(machine.pose3d_min - 1.0, machine.pose3d_max)
    with pytest.raises(CheckpointError, match='normalisation'):
        create_backend('onnxruntime', machine, exported[1])


def test_other_checkpoint_hash_is_refused(exported):
    machine, info = load_checkpoint(exported[0])
    other = dataclasses.replace(info, sha256='f' * 64)
    with pytest.raises(CheckpointError, match='checkpoint sha256'):
        create_backend('onnxruntime', (machine, other), exported[1])


def test_swapped_or_foreign_files_are_refused(exported, tmp_path):
    models = copy_models(exported, tmp_path)
    shutil.copy(models / 'tiny.transformer.onnx', models / 'tiny.pose2d.onnx')
    with pytest.raises(CheckpointError, match='part'):
        create_backend('onnxruntime', exported[0], models)
    models = copy_models(exported, tmp_path / 'plain')
    model = onnx.load(str(models / 'tiny.pose2d.onnx'))
    del model.metadata_props[:]
    onnx.save(model, str(models / 'tiny.pose2d.onnx'))
    with pytest.raises(CheckpointError, match='not an hpm_ros export'):
        create_backend('onnxruntime', exported[0], models)


def test_export_from_memory_keeps_machine_mode(tiny_config, tmp_path):
    machine = build_machine(tiny_config).train()
    paths = export_onnx(machine, tmp_path)
    assert machine.training and machine.pose2d.training
    props = {p.key: p.value for p in onnx.load(str(paths['pose2d'])).metadata_props}
    assert props['hpm_ros.checkpoint_sha256'] == ''
    backend = create_backend('onnxruntime', machine.eval(), tmp_path)
    images = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        expected = machine.pose2d(images)[2]
    torch.testing.assert_close(backend.run_pose2d(images)[2], expected, rtol=1e-4, atol=1e-6)


def test_export_main_validates_arguments(exported, tmp_path):
    with pytest.raises(ValueError, match='formats'):
        export_main(exported[0], tmp_path, formats='onnx,bogus')
    with pytest.raises(ValueError, match='precision'):
        export_main(exported[0], tmp_path, formats='onnx', precision='int4')
    try:
        import_tensorrt()
        gpu = torch.cuda.is_available()
    except BackendUnavailableError:
        gpu = False
    if not gpu:
        with pytest.raises(BackendUnavailableError, match='tensorrt|GPU'):
            export_main(exported[0], tmp_path, formats=['onnx', 'tensorrt'])
        assert not list(tmp_path.iterdir())


def test_a_keypoints_model_exports_only_its_transformer_and_runs_on_onnxruntime(tmp_path):
    torch.manual_seed(2)
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_kp', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32)
    machine = build_machine(config)
    checkpoint = save_checkpoint(tmp_path / 'tiny_kp.pt', machine)
    paths = export_main(checkpoint, tmp_path / 'models', formats='onnx')
    assert paths[0] == tmp_path / 'models' / 'tiny_kp.transformer.onnx'
    assert len(paths) == 2 and '.correction.' in paths[1].name
    loaded = load_checkpoint(checkpoint)
    backend = create_backend('onnxruntime', loaded, tmp_path / 'models')
    reference = create_backend('torch', loaded)
    keypoints = torch.rand(2, 17, 2)
    features = loaded[0].encode(keypoints, torch.ones(2, 17))[0]
    state = backend.initial_state(2)
    for _ in range(3):
        got, state_got = backend.run_transformer_step(features, state)
        want, state = reference.run_transformer_step(features, state)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(state_got[0], state[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(TypeError, match='keypoints model'):
        backend.run_pose2d(torch.rand(1, 3, 16, 16))
