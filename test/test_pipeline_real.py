"""The default pipeline (BlazePose + the shipped keypoints lifter + 'aligned') on real frames."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpm_ros.errors import CheckpointError
from hpm_ros.geometry import intrinsics_matrix, project_points
from hpm_ros.pipeline import PipelineConfig, PosePipeline
from hpm_ros.resources import default_model_path

FRAMES = Path(__file__).resolve().parent / 'data' / 'blazepose'
K = intrinsics_matrix(768.0, 768.0, 383.5, 215.5)


def load(name: str) -> np.ndarray:
    return np.asarray(Image.open(FRAMES / f'room_walk_{name}.jpg').convert('RGB'))


@pytest.fixture(scope='module')
def pipeline():
    return PosePipeline(PipelineConfig(threads=1))


def test_defaults_are_blazepose_and_the_keypoints_lifter(pipeline):
    assert pipeline.front_end.name == 'blazepose'
    assert pipeline.checkpoint.path == default_model_path('blazepose')
    assert pipeline.corrector.config == pipeline.lifter.corrector.config


def test_the_shipped_lifter_runs_on_its_shipped_onnx_export(pipeline):
    """'auto' finds models/keypoints.transformer.onnx, made from this very checkpoint (its
    SHA-256 is in the file), and it streams what torch computes."""
    import torch

    from hpm_ros.backends import create_backend

    assert pipeline.backend.name == 'onnxruntime', pipeline.backend.selection
    torch_backend = create_backend('torch', (pipeline.machine, pipeline.checkpoint))
    config = pipeline.machine.config
    generator = torch.Generator().manual_seed(0)
    states = [pipeline.backend.initial_state(2), torch_backend.initial_state(2)]
    for _ in range(5):
        features = torch.rand(2, config.feature_channels, config.feature_size,
                              config.feature_size, generator=generator)
        (ours, ours_state), (theirs, theirs_state) = (
            backend.run_transformer_step(features, state)
            for backend, state in zip((pipeline.backend, torch_backend), states))
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
        states = [ours_state, theirs_state]


def test_the_shipped_correction_graphs_cover_the_tuned_settings(pipeline):
    """Every tuned setting of the shipped lifter has its exported graph beside it (`hpm
    export`), and the one for BlazePose's 2D corrects as the torch correction does."""
    import torch

    from hpm_ros.correction import Corrector

    assert pipeline.lifter.correction_runtimes == dict.fromkeys(
        ('shared', 'h36m17', 'mpii16', 'coco17', 'blazepose33'), 'onnxruntime')
    exported = pipeline.lifter.corrector_for('blazepose33')
    generator = torch.Generator().manual_seed(1)
    pose3d = 0.5 + 0.05 * torch.randn(3, 17, 3, generator=generator)
    pose2d = torch.rand(3, 17, 2, generator=generator)
    got = exported.correct(pose3d, pose2d)
    want = Corrector(pipeline.machine, exported.config).correct(pose3d, pose2d)
    assert torch.equal(got.steps, want.steps) and torch.equal(got.discarded, want.discarded)
    torch.testing.assert_close(got.pose3d_mm, want.pose3d_mm, atol=1e-2, rtol=1e-4)


def test_a_real_person_is_lifted_and_placed(pipeline):
    pipeline.reset()
    result = pipeline.process(load('100'), stamp=0.0, frame_id='camera', intrinsics=K)
    assert result.valid and result.placement == 'reprojection'
    assert result.detections[0].joint_set == 'blazepose33'
    assert np.isfinite(result.joints3d).all() and np.isfinite(result.joints3d_camera).all()
    np.testing.assert_allclose(result.joints3d[0], 0.0, atol=1e-3)
    height_mm = np.ptp(result.joints3d[:, 1])
    assert 1000.0 < height_mm < 2200.0, f'a standing adult, got {height_mm:.0f} mm tall'
    assert 1.0 < result.joints3d_camera[0, 2] < 15.0, 'root in front of the camera'
    present = result.confidence > 0.5
    reprojected = project_points(result.joints3d_camera * 1000.0, K)
    error_px = np.linalg.norm(reprojected[present] - result.keypoints2d[present], axis=1)
    box = result.crop.size
    assert np.median(error_px) < 0.1 * box, 'the placed 3D pose reprojects onto the 2D pose'
    assert set(result.timings_ms) >= {'front_end', 'transformer', 'correction', 'placement',
                                      'total'}


def test_state_is_carried_while_tracking_and_reset_on_a_gap(pipeline):
    pipeline.reset()
    first = pipeline.process(load('090'), stamp=0.0, frame_id='camera')
    carried = pipeline.process(load('100'), stamp=0.1, frame_id='camera')
    pipeline.reset()
    fresh = pipeline.process(load('100'), stamp=0.1, frame_id='camera')
    assert first.valid and carried.valid and fresh.valid
    assert not np.allclose(carried.joints3d_raw, fresh.joints3d_raw), 'LSTM state carried'
    gap = pipeline.process(load('100'), stamp=5.0, frame_id='camera')
    assert gap.state_reset == 'time gap'


def test_tiny_and_black_images_give_no_person(pipeline):
    pipeline.reset()
    for image in (np.zeros((1, 1, 3), np.uint8), np.zeros((480, 640, 3), np.uint8)):
        result = pipeline.process(image, stamp=0.0, frame_id='camera')
        assert not result.valid and np.isnan(result.joints3d).all()
        assert (result.confidence == 0).all()


def test_the_image_model_is_refused_for_blazepose():
    with pytest.raises(CheckpointError, match="needs a 'keypoints' model"):
        PosePipeline(PipelineConfig(model_path=str(default_model_path('psi_r'))))


def test_the_correction_weighs_joints_by_confidence(pipeline, monkeypatch):
    """The 2D loss of the node's correction weighs each joint by BlazePose's confidence, as
    its settings were tuned, and leaves joints under joint_confidence out."""
    seen = []
    correct = pipeline.lifter.correct

    def spy(pose3d, pose2d, weights=None, joint_sets=None):
        seen.append(weights.clone())
        return correct(pose3d, pose2d, weights, joint_sets)

    monkeypatch.setattr(pipeline.lifter, 'correct', spy)
    pipeline.reset()
    result = pipeline.process(load('100'), stamp=0.0, frame_id='camera', intrinsics=K)
    assert result.valid and len(seen) == 1
    weights = seen[0][0].numpy()
    confidence = result.confidence
    kept = confidence >= pipeline.config.joint_confidence
    np.testing.assert_allclose(weights[kept], confidence[kept], rtol=1e-6)
    assert (weights[~kept] == 0).all() and ((weights > 0) & (weights < 1)).any()
