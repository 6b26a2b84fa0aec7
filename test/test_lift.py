"""`hpm lift`: the detector-output interface, its errors, and the shipped keypoints model."""
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.cli import main as hpm
from hpm_ros.data.detector_models import DETECTOR_MODELS, DetectorModel
from hpm_ros.data.keypoint_clips import from_front_end
from hpm_ros.data.keypoint_noise import KeypointNoise
from hpm_ros.data.lifter_clips import held_out_sequences
from hpm_ros.errors import CheckpointError
from hpm_ros.geometry import project_points
from hpm_ros.keypoint_eval import detector_input, lift_check_case
from hpm_ros.lift import (KeypointLifter, LiftInput, LiftInputError, _streams, _windows,
                          keypoints_model_path, read_lift_input)
from hpm_ros.metrics import mpjpe
from hpm_ros.model import build_machine
from hpm_ros.model.config import KEYPOINTS
from hpm_ros.skeleton import H36M17

CARD = Path(__file__).resolve().parents[1] / 'models' / 'KEYPOINTS_MODEL_CARD.md'


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A random keypoints model (weights do not matter for the interface tests)."""
    torch.manual_seed(0)
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_kp', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32)
    path = tmp_path_factory.mktemp('model') / 'tiny_kp.pt'
    return save_checkpoint(path, build_machine(config), training={'data': {
        'fps': 25.0, 'clip_length': 4}})


@pytest.fixture(scope='module')
def sequence():
    return held_out_sequences(None, 1, 12, seed=5)[0]


def write_input(path, data: LiftInput, **changes) -> Path:
    arrays = {'keypoints2d': data.keypoints2d.astype(np.float32),
              'joint_set': np.array(data.joint_set), 'image_size': np.array(data.image_size),
              'confidence': data.confidence.astype(np.float32)}
    if data.intrinsics is not None:
        arrays['intrinsics'] = data.intrinsics
    if data.fps is not None:
        arrays['fps'] = np.array(data.fps)
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return Path(path)


def test_lift_cli_writes_every_output(tiny_model, sequence, tmp_path):
    data = detector_input(sequence, DetectorModel('coco', 'coco17', 'none', KeypointNoise(
        swap_rate=0.0)), seed=1)
    source = write_input(tmp_path / 'in.npz', data)
    assert hpm(['lift', '--input', str(source), '--output', str(tmp_path / 'out.npz'),
                '--model', str(tiny_model)]) == 0
    with np.load(tmp_path / 'out.npz') as out:
        assert out['joints3d'].shape == out['joints3d_raw'].shape == (12, 17, 3)
        assert out['joints3d'].dtype == np.float32
        assert out['joints3d_camera'].shape == (12, 17, 3)
        assert out['correction_applied'].dtype == bool and out['correction_applied'].shape == (12,)
        assert list(out['joint_names']) == list(H36M17.joint_names)
        assert out['valid'].all() and np.isfinite(out['joints3d']).all()
        np.testing.assert_array_equal(out['joints3d'][:, 0], 0.0)
        camera, relative = out['joints3d_camera'] * 1000.0, out['joints3d']
    placed = np.isfinite(camera).all(axis=(1, 2))
    assert (np.isnan(camera[~placed]).all()), 'a frame is placed whole or not at all'
    np.testing.assert_allclose(camera[placed] - camera[placed, :1], relative[placed], atol=1e-2)


def test_root_placement_recovers_the_camera_frame(tiny_model, sequence):
    lifter = KeypointLifter(tiny_model)
    truth = sequence.joints3d.astype(np.float64)
    keypoints = project_points(truth, sequence.intrinsics)
    relative = (truth - truth[:, :1]).astype(np.float32)
    placed = lifter.place(relative, keypoints, np.ones((12, 17)), np.ones(12, bool),
                          sequence.intrinsics)
    np.testing.assert_allclose(placed * 1000.0, truth, atol=0.5)


def test_one_frame_and_frames_without_joints(tiny_model, sequence):
    lifter = KeypointLifter(tiny_model, correction='off')
    data = detector_input(sequence, DETECTOR_MODELS['mocap'], seed=2)
    single = lifter.lift(LiftInput(data.keypoints2d[:1], 'h36m17', data.image_size))
    assert single['joints3d'].shape == (1, 17, 3) and single['valid'].all()
    confidence = data.confidence.copy()
    confidence[4] = 0.0
    out = lifter.lift(dataclasses.replace(data, confidence=confidence))
    assert not out['valid'][4] and np.isnan(out['joints3d'][4]).all()
    assert out['valid'].sum() == 11 and not out['correction_applied'].any()
    np.testing.assert_array_equal(out['joints3d'], out['joints3d_raw'])


def test_window_and_stream_agree_within_one_window(tiny_model, sequence):
    data = detector_input(sequence, DETECTOR_MODELS['mpii'], seed=3)
    short = dataclasses.replace(data, keypoints2d=data.keypoints2d[:4],
                                confidence=data.confidence[:4])
    window = KeypointLifter(tiny_model, temporal='window').lift(short)
    stream = KeypointLifter(tiny_model, temporal='stream').lift(short)
    np.testing.assert_allclose(window['joints3d_raw'], stream['joints3d_raw'], atol=1e-3)
    longer = KeypointLifter(tiny_model, temporal='window').lift(data)
    np.testing.assert_allclose(longer['joints3d_raw'][:4], window['joints3d_raw'], atol=1e-3)
    assert not np.allclose(longer['joints3d_raw'][4:], KeypointLifter(
        tiny_model, temporal='stream').lift(data)['joints3d_raw'][4:], atol=1e-3)


def test_windows_and_streams_follow_the_frame_rate(tiny_model):
    valid = np.array([1, 1, 1, 1, 1, 0, 1, 1], bool)
    groups = {len(g[0]): g.tolist() for g in _windows(valid, 3, 2)}
    assert groups == {1: [[0], [1], [6], [7]], 2: [[0, 2], [1, 3]], 3: [[0, 2, 4]]}
    assert [s.tolist() for s in _streams(valid, 2)] == [[0, 2, 4], [1, 3], [6], [7]]
    lifter = KeypointLifter(tiny_model)
    assert (lifter.window, lifter.stride(None), lifter.stride(50.0), lifter.stride(30.0)) == (
        4, 1, 2, 1)


@pytest.mark.parametrize('changes, message', [
    ({'keypoints2d': None}, r"lacks \['keypoints2d'\]"),
    ({'image_size': None}, r"lacks \['image_size'\]"),
    ({'joint_set': np.array('openpose25')}, 'unknown joint_set'),
    ({'joint_set': np.array(['coco17', 'mpii16'])}, 'joint_set must be one string'),
    ({'keypoints2d': np.zeros((3, 17, 3), np.float32)},
     r'keypoints2d must have shape \[N, 17, 2\]'),
    ({'keypoints2d': np.zeros((3, 16, 2), np.float32)}, 'has 16 joints per frame but joint set'),
    ({'keypoints2d': np.zeros((0, 17, 2), np.float32)}, 'no frames'),
    ({'confidence': np.ones((3, 17), np.float32)}, r'confidence must have shape \[12, 17\]'),
    ({'confidence': -np.ones((12, 17), np.float32)}, 'confidence must be >= 0'),
    ({'image_size': np.array([640.0])}, r'image_size must have shape \[2\]'),
    ({'image_size': np.array([640.0, -1.0])}, 'image_size must be positive'),
    ({'intrinsics': np.eye(2)}, r'intrinsics must have shape \[3, 3\]'),
    ({'intrinsics': np.array([[500.0, 0, 5000], [0, 500, 240], [0, 0, 1]])},
     'principal point .* outside'),
    ({'fps': np.array(-3.0)}, 'fps must be positive'),
    ({'confidences': np.ones((12, 17))}, r"unknown keys \['confidences'\]"),
])
def test_bad_inputs_name_the_problem(sequence, tmp_path, changes, message):
    data = detector_input(sequence, DETECTOR_MODELS['coco'], seed=4)
    path = write_input(tmp_path / 'bad.npz', data, **changes)
    with pytest.raises(LiftInputError, match=message):
        read_lift_input(path)


def test_non_finite_and_normalised_inputs_are_refused(sequence, tmp_path, capsys):
    data = detector_input(sequence, DETECTOR_MODELS['coco'], seed=4)
    keypoints = data.keypoints2d.copy()
    keypoints[2, 5, 1] = np.nan
    with pytest.raises(LiftInputError, match=r'keypoints2d has 1 NaN .*\[2, 5, 1\]'):
        LiftInput(keypoints, 'coco17', data.image_size, data.confidence)
    confidence = data.confidence.copy()
    confidence[0, 0] = np.inf
    with pytest.raises(LiftInputError, match='confidence has 1 NaN or infinite'):
        LiftInput(data.keypoints2d, 'coco17', data.image_size, confidence)
    with pytest.raises(LiftInputError, match='look like normalised coordinates'):
        LiftInput(data.keypoints2d / 1000.0, 'coco17', data.image_size, data.confidence)
    with pytest.raises(LiftInputError, match='far outside'):
        LiftInput(data.keypoints2d * 10.0, 'coco17', (64, 48), data.confidence)
    path = write_input(tmp_path / 'nan.npz', data, keypoints2d=keypoints)
    assert hpm(['lift', '--input', str(path), '--output', str(tmp_path / 'o.npz')]) == 2
    assert 'hpm lift: error: keypoints2d has 1 NaN' in capsys.readouterr().err


def test_image_models_are_refused(tiny_config, tmp_path):
    path = save_checkpoint(tmp_path / 'image.pt', build_machine(tiny_config))
    with pytest.raises(CheckpointError, match="'image' front end"):
        KeypointLifter(path)


def test_shipped_model_reproduces_its_model_card(tmp_path):
    """`hpm lift` on the card's fixed held-out case gives the MPJPE the card states."""
    card = CARD.read_text()
    stated = {key: float(re.search(rf'{key} MPJPE \*\*([\d.]+) mm\*\*', card).group(1))
              for key in ('joints3d', 'joints3d_raw')}
    data, truth = lift_check_case()
    source = write_input(tmp_path / 'check.npz', data)
    assert hpm(['lift', '--input', str(source), '--output', str(tmp_path / 'check_out.npz'),
                '--model', str(keypoints_model_path())]) == 0
    with np.load(tmp_path / 'check_out.npz') as out:
        for key, value in stated.items():
            assert mpjpe(out[key], truth).mean() == pytest.approx(value, abs=0.05), key
        camera = out['joints3d_camera'].astype(np.float64) * 1000.0
    confident = data.confidence >= 0.2
    pixels = from_front_end(project_points(camera, data.intrinsics),
                            np.ones((len(camera), 17)), 'coco17')[0]
    residual = np.linalg.norm(pixels - data.keypoints2d, axis=-1)[confident]
    assert np.median(residual) < 0.05 * np.ptp(data.keypoints2d[confident], axis=0).max()


def test_all_zero_confidence_empty_files_and_npy_give_clear_answers(
        tiny_model, sequence, tmp_path, capsys):
    data = detector_input(sequence, DETECTOR_MODELS['coco'], seed=4)
    zero = write_input(tmp_path / 'zero.npz', data,
                       confidence=np.zeros_like(data.confidence, np.float32))
    assert hpm(['lift', '--input', str(zero), '--output', str(tmp_path / 'o.npz'),
                '--model', str(tiny_model)]) == 0
    with np.load(tmp_path / 'o.npz') as output:
        assert not output['valid'].any() and np.isnan(output['joints3d']).all()
    assert 'no pose' in capsys.readouterr().out
    (tmp_path / 'empty.npz').write_bytes(b'')
    np.save(tmp_path / 'array.npy', data.keypoints2d)
    for name, message in (('empty.npz', 'not a readable npz file'),
                          ('array.npy', 'single array')):
        assert hpm(['lift', '--input', str(tmp_path / name), '--output',
                    str(tmp_path / 'o.npz')]) == 2
        error = capsys.readouterr().err
        assert message in error and 'Traceback' not in error


def test_info_describes_keypoints_and_image_models(tmp_path, capsys, tiny_config):
    """`hpm info` counts a keypoints model's joint-map front end (not an image) and lists the
    tuned correction per joint set."""
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_info', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32)
    tuned = {'preset': 'aligned', 'overrides': {'lr': 0.01}, 'grid': [{}, {}],
             'per_joint_set': {'coco17': {'detector': 'coco', 'overrides': {'max_steps': 2},
                                          'uncorrected_mm': 80.0, 'corrected_mm': 77.5}}}
    keypoints = save_checkpoint(tmp_path / 'kp.pt', build_machine(config), correction=tuned)
    image = save_checkpoint(tmp_path / 'image.pt', build_machine(tiny_config))
    for path in (keypoints, image):
        assert hpm(['info', '--model', str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count('MACs/frame') == 2
    assert "coco17: {'max_steps': 2} (coco bank 80.0 -> 77.5 mm)" in out
    assert "shared {'lr': 0.01}, 2 settings tried" in out


def test_rays_models_and_stored_correction_settings(tmp_path, sequence):
    """A 'rays' checkpoint lifts into the camera frame; a checkpoint's stored correction
    settings are what `hpm lift` uses for that preset unless knobs are given, those of the
    input's joint set when it has its own."""
    torch.manual_seed(1)
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_rays', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32,
        input_encoding='rays')
    stored = {'preset': 'aligned', 'overrides': {'lr': 0.01, 'max_steps': 2},
              'per_joint_set': {'coco17': {'overrides': {'max_steps': 0}}}}
    path = save_checkpoint(tmp_path / 'rays.pt', build_machine(config), correction=stored,
                           training={'data': {'fps': 25.0, 'clip_length': 4}})
    lifter = KeypointLifter(path)
    assert (lifter.corrector.config.lr, lifter.corrector.config.max_steps) == (0.01, 2)
    assert lifter.core.corrector_for('coco17').config.max_steps == 0
    assert lifter.core.corrector_for('blazepose33') is lifter.corrector
    knobs = KeypointLifter(path, correction_overrides={'tau_mm': 30.0})
    assert (knobs.corrector.config.lr, knobs.corrector.config.max_steps) == (0.02, 4)
    assert knobs.core.corrector_for('coco17') is knobs.corrector
    coco = lifter.lift(detector_input(sequence, DETECTOR_MODELS['coco'], seed=5))
    assert not coco['correction_applied'].any()
    np.testing.assert_array_equal(coco['joints3d'], coco['joints3d_raw'])
    data = detector_input(sequence, DETECTOR_MODELS['blazepose'], seed=5)
    output = lifter.lift(data)
    assert lifter.last_rotations.shape == (12, 3, 3)
    assert output['joints3d_camera'].shape == (12, 17, 3)
    _, _, _, pose3d, pose2d, weights = lifter.correction_inputs(data)
    uncorrected = lifter.corrector.correct(pose3d, pose2d, weights).uncorrected
    rows = ['coco17', 'blazepose33'] * 6    # people of one frame in two layouts
    mixed = lifter.core.correct(pose3d, pose2d, weights, rows)
    for joint_set in set(rows):
        index = torch.tensor([i for i, name in enumerate(rows) if name == joint_set])
        alone = lifter.core.corrector_for(joint_set).correct(pose3d[index], pose2d[index],
                                                             weights[index])
        torch.testing.assert_close(mixed.pose3d[index], alone.pose3d)
        assert torch.equal(mixed.steps[index], alone.steps)
    assert (mixed.steps[0::2] == 0).all() and (mixed.steps[1::2] > 0).all()
    virtual = lifter.machine.denormalise_3d(uncorrected).numpy()
    virtual = virtual - virtual[:, :1]
    rotations = lifter.last_rotations
    np.testing.assert_allclose(np.einsum('tij,tkj->tki', rotations, output['joints3d_raw']),
                               virtual, atol=1e-3)
    assert not np.allclose(output['joints3d_raw'], virtual, atol=1.0)
