"""BlazePose front end on real frames: people found, mediapipe parity, runtimes, bad input."""
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from hpm_ros.errors import BackendUnavailableError, CheckpointError, ImageEncodingError
from hpm_ros.frontends.base import FrontEnd
from hpm_ros.frontends.blazepose import BlazePoseFrontEnd
from hpm_ros.frontends.blazepose.runtime import (LiteRtRuntime, OnnxRuntime, create_runtime,
                                                 default_model_dir, model_file)
from hpm_ros.resources import package_share
from hpm_ros.video import read_frames

DATA = Path(__file__).parent / 'data' / 'blazepose'
REFERENCE = DATA / 'mediapipe_reference.npz'
MODELS = default_model_dir()
ONNX_FILES = [MODELS / 'pose_detection.onnx', MODELS / 'pose_landmark_full.onnx']
needs_onnx = pytest.mark.skipif(
    not all(path.is_file() for path in ONNX_FILES),
    reason=f'the BlazePose ONNX conversions are not in {MODELS} (made offline from the '
           f'.tflite files; copy pose_detection.onnx and pose_landmark_full.onnx there)')

# Measured (test/data/blazepose/mediapipe_reference.npz, mediapipe 0.10.21): per-landmark
# distance to mediapipe's own graph, median 0.5 px on single images, 0.9 px while tracking.
# The rest is OpenCV's bilinear crop (cv2 4.11 in mediapipe's venv vs 5.0 here differ on 3 %
# of the crop's pixels by up to 2 levels) and XNNPACK builds; a one-cell shift of the heatmap
# window moves a badly seen landmark by up to ~10 px.
STATIC_MEDIAN_PX = 1.0
STREAM_MEDIAN_PX = 1.6


def load_rgb(name: str) -> np.ndarray:
    """A JPEG fixture as [H, W, 3] uint8 RGB (decoded by OpenCV, as the reference tool)."""
    import cv2

    return cv2.cvtColor(cv2.imread(str(DATA / name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope='module')
def reference():
    return dict(np.load(REFERENCE))


@pytest.fixture(scope='module')
def tracker():
    front_end = BlazePoseFrontEnd()
    yield front_end
    front_end.close()


@pytest.fixture(scope='module')
def single():
    front_end = BlazePoseFrontEnd(tracking=False)
    yield front_end
    front_end.close()


def test_interface(tracker):
    assert isinstance(tracker, FrontEnd)
    assert tracker.name == 'blazepose' and tracker.joint_set == 'blazepose33'


def test_person_found_where_there_is_one(single):
    output = single.process(load_rgb('room_walk_100.jpg'))
    assert set(output.timings_ms) == {'detect', 'landmarks', 'total'}
    assert len(output.people) == 1
    person = output.primary
    assert person.keypoints.shape == (33, 2) and person.keypoints.dtype == np.float32
    assert person.confidence.shape == (33,) and 0.9 < person.score <= 1.0
    x0, y0, width, height = person.box
    # The person stands at x 370-490, y 60-370 px of the 768 x 432 frame.
    assert 340 < x0 < 400 and 30 < y0 < 90 and 200 < height < 340 and 60 < width < 160
    extras = person.extras
    assert extras['world_landmarks'].shape == (33, 3) and extras['tracking'] is False
    assert extras['visibility'].shape == extras['presence'].shape == (33,)
    assert extras['coco17']['keypoints'].shape == (17, 2)
    assert extras['coco17']['confidence'].shape == (17,)
    assert set(extras['roi']) == {'centre', 'size', 'rotation'}
    hips = person.keypoints[[23, 24]].mean(axis=0)
    assert np.linalg.norm(extras['world_landmarks'][[23, 24]].mean(axis=0)) < 0.05
    assert 380 < hips[0] < 480 and 150 < hips[1] < 260


@pytest.mark.parametrize('name', ['room_walk_028.jpg', 'room_walk_040.jpg'])
def test_nobody_on_empty_frames(single, name):
    output = single.process(load_rgb(name))
    assert output.people == []
    assert single.last_rejection is not None


def test_person_half_out_of_frame_is_no_error(single):
    output = single.process(load_rgb('room_walk_004.jpg'))
    for person in output.people:
        assert np.isfinite(person.keypoints).all()


def test_static_parity_with_mediapipe(single, reference):
    errors, world = [], []
    for name, found, points, meters in zip(reference['static_keys'], reference['static_found'],
                                           reference['static_landmarks'],
                                           reference['static_world']):
        image = load_rgb(str(name))
        assert hashlib.sha256(image.tobytes()).hexdigest() == reference['static_sha256'][
            list(reference['static_keys']).index(name)], 'fixture decodes to other pixels'
        output = single.process(image)
        if not found:
            continue
        assert output.people, f'mediapipe found a pose on {name}, the front end none'
        person = output.primary
        errors.append(np.linalg.norm(person.keypoints - points[:, :2], axis=1))
        world.append(np.linalg.norm(person.extras['world_landmarks'] - meters, axis=1))
        # (mediapipe's Python solution leaves landmark presence at 0: not compared.)
        np.testing.assert_allclose(person.extras['visibility'], points[:, 3], atol=0.1)
    errors = np.concatenate(errors)
    assert len(errors) == 5 * 33
    assert np.median(errors) < STATIC_MEDIAN_PX
    assert np.percentile(errors, 90) < 3.0
    assert np.median(np.concatenate(world)) < 0.01


def stream_frames(reference) -> list:
    keys = list(reference['stream_keys'])
    frames = [(index, frame) for index, frame in
              read_frames(package_share() / 'samples' / 'room_walk.mp4', max_frames=keys[-1] + 1)
              if index in keys]
    hashes = [hashlib.sha256(frame.tobytes()).hexdigest() for _, frame in frames]
    if hashes != list(reference['stream_sha256']):
        pytest.skip('samples/room_walk.mp4 decodes to other pixels than in the reference run '
                    '(another PyAV / FFmpeg build); streaming parity needs the same input')
    return frames


def test_streaming_parity_with_mediapipe(reference):
    front_end = BlazePoseFrontEnd(redetect_on_loss=False)
    errors, both, tracked = [], 0, 0
    for (index, frame), found, points in zip(stream_frames(reference), reference['stream_found'],
                                             reference['stream_landmarks']):
        output = front_end.process(frame, stamp=index / 30.0)
        if output.people and found:
            both += 1
            tracked += output.primary.extras['tracking']
            errors.append(np.linalg.norm(output.primary.keypoints - points[:, :2], axis=1))
    front_end.close()
    assert both >= 34 and tracked >= 30, (both, tracked)
    assert np.median(np.concatenate(errors)) < STREAM_MEDIAN_PX, np.median(np.concatenate(errors))


def test_tracking_stamps_and_reset(tracker):
    tracker.reset()
    image = load_rgb('room_walk_090.jpg')
    first = tracker.process(image, stamp=10.0)
    second = tracker.process(image, stamp=10.1)
    assert first.primary.extras['tracking'] is False
    assert second.primary.extras['tracking'] is True
    assert second.timings_ms['detect'] == 0.0
    tracker.reset()
    assert tracker.process(image, stamp=10.2).primary.extras['tracking'] is False


def test_given_roi_replaces_the_detector(single):
    output = single.process(load_rgb('room_walk_100.jpg'), roi=(370, 60, 120, 310))
    assert output.timings_ms['detect'] == 0.0
    person = output.primary
    assert person is not None and person.extras['roi']['rotation'] == 0.0
    assert person.extras['roi']['size'] == pytest.approx(310 * 1.25)


@pytest.mark.parametrize('roi', [(-50, -50, 60, 60), (740, 400, 200, 200), (10, 10, 0, 0),
                                 (760, 420, 8, 12)])
def test_roi_at_the_border_is_no_error(single, roi):
    output = single.process(load_rgb('room_walk_100.jpg'), roi=roi)
    for person in output.people:
        assert np.isfinite(person.keypoints).all()


def test_tiny_and_black_images_have_nobody(tracker):
    tracker.reset()
    assert tracker.process(np.zeros((1, 1, 3), np.uint8)).people == []
    assert tracker.process(np.zeros((480, 640, 3), np.uint8)).people == []
    assert tracker.process(np.full((2, 300, 3), 255, np.uint8)).people == []


@pytest.mark.parametrize('image', [np.zeros((48, 64, 3), np.float32),
                                   np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8),
                                   np.zeros((0, 64, 3), np.uint8), [[0, 0, 0]]])
def test_bad_images_raise(tracker, image):
    with pytest.raises(ImageEncodingError):
        tracker.process(image)


def copy_models(folder: Path, runtime: str = 'litert') -> None:
    for stem in ('pose_detection', 'pose_landmark_full'):
        shutil.copy(model_file(MODELS, stem, runtime), folder)


@pytest.mark.parametrize('runtime, suffix', [('litert', '.tflite'), ('onnxruntime', '.onnx')])
def test_corrupt_model_file(tmp_path, runtime, suffix):
    (tmp_path / f'pose_detection{suffix}').write_bytes(b'\x00garbage, not a model' * 64)
    with pytest.raises(CheckpointError, match='pose_detection'):
        BlazePoseFrontEnd(runtime, model_dir=tmp_path)


def test_missing_and_empty_model_files(tmp_path):
    with pytest.raises(CheckpointError, match='pose_detection.tflite'):
        BlazePoseFrontEnd(model_dir=tmp_path)
    copy_models(tmp_path)
    (tmp_path / 'pose_landmark_full.tflite').write_bytes(b'')
    with pytest.raises(CheckpointError, match='pose_landmark_full.tflite'):
        BlazePoseFrontEnd(model_dir=tmp_path)


def test_models_swapped_are_refused(tmp_path):
    shutil.copy(MODELS / 'pose_landmark_full.tflite', tmp_path / 'pose_detection.tflite')
    shutil.copy(MODELS / 'pose_landmark_full.tflite', tmp_path / 'pose_landmark_full.tflite')
    with pytest.raises(CheckpointError, match='not those of the pose detector'):
        BlazePoseFrontEnd(model_dir=tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError):
        BlazePoseFrontEnd('tflite')
    with pytest.raises(ValueError):
        BlazePoseFrontEnd(threads=0)
    with pytest.raises(ValueError):
        BlazePoseFrontEnd(min_presence=2.0)
    with pytest.raises(BackendUnavailableError):
        BlazePoseFrontEnd('litert', device='cuda')


def test_litert_runtime_output_order_and_input_check():
    runtime = LiteRtRuntime(MODELS / 'pose_landmark_full.tflite')
    assert runtime.input_shape == (1, 256, 256, 3)
    assert runtime.output_shapes == [(1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39),
                                     (1, 117)]
    with pytest.raises(ValueError):
        runtime.run(np.zeros((1, 224, 224, 3), np.float32))
    runtime.close()


@needs_onnx
def test_onnxruntime_matches_litert():
    rng = np.random.default_rng(0)
    for stem in ('pose_detection', 'pose_landmark_full'):
        lite = create_runtime('litert', model_file(MODELS, stem, 'litert'))
        onnx = create_runtime('onnxruntime', model_file(MODELS, stem, 'onnxruntime'))
        assert isinstance(onnx, OnnxRuntime)
        assert onnx.input_shape == lite.input_shape
        assert onnx.output_shapes == lite.output_shapes
        tensor = rng.uniform(0, 1, lite.input_shape).astype(np.float32)
        # Measured: landmarks 0.004 crop px, detector boxes 4e-4 (in 224-px units), 0.1 %
        # of the range for the (unused) segmentation logits.
        for a, b in zip(lite.run(tensor), onnx.run(tensor)):
            np.testing.assert_allclose(a, b, atol=1e-3 * max(1.0, float(np.abs(a).max())))


@needs_onnx
def test_onnxruntime_front_end_matches_litert(single):
    onnx = BlazePoseFrontEnd('onnxruntime', tracking=False)
    for name in ('room_walk_068.jpg', 'room_walk_150.jpg'):
        image = load_rgb(name)
        a, b = single.process(image).primary, onnx.process(image).primary
        assert a is not None and b is not None
        assert np.linalg.norm(a.keypoints - b.keypoints, axis=1).max() < 0.1   # measured 0.016
    onnx.close()


def tensorrt_reason() -> str:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return 'the tensorrt Python package is not installed (and it needs a CUDA GPU)'
    import torch
    if not torch.cuda.is_available():
        return 'no CUDA GPU'
    if not all(model_file(MODELS, stem, 'tensorrt').is_file()
               for stem in ('pose_detection', 'pose_landmark_full')):
        return f'no TensorRT engines in {MODELS} (built offline from the ONNX files)'
    return ''


@pytest.mark.gpu
@pytest.mark.skipif(bool(tensorrt_reason()), reason=tensorrt_reason() or 'n/a')
def test_tensorrt_front_end_matches_litert(single):
    engine = BlazePoseFrontEnd('tensorrt', device='cuda')
    image = load_rgb('room_walk_150.jpg')
    a, b = single.process(image).primary, engine.process(image).primary
    assert np.median(np.linalg.norm(a.keypoints - b.keypoints, axis=1)) < 1.0
    engine.close()


@pytest.mark.skipif(not tensorrt_reason().startswith('the tensorrt'),
                    reason='tensorrt is installed here')
def test_tensorrt_unavailable_is_a_clear_error():
    with pytest.raises(BackendUnavailableError, match='tensorrt'):
        BlazePoseFrontEnd('tensorrt', device='cuda')
