"""Synthetic person renderer: determinism, ground truth on the limbs, crop geometry."""
import dataclasses

import numpy as np
import pytest

from hpm_ros.crop import CropBox, crop_image
from hpm_ros.data.motion import generate_motion
from hpm_ros.data.synth_scene import look_at
from hpm_ros.data.synthetic import (RenderConfig, crop_intrinsics, crop_to_image, image_to_crop,
                                    render_clip, render_sequence)
from hpm_ros.geometry import project_points, world_to_camera
from hpm_ros.skeleton import H36M17

CROP = 96
NO_OCCLUDERS = RenderConfig(scene=dataclasses.replace(RenderConfig().scene,
                                                      occluder_probability=0.0))
LIMBS = [(p, c) for p, c in H36M17.bones if c in (2, 3, 5, 6, 12, 13, 15, 16)]


@pytest.fixture(scope='module')
def motion():
    return generate_motion('walk', 30, 30.0, np.random.default_rng(1))


def test_same_seed_same_clip_other_seed_other_clip(motion):
    first = render_clip(motion, 3, CROP, seed=4)
    again = render_clip(motion, 3, CROP, seed=4)
    for field in ('images', 'keypoints2d', 'joints3d_camera', 'boxes', 'masks', 'visible'):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    other = render_clip(motion, 3, CROP, seed=5)
    assert np.abs(first.images.astype(int) - other.images.astype(int)).mean() > 10
    assert first.images.shape == (3, CROP, CROP, 3) and first.images.dtype == np.uint8


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ground_truth_lands_on_the_rendered_limbs(motion, seed):
    clip = render_clip(motion, 2, CROP, seed=seed, config=NO_OCCLUDERS)
    empty = render_clip(motion, 2, CROP, seed=seed,
                        config=dataclasses.replace(NO_OCCLUDERS, draw_person=False))
    np.testing.assert_array_equal(clip.boxes, empty.boxes)
    # away from the person the two renders are identical, so the body is what differs
    np.testing.assert_array_equal(clip.images[~clip.masks], empty.images[~clip.masks])
    assert not empty.masks.any()
    for n in range(2):
        for parent, child in LIMBS:
            middle = 0.5 * (clip.keypoints2d[n, parent] + clip.keypoints2d[n, child])
            col, row = np.round(middle).astype(int)
            assert clip.masks[n, row, col], (n, H36M17.joint_names[child])
            assert np.any(clip.images[n, row, col] != empty.images[n, row, col])
    assert clip.visible.all()


def test_crop_geometry_is_consistent(motion):
    clip = render_clip(motion, 4, CROP, seed=7, start=10)
    world = motion[10:14]
    np.testing.assert_allclose(clip.joints3d_camera,
                               world_to_camera(world, clip.rotation, clip.translation), atol=0.05)
    np.testing.assert_allclose(clip.keypoints2d_image,
                               project_points(clip.joints3d_camera, clip.intrinsics), atol=1e-3)
    np.testing.assert_allclose(clip.joints3d_relative,
                               clip.joints3d_camera - clip.joints3d_camera[:, :1], atol=1e-3)
    assert np.allclose(clip.rotation @ clip.rotation.T, np.eye(3))
    for n in range(4):
        box = clip.boxes[n]
        np.testing.assert_allclose(image_to_crop(clip.keypoints2d_image[n], box, CROP),
                                   clip.keypoints2d[n], atol=1e-3)
        np.testing.assert_allclose(crop_to_image(clip.keypoints2d[n], box, CROP),
                                   clip.keypoints2d_image[n], atol=1e-2)
        np.testing.assert_allclose(
            project_points(clip.joints3d_camera[n], crop_intrinsics(clip.intrinsics, box, CROP)),
            clip.keypoints2d[n], atol=1e-3)
        # the hpm_ros.crop convention: normalised crop coordinates (crop px + 0.5) / S
        np.testing.assert_allclose(
            CropBox(*map(float, box)).to_image((clip.keypoints2d[n] + 0.5) / CROP),
            clip.keypoints2d_image[n], atol=1e-2)
        extent = np.ptp(clip.keypoints2d_image[n], axis=0).max()
        assert 1.25 * 0.9 - 1e-3 <= box[2] / extent <= 1.25 * 1.1 + 1e-3
    assert np.all((clip.keypoints2d >= 0) & (clip.keypoints2d <= CROP - 1))


def test_direct_crop_render_matches_cropping_the_full_frame(motion):
    clip = render_clip(motion, 2, CROP, seed=3, full_frames=True, config=NO_OCCLUDERS)
    width, height = clip.image_size
    assert clip.frames.shape == (2, height, width, 3)
    for n in range(2):
        box = CropBox(*map(float, clip.boxes[n]))
        aligned = crop_image(clip.frames[n], box, CROP).astype(int)
        shifted = crop_image(clip.frames[n], CropBox(box.x0 + 0.08 * box.size, box.y0,
                                                     box.size), CROP).astype(int)
        error = np.abs(aligned - clip.images[n]).mean()
        assert error < 0.6 * np.abs(shifted - clip.images[n]).mean()
        assert error < 12


def test_render_sequence_keeps_the_person_in_view(motion):
    sequence = render_sequence(motion[::6], image_size=(160, 120), seed=2, config=NO_OCCLUDERS)
    frames = len(motion[::6])
    assert sequence.frames.shape == (frames, 120, 160, 3)
    assert sequence.keypoints2d.shape == (frames, 17, 2)
    assert sequence.joints3d_camera.shape == (frames, 17, 3)
    assert np.all((sequence.keypoints2d > 0) & (sequence.keypoints2d < (159, 119)))
    assert sequence.visible.all()
    np.testing.assert_allclose(project_points(sequence.joints3d_camera, sequence.intrinsics),
                               sequence.keypoints2d, atol=1e-3)
    distances = np.linalg.norm(sequence.joints3d_camera[:, 0], axis=-1)
    assert distances.min() > 2000


def test_look_at_builds_an_optical_frame():
    rotation = look_at(np.array([0.0, -3000.0, 1000.0]), np.array([0.0, 0.0, 1000.0]))
    # looking along world +y: camera x is world +x, camera y (down) is world -z
    np.testing.assert_allclose(rotation, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)


def test_bad_arguments_raise(motion):
    with pytest.raises(ValueError):
        render_clip(motion[:, :16], 2, CROP, seed=0)
    with pytest.raises(ValueError):
        render_clip(motion, 31, CROP, seed=0)
    with pytest.raises(ValueError):
        render_clip(motion, 2, CROP, seed=0, start=29)
