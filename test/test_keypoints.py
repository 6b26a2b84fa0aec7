"""Keypoints front end: joint-set mapping, detector noise statistics, boxes, encoder, training."""
import csv
import dataclasses

import numpy as np
import pytest
import torch

from hpm_ros.checkpoint import load_checkpoint, save_checkpoint
from hpm_ros.crop import box_from_keypoints
from hpm_ros.data.lifter_clips import build_lifter_bank
from hpm_ros.data.keypoint_clips import (KeypointClipBank, from_front_end,
                                         h36m_motions, input_joint_mask, keypoint_boxes,
                                         normalise_keypoints, to_front_end)
from hpm_ros.data.keypoint_noise import (EXTREMITIES, LIMBS, KeypointNoise, jitter_boxes,
                                         simulate_detections)
from hpm_ros.errors import ConfigError
from hpm_ros.model import CONFIGS, ModelConfig, build_machine
from hpm_ros.model.config import KEYPOINTS
from hpm_ros.model.keypoints import render_heatmaps
from hpm_ros.skeleton import BLAZEPOSE33, COCO17, H36M17, MPII16
from hpm_ros.training import loop
from hpm_ros.training.config import train_config_from_dict
from hpm_ros.training.stages import set_trainable


@pytest.fixture
def tiny_keypoints(monkeypatch):
    """A keypoints config small enough for sub-second tests, registered as 'tiny_kp'."""
    config = dataclasses.replace(
        KEYPOINTS, name='tiny_kp', input_size=16, head_hidden=16, transformer_channels=8,
        transformer_fc=32, lstm_hidden=32, regression_hidden=32, projection_hidden=32,
        keypoint_channels=4)
    monkeypatch.setitem(CONFIGS, 'tiny_kp', config)
    return config


def h36m_points(frames: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(50, 600, (frames, 17, 2))


@pytest.mark.parametrize('joint_set, pairs, missing', [
    ('h36m17', [('Hip', 'Hip'), ('Neck', 'Neck'), ('RWrist', 'RWrist')], []),
    ('mpii16', [('Hip', 'pelvis'), ('Thorax', 'thorax'), ('Neck', 'upper_neck'),
                ('Head', 'head_top'), ('RFoot', 'r_ankle'), ('LWrist', 'l_wrist')], ['Spine']),
    ('coco17', [('LShoulder', 'left_shoulder'), ('RFoot', 'right_ankle'),
                ('LHip', 'left_hip'), ('RWrist', 'right_wrist')],
     ['Hip', 'Spine', 'Thorax', 'Neck', 'Head']),
    ('blazepose33', [('LShoulder', 'left_shoulder'), ('RFoot', 'right_ankle'),
                     ('LHip', 'left_hip'), ('RWrist', 'right_wrist')],
     ['Hip', 'Spine', 'Thorax', 'Neck', 'Head']),
])
def test_each_joint_set_maps_onto_h36m(joint_set, pairs, missing):
    source = {'h36m17': H36M17, 'mpii16': MPII16, 'coco17': COCO17,
              'blazepose33': BLAZEPOSE33}[joint_set]
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 500, (2, source.num_joints, 2))
    scores = rng.uniform(0.1, 1.0, (2, source.num_joints))
    mapped, confidence = to_front_end(points, scores, joint_set)
    assert mapped.shape == (2, 17, 2) and confidence.shape == (2, 17)
    for h36m_name, source_name in pairs:
        h, s = H36M17.index(h36m_name), source.index(source_name)
        np.testing.assert_array_equal(mapped[:, h], points[:, s])
        np.testing.assert_array_equal(confidence[:, h], scores[:, s])
    gone = [H36M17.index(name) for name in missing]
    assert (confidence[:, gone] == 0).all() and np.isfinite(mapped).all()
    assert input_joint_mask(joint_set).sum() == 17 - len(missing)
    assert (confidence > 0).sum(axis=1).tolist() == [17 - len(missing)] * 2


def test_coco_face_joints_are_ignored_and_layouts_round_trip():
    truth, scores = h36m_points(), np.random.default_rng(2).uniform(0.3, 1.0, (3, 17))
    for joint_set in ('h36m17', 'mpii16', 'coco17'):
        points, weights = from_front_end(truth, scores, joint_set)
        back, back_weights = to_front_end(points, weights, joint_set)
        mask = input_joint_mask(joint_set)
        np.testing.assert_allclose(back[:, mask], truth[:, mask], rtol=1e-6)
        np.testing.assert_allclose(back_weights[:, mask], scores[:, mask], rtol=1e-6)
    points, weights = from_front_end(truth, scores, 'coco17')
    face = [COCO17.index(n) for n in ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')]
    assert (weights[:, face] == 0).all() and (points[:, face] == 0).all()
    points[:, face] = 1e4
    np.testing.assert_array_equal(to_front_end(points, weights, 'coco17')[0],
                                  to_front_end(from_front_end(truth, scores, 'coco17')[0],
                                               weights, 'coco17')[0])
    with pytest.raises(ValueError, match='unknown input joint set'):
        input_joint_mask('openpose25')


def test_noise_statistics_match_their_parameters():
    noise = KeypointNoise(jitter=0.02, extremity_factor=2.0, miss_rate=0.1, miss_offset=0.3,
                          miss_confidence=(0.0, 0.2), hit_confidence=(0.6, 1.0), swap_rate=0.0)
    rng = np.random.default_rng(0)
    base = h36m_points(1, 3)[0]
    exact = np.repeat(base[None], 20000, axis=0)
    size = float(np.ptp(base, axis=0).max())
    detections = simulate_detections(exact, rng, noise, image_size=(2000, 2000))
    error = (detections.keypoints - exact) / size
    hit = ~detections.missed
    ordinary = [j for j in range(17) if j not in EXTREMITIES]
    for joints, expected in ((ordinary, 0.02), (list(EXTREMITIES), 0.04)):
        sample = error[:, joints][hit[:, joints]]
        assert sample.std(axis=0) == pytest.approx([expected] * 2, rel=0.03)
        assert np.abs(sample.mean(axis=0)).max() < 0.002
    assert detections.missed.mean() == pytest.approx(0.1, abs=0.005)
    assert error[detections.missed].std(axis=0) == pytest.approx([0.3, 0.3], rel=0.03)
    hits, misses = detections.confidence[hit], detections.confidence[detections.missed]
    assert hits.min() >= 0.6 and hits.max() <= 1.0 and hits.mean() == pytest.approx(0.8, abs=0.01)
    assert misses.max() <= 0.2 and misses.mean() == pytest.approx(0.1, abs=0.01)
    assert not detections.outside.any() and not detections.swapped.any()
    np.testing.assert_allclose(detections.person_size, size)


def test_swaps_mirror_one_limb_at_the_swap_rate():
    noise = KeypointNoise(jitter=0.0, miss_rate=0.0, swap_rate=0.2)
    exact = np.repeat(h36m_points(1, 4), 5000, axis=0)
    detections = simulate_detections(exact, np.random.default_rng(5), noise)
    assert detections.swapped.mean() == pytest.approx(0.2, abs=0.015)
    limbs = {name: np.array(pairs).T.reshape(-1) for name, pairs in LIMBS.items()}
    mirrored = {name: np.array(pairs)[:, ::-1].T.reshape(-1) for name, pairs in LIMBS.items()}
    kinds = []
    for frame in range(len(exact)):
        moved = np.flatnonzero((np.abs(detections.keypoints[frame] - exact[frame]) > 1e-3).any(1))
        if not detections.swapped[frame]:
            assert len(moved) == 0
            continue
        kind = [n for n, joints in limbs.items() if sorted(joints) == sorted(moved)]
        assert len(kind) == 1
        np.testing.assert_allclose(detections.keypoints[frame, limbs[kind[0]]],
                                   exact[frame, mirrored[kind[0]]], rtol=1e-6)
        kinds.append(kind[0])
    assert kinds.count('arm') / len(kinds) == pytest.approx(0.5, abs=0.06)


def test_outside_joints_get_low_confidence_and_box_jitter_statistics():
    noise = KeypointNoise(miss_rate=0.0, swap_rate=0.0, miss_confidence=(0.0, 0.1))
    exact = h36m_points(400, 6)
    exact[:, 3] = (-30.0, 200.0)
    detections = simulate_detections(exact, np.random.default_rng(7), noise, (640, 480))
    assert detections.outside[:, 3].all() and detections.confidence[:, 3].max() <= 0.1
    assert detections.confidence[~detections.outside].min() >= 0.5
    boxes = np.tile([100.0, 50.0, 400.0], (20000, 1))
    moved = jitter_boxes(boxes, np.random.default_rng(8),
                         KeypointNoise(box_shift=0.05, box_scale=0.1))
    centre_shift = (moved[:, :2] + moved[:, 2:] / 2) - (boxes[:, :2] + boxes[:, 2:] / 2)
    assert centre_shift.std(axis=0) == pytest.approx([20.0, 20.0], rel=0.03)
    assert np.log(moved[:, 2] / 400.0).std() == pytest.approx(0.1, rel=0.03)


def test_noise_config_validation():
    assert KeypointNoise.from_dict({'jitter': 0.02}).jitter == 0.02
    with pytest.raises(ConfigError, match='unknown keypoint noise settings'):
        KeypointNoise.from_dict({'jiter': 0.02})
    with pytest.raises(ConfigError, match='miss_rate'):
        KeypointNoise(miss_rate=1.5)
    with pytest.raises(ConfigError, match='hit_confidence'):
        KeypointNoise(hit_confidence=(0.9, 0.5))
    clean = KeypointNoise().without_errors()
    assert clean.jitter == clean.miss_rate == clean.swap_rate == clean.box_shift == 0


def test_boxes_match_the_pipeline_crop_box():
    rng = np.random.default_rng(9)
    points = rng.uniform(0, 800, (50, 17, 2))
    scores = rng.uniform(0, 1, (50, 17))
    scores[0] = 0.1
    scores[1, 2:] = 0.0
    scores[2, 1:] = 0.0
    boxes = keypoint_boxes(points, scores)
    for frame in range(50):
        box = box_from_keypoints(points[frame], scores[frame], 1.25, 0.2) or \
            box_from_keypoints(points[frame], scores[frame], 1.25, 1e-12)
        if frame == 2:
            assert box is None and np.isnan(boxes[frame]).all()
            continue
        np.testing.assert_allclose(boxes[frame], (box.x0, box.y0, box.size), rtol=1e-9)
        np.testing.assert_allclose(normalise_keypoints(points[frame], boxes[frame]),
                                   box.to_crop(points[frame]), rtol=1e-9)


def test_heatmaps_peak_at_the_joint_with_its_confidence():
    maps = render_heatmaps(torch.tensor([[[0.5625, 0.3125], [0.2, 0.2]]]),
                           torch.tensor([[0.7, 0.0]]), 8, 0.5)
    assert maps.shape == (1, 2, 8, 8)
    assert divmod(int(maps[0, 0].flatten().argmax()), 8) == (2, 4)
    assert float(maps[0, 0].max()) == pytest.approx(0.7) and float(maps[0, 1].abs().max()) == 0


def test_keypoint_machine_streams_like_clips_and_round_trips(tiny_keypoints, tmp_path):
    machine = build_machine(tiny_keypoints)
    keypoints = torch.rand(2, 4, 17, 2) * 0.6 + 0.2
    confidence = torch.rand(2, 4, 17)
    with torch.no_grad():
        clip, _ = machine(keypoints, confidence=confidence)
        state = None
        for t in range(4):
            frame, state = machine.step(keypoints[:, t], state, confidence[:, t])
            torch.testing.assert_close(frame.regressed3d, clip.regressed3d[:, t])
    assert clip.features.shape == (2, 4, 17 + 4, 16, 16)
    torch.testing.assert_close(clip.pose2d, keypoints)
    path = save_checkpoint(tmp_path / 'kp.pt', machine)
    loaded, info = load_checkpoint(path)
    assert info.config.front_end == 'keypoints' and info.config == tiny_keypoints
    with torch.no_grad():
        torch.testing.assert_close(loaded(keypoints, confidence=confidence)[0].regressed3d,
                                   clip.regressed3d)
    with pytest.raises(ValueError, match='keypoints must be'):
        machine.step(torch.rand(2, 3, 16, 16))


def test_configs_name_their_front_end(tiny_config):
    old = tiny_config.to_dict()
    del old['front_end'], old['keypoint_channels'], old['keypoint_sigma']
    assert ModelConfig.from_dict(old).front_end == 'image'
    assert KEYPOINTS.feature_channels == 17 + KEYPOINTS.keypoint_channels
    assert KEYPOINTS.feature_size == KEYPOINTS.input_size
    with pytest.raises(ConfigError, match='front_end must be one of'):
        dataclasses.replace(tiny_config, front_end='depth')
    with pytest.raises(ConfigError, match='trunk must be empty'):
        dataclasses.replace(tiny_config, front_end='keypoints')
    with pytest.raises(ConfigError, match='needs a trunk'):
        dataclasses.replace(KEYPOINTS, front_end='image')
    image = build_machine(tiny_config)
    with pytest.raises(ValueError, match='keypoints front end only'):
        image.encode(torch.rand(1, 3, 128, 128), torch.ones(1, 17))


@pytest.mark.parametrize('encoding', ['crop', 'rays'])
def test_keypoint_bank_simulates_each_input_joint_set(encoding):
    bank = build_lifter_bank(40, 4, seed=1, encoding=encoding, progress=False)
    assert bank.keypoints.shape == (40, 4, 17, 2) and bank.pose3d.shape == (40, 4, 17, 3)
    for joint_set in ('h36m17', 'mpii16', 'coco17', 'blazepose33'):
        chosen = bank.joint_sets == joint_set
        assert chosen.any()
        present = (bank.confidence[chosen] > 0).all(axis=(0, 1))
        np.testing.assert_array_equal(present, input_joint_mask(joint_set))
    assert np.abs(bank.pose3d[:, :, 0]).max() == 0.0
    error = np.abs(bank.keypoints - bank.pose2d)[bank.confidence >= 0.5]
    assert 0.001 < np.median(error) < 0.05
    again = build_lifter_bank(40, 4, seed=1, encoding=encoding, progress=False)
    np.testing.assert_array_equal(again.keypoints, bank.keypoints)
    with pytest.raises(ValueError, match='one entry per clip'):
        KeypointClipBank(bank.keypoints, bank.confidence, bank.pose2d, bank.pose3d,
                         bank.has_3d[:3], bank.actions, bank.joint_sets)


def test_human36m_3d_joins_the_motion(tmp_path):
    rng = np.random.default_rng(0)
    walk = rng.normal(0, 0.3, (40, 32, 3)) + (0, 0, 0.9)
    np.savez_compressed(tmp_path / 'data_3d_h36m.npz',
                        positions_3d={'S1': {'Walking 1': walk}, 'S9': {'Walking 1': walk}})
    motions = h36m_motions(tmp_path / 'data_3d_h36m.npz', ['S1'], fps=25.0)
    assert [label for label, _ in motions] == ['S1/Walking 1']
    assert motions[0][1].shape == (20, 17, 3)
    np.testing.assert_allclose(motions[0][1][1, 0], walk[2, 0] * 1000, rtol=1e-5)
    bank = build_lifter_bank(6, 4, mocap_fraction=1.0, extra_motions=motions, progress=False)
    assert set(bank.actions) == {'mocap'}


def test_keypoint_training_runs_its_stages(tiny_keypoints, tmp_path):
    bank = build_lifter_bank(24, 3, seed=2, progress=False)
    steps = {'transformer': 40, 'projector': 30, 'finetune': 20}
    config = train_config_from_dict({
        'model': 'tiny_kp', 'output_dir': str(tmp_path / 'run'),
        'stages': {name: {'steps': n, 'lr': 3e-3, 'batch_size': 4} for name, n in steps.items()},
    })
    final = loop.train(config, bank, progress=False)
    rows = list(csv.DictReader(open(tmp_path / 'run' / loop.LOG_NAME)))
    for stage, count in steps.items():
        losses = [float(r['total']) for r in rows if r['stage'] == stage]
        assert len(losses) == count
        assert np.mean(losses[-5:]) < np.mean(losses[:5]), stage
    assert all(r['pose2d'] == '' for r in rows)
    machine, info = load_checkpoint(final)
    assert info.config.front_end == 'keypoints'
    assert info.metadata['stage'] == 'final'
    trainable = set_trainable(machine, 'transformer')
    assert any(p is machine.pose2d.code[0].weight for p in trainable)
    with pytest.raises(ValueError, match='leave the stage out'):
        set_trainable(machine, 'pose2d')
