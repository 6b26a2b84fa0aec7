"""camera_calibration_parsers YAML files and the nominal camera of `hpm camera`."""
import math

import numpy as np
import pytest

from hpm_ros.calibration import NOMINAL_HFOV_DEG, load_calibration, nominal_calibration
from hpm_ros.errors import CalibrationError

# As ROS's camera_calibration writes it (ost.yaml).
OST_YAML = """image_width: 640
image_height: 480
camera_name: head_camera
camera_matrix:
  rows: 3
  cols: 3
  data: [612.1, 0, 318.4, 0, 611.7, 243.9, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.11, -0.25, 0.001, -0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [615.0, 0, 317.9, 0, 0, 614.2, 244.1, 0, 0, 0, 1, 0]
"""


def test_a_calibration_file_is_read_field_by_field(tmp_path):
    path = tmp_path / 'ost.yaml'
    path.write_text(OST_YAML)
    calibration = load_calibration(path)
    assert (calibration.width, calibration.height) == (640, 480)
    assert calibration.camera_name == 'head_camera'
    assert calibration.distortion_model == 'plumb_bob'
    np.testing.assert_allclose(calibration.K, [[612.1, 0, 318.4], [0, 611.7, 243.9], [0, 0, 1]])
    np.testing.assert_allclose(calibration.D, [0.11, -0.25, 0.001, -0.002, 0.0])
    np.testing.assert_allclose(calibration.R, np.eye(3))
    assert calibration.P.shape == (3, 4) and calibration.P[0, 0] == 615.0


def test_scaling_keeps_pixel_centres_consistent(tmp_path):
    path = tmp_path / 'ost.yaml'
    path.write_text(OST_YAML)
    calibration = load_calibration(path)
    half = calibration.scaled_to(320, 240)
    point = np.array([0.3, -0.2, 2.0])
    pixel = calibration.K @ point
    pixel_half = half.K @ point
    # centre of the top-left pixel at (0, 0): x' + 0.5 = s (x + 0.5)
    np.testing.assert_allclose(pixel_half[:2] / pixel_half[2] + 0.5,
                               0.5 * (pixel[:2] / pixel[2] + 0.5))
    projected = calibration.P @ np.append(point, 1.0)
    projected_half = half.P @ np.append(point, 1.0)
    np.testing.assert_allclose(projected_half[:2] / projected_half[2] + 0.5,
                               0.5 * (projected[:2] / projected[2] + 0.5))
    np.testing.assert_array_equal(half.D, calibration.D)
    assert calibration.scaled_to(640, 480) is calibration
    with pytest.raises(CalibrationError, match='aspect ratio'):
        calibration.scaled_to(1280, 720)


@pytest.mark.parametrize('edit, message', [
    (lambda text: text.replace('image_width: 640\n', ''), 'missing image_width'),
    (lambda text: text.replace('data: [612.1, 0, 318.4, 0, 611.7, 243.9, 0, 0, 1]',
                               'data: [612.1, 0, 318.4, 0, 611.7, 243.9]'),
     'camera_matrix says 3x3 but holds 6'),
    (lambda text: text.replace('612.1', '.nan'), 'non-finite'),
    (lambda text: text.replace('612.1', '-612.1'), 'fx, fy > 0'),
    (lambda text: text.replace('image_height: 480', 'image_height: 0'), 'positive'),
    (lambda text: ': [unclosed', 'not valid YAML'),
])
def test_broken_files_name_the_problem(tmp_path, edit, message):
    path = tmp_path / 'broken.yaml'
    path.write_text(edit(OST_YAML))
    with pytest.raises(CalibrationError, match=message):
        load_calibration(path)


def test_a_missing_file_is_a_calibration_error(tmp_path):
    with pytest.raises(CalibrationError, match='cannot read'):
        load_calibration(tmp_path / 'none.yaml')


def test_the_nominal_camera():
    calibration = nominal_calibration(1280, 720)
    focal = 640.0 / math.tan(math.radians(NOMINAL_HFOV_DEG / 2))
    np.testing.assert_allclose(calibration.K, [[focal, 0, 639.5], [0, focal, 359.5], [0, 0, 1]])
    np.testing.assert_allclose(calibration.P, np.hstack([calibration.K, np.zeros((3, 1))]))
    assert calibration.D.tolist() == [0.0] * 5 and calibration.distortion_model == 'plumb_bob'
    with pytest.raises(ValueError):
        nominal_calibration(0, 720)
