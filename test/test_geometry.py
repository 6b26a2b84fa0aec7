"""Camera projection, frames, normalisation, Procrustes alignment and root placement."""
import json

import numpy as np
import pytest
import torch

from hpm_ros.geometry import (
    camera_to_world, intrinsics_matrix, NormalisationStats, place_root_by_reprojection,
    procrustes_align, project_points, root_relative, unproject_points, world_to_camera)

K = intrinsics_matrix(1000.0, 900.0, 320.0, 240.0)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def random_pose(rng: np.random.Generator, joints: int = 17) -> np.ndarray:
    """Root-relative pose [K, 3] in mm, roughly person-sized."""
    pose = rng.normal(scale=300.0, size=(joints, 3))
    return pose - pose[0]


def test_intrinsics_and_projection_by_hand():
    np.testing.assert_array_equal(K, [[1000, 0, 320], [0, 900, 240], [0, 0, 1]])
    pixels = project_points([[100.0, -50.0, 1000.0], [0.0, 0.0, 2.0]], K)
    np.testing.assert_allclose(pixels, [[420.0, 195.0], [320.0, 240.0]])
    with pytest.raises(ValueError):
        intrinsics_matrix(0.0, 1.0, 0.0, 0.0)


def test_projection_of_points_behind_the_camera_is_nan():
    pixels = project_points([[1.0, 2.0, 0.0], [1.0, 2.0, -3.0], [1.0, 2.0, 3.0]], K)
    assert np.isnan(pixels[:2]).all() and np.isfinite(pixels[2]).all()


def test_project_unproject_round_trip():
    rng = np.random.default_rng(1)
    points = rng.uniform([-1000, -1000, 500], [1000, 1000, 5000], size=(2, 5, 3))
    pixels = project_points(points, K)
    assert pixels.shape == (2, 5, 2)
    np.testing.assert_allclose(unproject_points(pixels, points[..., 2], K), points, rtol=1e-12)
    with pytest.raises(ValueError, match='depth'):
        unproject_points(pixels, points[..., 2][..., None], K)
    with pytest.raises(ValueError, match='intrinsics'):
        project_points(points, np.eye(4))
    with pytest.raises(ValueError, match='points'):
        project_points(points[..., :2], K)


def test_world_camera_round_trip_and_hand_value():
    quarter_turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    translation = np.array([10.0, 20.0, 30.0])
    camera = world_to_camera([[1.0, 0.0, 0.0]], quarter_turn, translation)
    np.testing.assert_allclose(camera, [[10.0, 21.0, 30.0]])
    rng = np.random.default_rng(2)
    rotation, points = random_rotation(rng), rng.normal(size=(4, 17, 3))
    back = camera_to_world(world_to_camera(points, rotation, translation), rotation, translation)
    np.testing.assert_allclose(back, points, atol=1e-12)
    with pytest.raises(ValueError):
        world_to_camera(points, rotation, translation[:2])


def test_root_relative_numpy_and_torch():
    poses = np.random.default_rng(3).normal(size=(5, 17, 3))
    relative = root_relative(poses, root=2)
    np.testing.assert_array_equal(relative[:, 2], 0.0)
    np.testing.assert_allclose(relative[:, 5] - relative[:, 7], poses[:, 5] - poses[:, 7])
    tensor = root_relative(torch.from_numpy(poses))
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_allclose(tensor.numpy(), root_relative(poses))
    with pytest.raises(ValueError):
        root_relative(poses, root=17)


def test_normalisation_fit_and_round_trip():
    poses = np.array([[[0.0, -10.0, 5.0]], [[4.0, 10.0, 5.0]], [[2.0, 0.0, 5.0]]])
    stats = NormalisationStats.fit(poses)
    assert stats.minimum.dtype == np.float32 and stats.minimum.shape == (1, 3)
    np.testing.assert_array_equal(stats.minimum, [[0.0, -10.0, 5.0]])
    np.testing.assert_array_equal(stats.maximum, [[4.0, 10.0, 5.0]])
    normalised = stats.normalise(poses)
    np.testing.assert_allclose(normalised[:, 0, :2], [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    np.testing.assert_array_equal(normalised[:, 0, 2], 0.0)
    np.testing.assert_allclose(stats.denormalise(normalised), poses, atol=1e-5)


def test_normalisation_torch_and_dict_round_trip():
    rng = np.random.default_rng(4)
    stats = NormalisationStats.fit(rng.normal(size=(50, 17, 3)) * 500)
    restored = NormalisationStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    np.testing.assert_array_equal(restored.minimum, stats.minimum)
    np.testing.assert_array_equal(restored.maximum, stats.maximum)
    poses = rng.normal(size=(2, 17, 3)).astype(np.float32) * 500
    tensor = stats.normalise(torch.from_numpy(poses))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor.numpy(), stats.normalise(poses), rtol=1e-6)
    np.testing.assert_allclose(stats.denormalise(tensor).numpy(), poses, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('data', [{'minimum': [[0.0]]}, {'minimum': [[0.0]], 'maximum': [[1.0]],
                                                         'mean': [[0.5]]},
                                  {'minimum': [[1.0]], 'maximum': [[0.0]]},
                                  {'minimum': [0.0], 'maximum': [1.0]}])
def test_normalisation_rejects_bad_dicts(data):
    with pytest.raises(ValueError):
        NormalisationStats.from_dict(data)


def test_procrustes_recovers_similarity_transform():
    rng = np.random.default_rng(5)
    target = rng.normal(size=(3, 17, 3))
    predicted = np.stack([
        scale * pose @ random_rotation(rng) + shift
        for pose, scale, shift in zip(target, (0.5, 1.0, 3.0), rng.normal(size=(3, 3)))])
    np.testing.assert_allclose(procrustes_align(predicted, target), target, atol=1e-9)
    rigid = procrustes_align(predicted, target, scale=False)
    np.testing.assert_allclose(np.linalg.norm(rigid[:, 1] - rigid[:, 0], axis=-1),
                               np.linalg.norm(predicted[:, 1] - predicted[:, 0], axis=-1))
    np.testing.assert_allclose(rigid[1], target[1], atol=1e-9)


def test_procrustes_never_reflects():
    rng = np.random.default_rng(6)
    target = rng.normal(size=(1, 17, 3))
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, target)
    assert np.abs(aligned - target).max() > 0.1
    centred = mirrored[0] - mirrored[0].mean(axis=0)
    transform = np.linalg.lstsq(centred, aligned[0] - aligned[0].mean(axis=0), rcond=None)[0]
    assert np.linalg.det(transform) > 0


def test_procrustes_mask_ignores_other_joints():
    rng = np.random.default_rng(7)
    target = rng.normal(size=(2, 17, 3))
    predicted = 2.0 * target @ random_rotation(rng) + 1.0
    predicted[:, 3] = np.nan
    predicted[:, 4] = 100.0
    mask = np.ones(17, dtype=bool)
    mask[[3, 4]] = False
    aligned = procrustes_align(predicted, target, mask=mask)
    np.testing.assert_allclose(aligned[:, mask], target[:, mask], atol=1e-9)
    sample_mask = np.zeros((2, 17), dtype=bool)
    sample_mask[0] = mask
    aligned = procrustes_align(predicted, target, mask=sample_mask)
    assert np.isnan(aligned[1]).all()
    with pytest.raises(ValueError, match='mask'):
        procrustes_align(predicted, target, mask=mask[:5])
    with pytest.raises(TypeError):
        procrustes_align(predicted, target, mask=mask.astype(int))


@pytest.mark.parametrize('intrinsics', [K, np.array([[800.0, 5.0, 300.0],
                                                     [0.0, 820.0, 250.0],
                                                     [0.0, 0.0, 1.0]])])
def test_root_placement_exact_without_noise(intrinsics):
    rng = np.random.default_rng(8)
    pose = random_pose(rng)
    translation = np.array([250.0, -120.0, 4200.0])
    keypoints = project_points(pose + translation, intrinsics)
    found = place_root_by_reprojection(pose, keypoints, intrinsics)
    np.testing.assert_allclose(found, translation, rtol=1e-9)


def test_root_placement_with_noise_and_weights():
    rng = np.random.default_rng(9)
    pose = random_pose(rng)
    translation = np.array([-300.0, 100.0, 3500.0])
    keypoints = project_points(pose + translation, K)
    noisy = keypoints + rng.normal(scale=1.0, size=keypoints.shape)
    found = place_root_by_reprojection(pose, noisy, K)
    assert np.linalg.norm(found - translation) < 30.0
    corrupted = keypoints.copy()
    corrupted[5] += 200.0
    weights = np.ones(17)
    weights[5] = 0.0
    found = place_root_by_reprojection(pose, corrupted, K, weights=weights)
    np.testing.assert_allclose(found, translation, rtol=1e-9)
    assert np.linalg.norm(place_root_by_reprojection(pose, corrupted, K) - translation) > 1.0


def test_root_placement_rejects_degenerate_input():
    rng = np.random.default_rng(10)
    pose = random_pose(rng)
    keypoints = project_points(pose + [0.0, 0.0, 3000.0], K)
    weights = np.zeros(17)
    weights[0] = 1.0
    with pytest.raises(ValueError, match='at least 2'):
        place_root_by_reprojection(pose, keypoints, K, weights=weights)
    with pytest.raises(ValueError, match='under-determined'):
        place_root_by_reprojection(np.zeros((17, 3)), np.full((17, 2), 100.0), K)
    behind = (pose + [0.0, 0.0, -3000.0]) @ K.T
    with pytest.raises(ValueError, match='behind'):
        place_root_by_reprojection(pose, behind[:, :2] / behind[:, 2:], K)
    with pytest.raises(ValueError, match='keypoints'):
        place_root_by_reprojection(pose, keypoints[:5], K)
