"""BlazePose front end, the parts without a model: anchors, decoding, NMS, ROIs, filters."""
import math

import numpy as np
import pytest

from hpm_ros.frontends.blazepose.anchors import NUM_ANCHORS, ssd_anchors
from hpm_ros.frontends.blazepose.detector import (PoseDetector, decode_boxes, letterbox_roi,
                                                  sigmoid_scores, weighted_nms)
from hpm_ros.frontends.blazepose.gating import GateThresholds, rejection, skeleton_size
from hpm_ros.frontends.blazepose.joints import (BLAZEPOSE33, COCO17, COCO17_FROM_BLAZEPOSE,
                                                landmark_confidence, to_coco17)
from hpm_ros.frontends.blazepose.landmarks import project_world, refine_from_heatmap
from hpm_ros.frontends.blazepose.roi import (Roi, crop, crop_matrix, normalize_radians,
                                             roi_from_box, roi_from_points, roi_is_sane,
                                             to_frame)
from hpm_ros.frontends.blazepose.tracking import OneEuroFilter, PoseSmoother


def test_anchor_count_and_values():
    anchors = ssd_anchors()
    assert anchors.shape == (NUM_ANCHORS, 4) == (2254, 4)
    assert np.all(anchors[:, 2:] == 1.0)
    # Stride 8: 28 x 28 cells, 2 anchors each (the layer's and the interpolated one).
    np.testing.assert_allclose(anchors[0, :2], [0.5 / 28, 0.5 / 28], rtol=1e-6)
    np.testing.assert_allclose(anchors[1, :2], [0.5 / 28, 0.5 / 28], rtol=1e-6)
    np.testing.assert_allclose(anchors[2, :2], [1.5 / 28, 0.5 / 28], rtol=1e-6)
    np.testing.assert_allclose(anchors[2 * 28, :2], [0.5 / 28, 1.5 / 28], rtol=1e-6)
    # Stride 16 starts after 28 * 28 * 2 anchors; stride 32 (3 layers, 6 per cell) after that.
    np.testing.assert_allclose(anchors[1568, :2], [0.5 / 14, 0.5 / 14], rtol=1e-6)
    np.testing.assert_allclose(anchors[1568 + 392, :2], [0.5 / 7, 0.5 / 7], rtol=1e-6)
    np.testing.assert_allclose(anchors[1568 + 392 + 5, :2], [0.5 / 7, 0.5 / 7], rtol=1e-6)
    np.testing.assert_allclose(anchors[1568 + 392 + 6, :2], [1.5 / 7, 0.5 / 7], rtol=1e-6)
    np.testing.assert_allclose(anchors[-1, :2], [6.5 / 7, 6.5 / 7], rtol=1e-6)


def test_anchor_sizes_without_fixed_size():
    anchors = ssd_anchors(fixed_anchor_size=False)
    scale0 = 0.1484375
    scale1 = 0.1484375 + (0.75 - 0.1484375) / 4
    np.testing.assert_allclose(anchors[0, 2:], [scale0, scale0], rtol=1e-6)
    np.testing.assert_allclose(anchors[1, 2:], [math.sqrt(scale0 * scale1)] * 2, rtol=1e-6)
    np.testing.assert_allclose(anchors[-1, 2:], [math.sqrt(0.75)] * 2, rtol=1e-6)  # x 1.0


def test_decode_hand_made_tensor():
    anchors = np.array([[0.5, 0.5, 1, 1], [0.25, 0.75, 1, 1]], np.float32)
    raw = np.zeros((2, 12), np.float32)
    raw[0, :4] = [22.4, -11.2, 44.8, 22.4]          # x, y, w, h (224-px units)
    raw[0, 4:6] = [0.0, 0.0]                         # keypoint 0 at the anchor
    raw[0, 6:8] = [224.0, -224.0]                    # keypoint 1 one input size away
    raw[1, 4:6] = [-56.0, 56.0]
    boxes, keypoints = decode_boxes(raw, anchors)
    np.testing.assert_allclose(boxes[0], [0.5, 0.4, 0.7, 0.5], atol=1e-6)
    np.testing.assert_allclose(boxes[1], [0.25, 0.75, 0.25, 0.75], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 0], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 1], [1.5, -0.5], atol=1e-6)
    np.testing.assert_allclose(keypoints[1, 0], [0.0, 1.0], atol=1e-6)


def test_sigmoid_scores_clip():
    scores = sigmoid_scores(np.array([[0.0], [1000.0], [-1000.0], [2.0]]))
    np.testing.assert_allclose(scores, [0.5, 1.0, 0.0, 1.0 / (1.0 + math.exp(-2.0))],
                               rtol=1e-6, atol=1e-40)
    assert 0 < scores[2] < 1e-43                    # sigmoid(-100), not sigmoid(-1000)


def test_weighted_nms_hand_made_boxes():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [2.0, 2.0, 3.0, 3.0],
                      [0.0, 0.0, 0.4, 0.4]], np.float32)
    scores = np.array([0.9, 0.6, 0.8, 0.7], np.float32)
    keypoints = np.array([[[0, 0]], [[1, 1]], [[5, 5]], [[9, 9]]], np.float32)
    merged = weighted_nms(boxes, scores, keypoints, 0.3)
    # A and B overlap with IoU 0.9 / 1.1; A and D with IoU 0.16 (kept apart).
    assert [round(m[0], 6) for m in merged] == [0.9, 0.8, 0.7]
    np.testing.assert_allclose(merged[0][1], [0.06 / 1.5, 0.0, (0.9 + 0.66) / 1.5, 1.0],
                               atol=1e-6)
    np.testing.assert_allclose(merged[0][2], [[0.4, 0.4]], atol=1e-6)
    np.testing.assert_allclose(merged[1][1], boxes[2])
    np.testing.assert_allclose(merged[2][2], [[9, 9]])


def test_weighted_nms_degenerate_box_stops():
    boxes = np.array([[0.5, 0.5, 0.5, 0.5], [0, 0, 1, 1]], np.float32)
    merged = weighted_nms(boxes, np.array([0.9, 0.8], np.float32),
                          np.zeros((2, 1, 2), np.float32))
    assert len(merged) == 1 and merged[0][0] == pytest.approx(0.9)


class FakeRuntime:
    """Stands in for a detector runtime: only the output shapes are read."""

    path = 'fake.tflite'
    output_shapes = [(1, 2254, 12), (1, 2254, 1)]


def test_detector_decode_undoes_letterbox():
    detector = PoseDetector(FakeRuntime())
    raw_boxes = np.zeros((1, 2254, 12), np.float32)
    raw_scores = np.full((1, 2254, 1), -20.0, np.float32)
    anchor = 1568 + 392 + 6 * 24      # a stride-32 cell at (3.5 / 7, 3.5 / 7) = (0.5, 0.5)
    np.testing.assert_allclose(detector.anchors[anchor, :2], [0.5, 0.5])
    raw_scores[0, anchor] = 5.0
    raw_boxes[0, anchor, :4] = [0, 0, 112, 112]
    raw_boxes[0, anchor, 6:8] = [-56, -56]          # keypoint 1 at (0.25, 0.25) of the input
    detections = detector.decode(raw_boxes, raw_scores, 448, 224)
    assert len(detections) == 1
    assert detections[0].score == pytest.approx(1 / (1 + math.exp(-5)), rel=1e-6)
    # 448 x 224 frame: the letterbox is the 448-px square centred on (224, 112).
    np.testing.assert_allclose(detections[0].keypoints, [[224, 112], [112, 0], [224, 112],
                                                         [224, 112]], atol=1e-3)
    np.testing.assert_allclose(detections[0].box, [112, 0, 336, 224], atol=1e-3)
    assert detector.decode(raw_boxes, np.full_like(raw_scores, -1.0), 448, 224) == []


def test_letterbox_roi():
    assert letterbox_roi(640, 480) == Roi(320.0, 240.0, 640.0, 0.0)


@pytest.mark.parametrize('end, rotation', [((100, 100), 0.0), ((200, 200), math.pi / 2),
                                           ((0, 200), -math.pi / 2), ((100, 300), -math.pi)])
def test_roi_rotation_on_known_keypoints(end, rotation):
    roi = roi_from_points(np.array([100.0, 200.0]), np.array(end, float))
    assert roi.x == 100 and roi.y == 200
    assert roi.side == pytest.approx(250.0)
    assert roi.rotation == pytest.approx(rotation)


def test_normalize_radians():
    assert normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert normalize_radians(math.pi) == pytest.approx(-math.pi)
    assert normalize_radians(-math.pi / 4) == pytest.approx(-math.pi / 4)


def test_roi_from_box_is_square_and_upright():
    assert roi_from_box((10, 20, 100, 200)) == Roi(60.0, 120.0, 250.0, 0.0)


def test_crop_uncrop_round_trip():
    roi = Roi(120.0, 90.0, 80.0, math.radians(30))
    points = np.array([[120.0, 90.0], [100.0, 70.0], [150.5, 101.25]])
    crop_points = np.c_[points, np.ones(3)] @ crop_matrix(roi, 256).T
    np.testing.assert_allclose(crop_points[0], [128, 128], atol=1e-9)
    np.testing.assert_allclose(to_frame(crop_points, roi, 256), points, atol=1e-4)
    # The ROI's up direction: a point 'above' the centre in the crop lies along -y turned
    # by the rotation in the frame.
    above = to_frame(np.array([128.0, 0.0]), roi, 256)
    np.testing.assert_allclose(above, [120 + 40 * math.sin(roi.rotation),
                                       90 - 40 * math.cos(roi.rotation)], atol=1e-4)


def test_crop_samples_where_the_matrix_says():
    image = np.zeros((180, 240, 3), np.uint8)
    image[60:63, 150:153] = 255                      # a 3 x 3 dot centred on (151, 61)
    roi = Roi(120.0, 90.0, 128.0, math.radians(-20))
    pixels = crop(image, roi, 128)
    expected = crop_matrix(roi, 128) @ [151.0, 61.0, 1.0]
    weights = pixels[..., 0].astype(float)
    rows, cols = np.indices(weights.shape)
    centroid = [(cols * weights).sum() / weights.sum(), (rows * weights).sum() / weights.sum()]
    np.testing.assert_allclose(centroid, expected, atol=0.2)


def test_crop_border_modes():
    image = np.full((10, 10, 3), 200, np.uint8)
    roi = Roi(0.0, 0.0, 20.0)                        # three quarters outside the frame
    assert crop(image, roi, 16).min() == 200         # border pixels repeat
    zero = crop(image, roi, 16, border_zero=True)
    assert zero[0, 0].max() == 0 and zero[15, 15].min() == 200


def test_roi_is_sane():
    assert roi_is_sane(Roi(50, 50, 100), 640, 480)
    assert not roi_is_sane(Roi(50, 50, 2), 640, 480)
    assert not roi_is_sane(Roi(float('nan'), 50, 100), 640, 480)
    assert not roi_is_sane(Roi(-500, 50, 100), 640, 480)
    assert not roi_is_sane(Roi(320, 240, 5000), 640, 480)


def gaussian_heatmap(row: float, col: float, count: int = 3) -> np.ndarray:
    rows, cols = np.indices((64, 64))
    peak = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 2.0)
    logits = np.log(np.clip(peak, 1e-6, 1 - 1e-6) / (1 - np.clip(peak, 1e-6, 1 - 1e-6)))
    return np.repeat(logits[..., None], count, axis=2).astype(np.float32)


def test_heatmap_refinement_known_peak():
    heatmap = gaussian_heatmap(20, 30)
    points = np.array([[30.4 / 64, 20.9 / 64], [32.0 / 64, 21.0 / 64], [1.2, 0.3]], np.float32)
    refined = refine_from_heatmap(points, heatmap)
    # A symmetric peak inside the 7 x 7 window: the weighted mean is the peak cell.
    np.testing.assert_allclose(refined[0], [30 / 64, 20 / 64], atol=1e-5)
    # Window columns 29..35 around column 32: the peak's window is cut off on the left, so
    # the mean lies between the peak and the window centre.
    assert 30 / 64 < refined[1, 0] < 32 / 64
    # Outside the heatmap: unchanged.
    np.testing.assert_allclose(refined[2], points[2])


def test_heatmap_refinement_needs_confidence():
    heatmap = np.full((64, 64, 2), -4.0, np.float32)  # sigmoid 0.018 everywhere
    points = np.array([[0.3, 0.6], [0.5, 0.5]], np.float32)
    np.testing.assert_array_equal(refine_from_heatmap(points, heatmap), points)


def test_heatmap_refinement_row_bound_quirk():
    # mediapipe never checks the row's upper bound: a point just below the heatmap still
    # refines from the last rows; a negative row does not.
    heatmap = gaussian_heatmap(63, 10, count=2)
    points = np.array([[10 / 64, 65 / 64], [10 / 64, -0.5 / 64 - 1 / 64]], np.float32)
    refined = refine_from_heatmap(points, heatmap)
    assert refined[0, 1] < 64 / 64 and refined[0, 0] == pytest.approx(10 / 64, abs=1e-4)
    np.testing.assert_array_equal(refined[1], points[1])


def test_project_world_rotates_x_y():
    world = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, -1.0]], np.float32)
    turned = project_world(world, math.pi / 2)
    np.testing.assert_allclose(turned, [[0, 1, 0.5], [-2, 0, -1]], atol=1e-6)


def alpha(cutoff: float, frequency: float) -> float:
    return 1.0 / (1.0 + frequency / (2 * math.pi * cutoff))


def test_one_euro_hand_computed():
    values = [1.0, 2.0, 2.0]
    stamps = [0.0, 0.1, 0.2]
    one_euro = OneEuroFilter(min_cutoff=1.0, beta=1.0, derivative_cutoff=1.0)
    out = [float(one_euro.apply(v, t)) for v, t in zip(values, stamps)]
    # By hand: f = 10 Hz from the second sample. The speed low-pass (cutoff 1 Hz, factor
    # a1) starts from the first sample's speed 0, then sees 10 and 0; the value's cutoff is
    # 1 + beta |smoothed speed|.
    a1 = alpha(1.0, 10.0)
    speed1 = a1 * 10.0
    x1 = alpha(1 + speed1, 10.0) * 2.0 + (1 - alpha(1 + speed1, 10.0)) * 1.0
    speed2 = (1 - a1) * speed1
    x2 = alpha(1 + speed2, 10.0) * 2.0 + (1 - alpha(1 + speed2, 10.0)) * x1
    np.testing.assert_allclose(out, [1.0, x1, x2], rtol=1e-12)
    assert x1 == pytest.approx(1.75326, abs=1e-5) and x2 == pytest.approx(1.92085, abs=1e-5)
    # A stamp that does not increase passes the value through and keeps the state.
    assert float(one_euro.apply(5.0, 0.2)) == 5.0
    assert float(one_euro.apply(2.0, 0.3)) < 2.0 + 1e-9


def test_one_euro_value_scale_and_default_frequency():
    one_euro = OneEuroFilter(min_cutoff=0.05, beta=80.0, derivative_cutoff=1.0)
    assert float(one_euro.apply(10.0, 1.0, value_scale=0.01)) == 10.0
    out = float(one_euro.apply(12.0, 1.0 + 1 / 30, value_scale=0.01))
    speed = 2.0 * 0.01 * 30.0
    edvalue = alpha(1.0, 30.0) * speed
    a = alpha(0.05 + 80.0 * edvalue, 30.0)
    assert out == pytest.approx(a * 12.0 + (1 - a) * 10.0, rel=1e-6)


def test_pose_smoother_first_frame_passes_and_reset():
    smoother = PoseSmoother()
    points = np.random.rand(33, 2) * 100
    aux = np.array([[50.0, 60.0], [50.0, 10.0]])
    world = np.random.rand(33, 3)
    visibility = np.random.rand(33)
    first = smoother.apply(points, aux, world, visibility, 0.0)
    for got, want in zip(first, (points, aux, world, visibility)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    moved = smoother.apply(points + 10, aux + 10, world, visibility * 0, 1 / 30)
    assert np.all(moved[0] < points + 10) and np.all(moved[0] > points)
    np.testing.assert_allclose(moved[3], visibility * 0.9, rtol=1e-5)   # alpha 0.1
    smoother.reset()
    np.testing.assert_allclose(smoother.apply(points + 10, aux, world, visibility, 2 / 30)[0],
                               points + 10, rtol=1e-6)


def test_joint_names_and_coco_mapping():
    assert len(BLAZEPOSE33) == 33 and len(set(BLAZEPOSE33)) == 33
    assert BLAZEPOSE33[0] == 'nose' and BLAZEPOSE33[1] == 'left_eye_inner'
    assert BLAZEPOSE33[27] == 'left_ankle' and BLAZEPOSE33[32] == 'right_foot_index'
    assert COCO17_FROM_BLAZEPOSE.tolist() == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24,
                                              25, 26, 27, 28]
    assert [BLAZEPOSE33[i] for i in COCO17_FROM_BLAZEPOSE] == list(COCO17)
    keypoints = np.arange(66, dtype=np.float32).reshape(33, 2)
    confidence = landmark_confidence(np.full(33, 0.5), np.linspace(0, 1, 33))
    assert confidence[-1] == pytest.approx(0.5) and confidence[0] == 0
    coco_points, coco_confidence = to_coco17(keypoints, confidence)
    assert coco_points.shape == (17, 2) and coco_confidence.shape == (17,)
    np.testing.assert_array_equal(coco_points[15], keypoints[27])


def test_gate_reasons():
    thresholds = GateThresholds(min_visible_landmarks=8, min_skeleton_px=100)
    points = np.zeros((33, 2), np.float32)
    points[:, 1] = np.linspace(0, 200, 33)
    confidence = np.ones(33, np.float32)
    roi = Roi(100, 100, 300)
    assert rejection(0.9, points, confidence, roi, 640, 480, thresholds) is None
    assert rejection(0.4, points, confidence, roi, 640, 480, thresholds) == 'presence'
    assert rejection(0.9, points, confidence, Roi(100, 100, 1), 640, 480,
                     thresholds) == 'roi'
    low = confidence.copy()
    low[7:] = 0.2
    assert rejection(0.9, points, low, roi, 640, 480, thresholds) == 'visible'
    assert rejection(0.9, points * 0.3, confidence, roi, 640, 480, thresholds) == 'size'
    assert skeleton_size(points, confidence > 2) == 0.0
    with pytest.raises(ValueError):
        GateThresholds(min_presence=1.5)
    with pytest.raises(ValueError):
        GateThresholds(min_visible_landmarks=40)
