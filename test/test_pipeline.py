"""The per-frame pipeline on the psi_r front end (tiny image model): crops, state resets,
placement, timings, bad input; and `estimate`."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.crop import CropBox, box_from_keypoints, crop_image, letterbox_box
from hpm_ros.errors import BackendUnavailableError, CheckpointError, ImageEncodingError
from hpm_ros.estimate import estimate, open_input
from hpm_ros.geometry import intrinsics_matrix, project_points
from hpm_ros.model import build_machine
from hpm_ros.pipeline import PipelineConfig, PosePipeline

K = intrinsics_matrix(500.0, 500.0, 319.5, 239.5)


@pytest.fixture
def model_path(tiny_config, tmp_path):
    return save_checkpoint(tmp_path / 'tiny.pt', build_machine(tiny_config))


@pytest.fixture
def pipeline(model_path):
    return PosePipeline(PipelineConfig(model_path=str(model_path), front_end='psi_r',
                                       lost_confidence=0.0, joint_confidence=0.0))


def frame(seed=0, size=(480, 640)):
    return np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)


def test_result_shapes_timings_and_tracking(pipeline):
    first = pipeline.process(frame(), stamp=0.0, frame_id='cam')
    assert first.keypoints2d.shape == (17, 2) and first.joints3d.shape == (17, 3)
    assert first.joints3d_camera.shape == (17, 3) and first.placement == 'nominal'
    assert first.crop == letterbox_box(640, 480)
    assert set(first.timings_ms) == {'front_end', 'front_end.crop', 'front_end.pose2d',
                                     'transformer', 'correction', 'placement', 'total'}
    assert all(value >= 0 for value in first.timings_ms.values())
    np.testing.assert_allclose(first.joints3d[0], 0.0, atol=1e-3)
    assert first.joints3d_camera[0, 2] == pytest.approx(3.0, rel=1e-5), 'nominal depth 3 m'
    second = pipeline.process(frame(1), stamp=0.04, frame_id='cam')
    expected = box_from_keypoints(first.keypoints2d, first.confidence, 1.25, 0.0)
    assert second.crop == expected and second.state_reset == ''


@pytest.mark.parametrize('stamp, frame_id, reason', [
    (2.0, 'cam', 'time gap'), (0.04, 'other', 'frame_id changed'),
    (-1.0, 'cam', 'time went backwards')])
def test_state_resets(pipeline, stamp, frame_id, reason):
    pipeline.process(frame(), stamp=0.0, frame_id='cam')
    result = pipeline.process(frame(), stamp=stamp, frame_id=frame_id)
    assert result.state_reset == reason
    assert result.crop == letterbox_box(640, 480), 'tracking box dropped with the state'


def test_state_carried_changes_the_output(pipeline):
    image = frame()
    first = pipeline.process(image, stamp=0.0, frame_id='cam')
    pipeline.front_end.crop_policy = 'full'
    second = pipeline.process(image, stamp=0.04, frame_id='cam')
    assert not np.allclose(first.joints3d_raw, second.joints3d_raw)
    pipeline.reset()
    again = pipeline.process(image, stamp=0.08, frame_id='cam')
    np.testing.assert_allclose(again.joints3d_raw, first.joints3d_raw, atol=1e-4)


def test_roi_crop_policy(pipeline):
    result = pipeline.process(frame(), stamp=0.0, frame_id='cam', roi=(100, 50, 80, 200))
    assert result.crop == CropBox(140 - 125, 150 - 125, 250.0)


def test_root_placement_by_reprojection_and_nominal(pipeline):
    pose = np.random.default_rng(3).normal(0, 250, (17, 3))
    pose -= pose[0]
    root = np.array([150.0, -80.0, 3200.0])
    keypoints = project_points(pose + root, K)
    confidence = np.ones(17, np.float32)
    camera, placement = pipeline.lifter.place(pose[None], keypoints[None], confidence[None], K,
                                              (640, 480))
    assert placement == ['reprojection']
    np.testing.assert_allclose(camera[0], (pose + root) / 1000.0, atol=1e-5)
    camera, placement = pipeline.lifter.place(pose[None], keypoints[None], confidence[None],
                                              None, (640, 480))
    assert placement == ['nominal']
    camera = camera[0]
    assert camera[0, 2] == pytest.approx(3.0)
    nominal_k = intrinsics_matrix(640, 640, 319.5, 239.5)
    np.testing.assert_allclose(project_points(camera[0] * 1000.0, nominal_k), keypoints[0],
                               atol=1e-6)


def test_bad_images_raise_clear_errors(pipeline):
    with pytest.raises(ImageEncodingError, match='empty'):
        pipeline.process(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ImageEncodingError, match='RGB'):
        pipeline.process(np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageEncodingError, match='uint8'):
        pipeline.process(np.zeros((10, 10, 3), np.float32))


def test_missing_or_broken_model(tmp_path):
    with pytest.raises(CheckpointError, match='not found'):
        PosePipeline(PipelineConfig(model_path=str(tmp_path / 'none.pt'), front_end='psi_r'))
    broken = tmp_path / 'broken.pt'
    broken.write_bytes(b'PK\x03\x04 broken')
    with pytest.raises(CheckpointError):
        PosePipeline(PipelineConfig(model_path=str(broken), front_end='psi_r'))
    with pytest.raises(ValueError, match='crop_policy'):
        PipelineConfig(model_path='x', crop_policy='zoom')


def test_crop_image_matches_box_geometry():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255
    crop = crop_image(image, CropBox(49.5, -0.5, 100.0), 50)
    rows, cols = np.nonzero(crop[..., 0] > 127)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 29, 20, 29)


def test_estimate_on_an_image_folder(pipeline, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in (2, 0, 1):
        Image.fromarray(frame(index, (120, 160))).save(folder / f'frame_{index:03d}.png')
    (folder / 'notes.txt').write_text('not an image')
    output = estimate(pipeline, open_input(str(folder)), intrinsics=K, progress=False)
    assert list(output['frames']) == ['frame_000.png', 'frame_001.png', 'frame_002.png']
    assert output['keypoints2d'].shape == (3, 17, 2) and output['joints3d'].dtype == np.float32
    assert output['joints3d_camera'].shape == (3, 17, 3)
    assert output['timings_ms'].shape == (3, 5) and output['valid'].all()
    assert list(output['joint_names'])[:2] == ['Hip', 'RHip']
    without = estimate(pipeline, open_input(str(folder)), progress=False)
    assert 'joints3d_camera' not in without


def test_estimate_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='neither'):
        open_input(str(tmp_path / 'absent'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(Exception, match='no images'):
        open_input(str(empty))
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'a.png').write_bytes(b'not a png')
    source = open_input(str(tmp_path / 'bad'))
    ((name, error),) = list(source.frames())
    assert name == 'a.png' and isinstance(error, ImageEncodingError)
    assert 'cannot read image' in str(error)


SHARED_VIDEO = (Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'video'
                / 'one-by-one-person-detection.mp4')


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason='../shared/data/video is not present')
def test_estimate_on_the_real_video(pipeline):
    source = open_input(str(SHARED_VIDEO), max_frames=3)
    assert source.fps == pytest.approx(10.0)
    output = estimate(pipeline, source, progress=False)
    assert list(output['frames']) == ['0', '1', '2']
    assert output['joints3d'].shape == (3, 17, 3) and np.isfinite(output['joints3d']).all()


def test_estimate_skips_a_truncated_jpeg_and_reads_a_single_image(pipeline, tmp_path, capsys):
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in range(3):
        Image.fromarray(frame(index, (120, 160))).save(folder / f'{index}.jpg', quality=90)
    data = (folder / '1.jpg').read_bytes()
    (folder / '1.jpg').write_bytes(data[:len(data) // 2])
    output = estimate(pipeline, open_input(str(folder)), progress=False)
    assert list(output['frames']) == ['0.jpg', '2.jpg'] and list(output['skipped']) == ['1.jpg']
    assert 'skipped' in capsys.readouterr().err
    single = estimate(pipeline, open_input(str(folder / '2.jpg')), progress=False)
    assert list(single['frames']) == ['2.jpg'] and single['joints3d'].shape == (1, 17, 3)


def test_estimate_reads_a_video_whose_container_stores_no_frame_count(pipeline, tmp_path):
    import av

    path = tmp_path / 'webcam.mkv'
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('mjpeg', rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, 'yuvj420p'
        for index in range(5):
            image = av.VideoFrame.from_ndarray(frame(index, (120, 160)), format='rgb24')
            for packet in stream.encode(image.reformat(format='yuvj420p')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0, 'MKV stores no frame count'
    source = open_input(str(path))
    assert source.names is None and source.fps == pytest.approx(15.0)
    output = estimate(pipeline, source, progress=False)
    assert list(output['frames']) == ['0', '1', '2', '3', '4']


def test_devices_that_cannot_run_are_one_line_errors(model_path):
    with pytest.raises(ValueError, match='device must be cpu or cuda'):
        PipelineConfig(model_path=str(model_path), front_end='psi_r', device='bogus')
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match='sees no CUDA GPU'):
            PosePipeline(PipelineConfig(model_path=str(model_path), front_end='psi_r',
                                        device='cuda'))


def test_estimate_summary_counts_people_without_track_ids(tmp_path, capsys):
    """Ψ_R's person has no tracking ID; the summary still counts it as a person in view."""
    import re

    from hpm_ros.cli import main as hpm
    from hpm_ros.resources import sample_video_path

    assert hpm(['estimate', '--input', str(sample_video_path()), '--output',
                str(tmp_path / 'o.npz'), '--front-end', 'psi_r', '--max-frames', '20']) == 0
    summary = capsys.readouterr().out
    found = int(re.search(r'(\d+) % with a person', summary).group(1))
    most = int(re.search(r'up to (\d+) people in a frame', summary).group(1))
    assert found > 0 and most == 1, summary
    assert '0 track IDs' in summary
