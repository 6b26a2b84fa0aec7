"""make-bag → bag-eval round trips (sqlite3 and MCAP) and every bad-bag case; ROS-free."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from hpm_ros.bags import io
from hpm_ros.bags.evaluate import EvalTopics, evaluate_bag
from hpm_ros.bags.make import BagSource, media_source, synthetic_source, write_bag
from hpm_ros.bags.report import write_report
from hpm_ros.cli import main as hpm_main
from hpm_ros.errors import BagError
from hpm_ros.geometry import intrinsics_matrix, root_relative
from hpm_ros.metrics import mpjpe, p_mpjpe
from conftest import make_pipeline

SIZE = (160, 120)
FRAMES = 8
FPS = 10.0


def read_topic(path, topic):
    with io.BagReader(path) as reader:
        return [(stamp, data, io.deserialize(data, connection.msgtype))
                for connection, stamp, data in reader.messages({topic})]


@pytest.mark.parametrize('storage,compression', [('sqlite3', 'none'), ('mcap', 'message')])
def test_round_trip_report_matches_direct_pipeline(model, tmp_path, storage, compression):
    source = synthetic_source('walk', FRAMES, FPS, SIZE, seed=3)
    bag = tmp_path / 'in'
    summary = write_bag(bag, source, storage, compression, progress=False)
    assert summary['frames'] == FRAMES and summary['size'] == SIZE
    topics = EvalTopics()

    images = read_topic(bag, topics.image)
    frames = list(source.frames())
    assert len(images) == FRAMES
    for index, (stamp, _, message) in enumerate(images):
        assert stamp == io.stamp_ns(message.header.stamp) == 1_700_000_000 * 10 ** 9 + \
            round(index * 1e9 / FPS)
        assert io.image_to_rgb(message).tobytes() == frames[index].tobytes()
    infos = read_topic(bag, topics.camera_info)
    np.testing.assert_array_equal(io.camera_info_to_intrinsics(infos[0][2]), source.intrinsics)
    truth = np.stack([io.pose_array_to_joints(m) for _, _, m in read_topic(bag, topics.truth)])
    np.testing.assert_allclose(truth * 1000.0, source.truth_mm, atol=1e-3)

    result = evaluate_bag(make_pipeline(model), bag, tmp_path / 'out_bag', topics,
                          progress=False)
    report = write_report(result, tmp_path / 'report', bag, tmp_path / 'out_bag',
                          make_pipeline(model).config)
    numbers = json.loads((tmp_path / 'report' / 'results.json').read_text())

    direct = make_pipeline(model)
    poses, raw = [], []
    for index, frame in enumerate(frames):
        pose = direct.process(frame, images[index][0] * 1e-9, 'camera_optical_frame',
                              source.intrinsics)
        poses.append(pose.joints3d)
        raw.append(pose.joints3d_raw)
    target = root_relative(truth * 1000.0)
    assert numbers['frames_processed'] == FRAMES and numbers['warnings'] == {}
    assert numbers['backend'] == direct.backend.selection   # what ran, not just the request
    assert numbers['correction_runtimes'] == direct.lifter.correction_runtimes
    assert numbers['mpjpe_mm'] == pytest.approx(float(mpjpe(np.stack(poses), target).mean()),
                                                rel=1e-9)
    assert numbers['mpjpe_raw_mm'] == pytest.approx(float(mpjpe(np.stack(raw), target).mean()),
                                                    rel=1e-9)
    assert numbers['p_mpjpe_mm'] == pytest.approx(
        float(p_mpjpe(np.stack(poses), target).mean()), rel=1e-9)
    assert numbers['correction_applied'] + numbers['correction_discarded'] <= FRAMES
    text = report.read_text()
    assert f'{numbers["mpjpe_mm"]:.2f}' in text and 'Latency per stage' in text
    for name in ('error_plot.png', 'strip.png', 'frames.npz'):
        assert (tmp_path / 'report' / name).stat().st_size > 0

    out = tmp_path / 'out_bag'
    with io.BagReader(out) as reader:
        assert reader.topics == {
            topics.image: io.IMAGE_TYPE, topics.camera_info: io.CAMERA_INFO_TYPE,
            topics.truth: io.POSE_ARRAY_TYPE, '/hpm_pose/pose3d': io.POSE_ARRAY_TYPE,
            '/hpm_pose/markers': io.MARKER_ARRAY_TYPE, '/diagnostics': io.DIAGNOSTICS_TYPE,
            '/humans/bodies/tracked': 'std_msgs/msg/String'}
        assert reader.count('/hpm_pose/pose3d') == FRAMES
    copied = read_topic(out, topics.image)
    assert [(s, bytes(d)) for s, d, _ in copied] == [(s, bytes(d)) for s, d, _ in images]
    published = [io.pose_array_to_joints(m) for _, _, m in read_topic(out, '/hpm_pose/pose3d')]
    np.testing.assert_allclose(np.stack(published), result['joints3d_camera'], atol=1e-6)

    again = evaluate_bag(make_pipeline(model), out, tmp_path / 'again', topics, progress=False)
    assert again['warnings'] == {'input_messages_on_output_topics_dropped': 3 * FRAMES + len(
        read_topic(out, '/diagnostics'))}
    np.testing.assert_array_equal(again['joints3d'], result['joints3d'])
    with io.BagReader(tmp_path / 'again') as reader:
        assert reader.count('/hpm_pose/pose3d') == FRAMES


def test_image_folder_is_resized_uncalibrated_and_evaluated(model, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        PILImage.fromarray(rng.integers(0, 255, (300, 600, 3), dtype=np.uint8)).save(
            folder / f'{index:03d}.png')
    summary = write_bag(tmp_path / 'bag', media_source(str(folder), 5.0), 'mcap',
                        max_width=448, progress=False)
    assert summary['size'] == (448, 224)
    assert summary['counts'] == {'/camera/camera_info': 3, '/camera/image_raw': 3}
    info = read_topic(tmp_path / 'bag', '/camera/camera_info')[0][2]
    assert io.camera_info_to_intrinsics(info) is None
    assert hpm_main(['bag-eval', '--bag', str(tmp_path / 'bag'), '--output',
                     str(tmp_path / 'report'), '--model', str(model), '--front-end', 'psi_r',
                     '--no-progress', '--lost-confidence', '0']) == 0
    numbers = json.loads((tmp_path / 'report' / 'results.json').read_text())
    assert numbers['frames_processed'] == 3 and 'mpjpe_mm' not in numbers
    assert numbers['bag_rate_hz'] == pytest.approx(5.0)


def small_bag(path, stamps_s, storage='sqlite3', extra=None) -> Path:
    """Images of 32×24 at ``stamps_s`` (header and receive time), plus camera info."""
    rgb = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    K = intrinsics_matrix(30.0, 30.0, 15.5, 11.5)
    with io.BagWriter(path, storage) as writer:
        for index, t in enumerate(stamps_s):
            stamp = int(t * 1e9)
            writer.write('/camera/camera_info', stamp, io.camera_info_message(K, 32, 24, stamp,
                                                                              'cam'))
            writer.write('/camera/image_raw', index * 10 ** 8 + 10 ** 9,
                         io.image_message(rgb, stamp, 'cam'))
        if extra:
            extra(writer)
    return path


def test_missing_image_topic_and_wrong_type_are_clear_errors(model, tmp_path, capsys):
    bag = small_bag(tmp_path / 'bag', [1.0, 1.1])
    with pytest.raises(BagError, match=r"no image topic '/other'.*/camera/image_raw"):
        evaluate_bag(make_pipeline(model), bag, tmp_path / 'out', EvalTopics(image='/other'))
    assert not (tmp_path / 'out').exists()
    with pytest.raises(BagError, match='carries sensor_msgs/msg/CameraInfo, expected'):
        evaluate_bag(make_pipeline(model), bag, tmp_path / 'out',
                     EvalTopics(image='/camera/camera_info'))
    code = hpm_main(['bag-eval', '--bag', str(bag), '--output', str(tmp_path / 'r'), '--model',
                     str(model), '--front-end', 'psi_r', '--image-topic', '/nothing',
                     '--no-progress'])
    error = capsys.readouterr().err
    assert code == 2 and 'no image topic' in error and 'Traceback' not in error


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_truncated_bag_is_an_error_without_partial_output(model, tmp_path, storage):
    bag = small_bag(tmp_path / 'bag', [1.0 + 0.1 * i for i in range(20)], storage)
    data_file = next(p for p in bag.iterdir() if p.suffix in ('.db3', '.mcap'))
    content = data_file.read_bytes()
    data_file.write_bytes(content[:len(content) // 2])
    with pytest.raises(BagError, match='truncated or corrupt'):
        evaluate_bag(make_pipeline(model), bag, tmp_path / 'out', progress=False)
    assert not (tmp_path / 'out').exists()
    with pytest.raises(BagError, match='does not exist'):
        evaluate_bag(make_pipeline(model), tmp_path / 'nope', tmp_path / 'out')


def test_out_of_order_undecodable_and_unsupported_frames_are_counted(model, tmp_path):
    def bad_messages(writer):
        writer.write_raw('/camera/image_raw', io.IMAGE_TYPE, 5 * 10 ** 9, b'\x00\x01\x00\x00')
        mono16 = io.image_message(np.zeros((2, 2, 3), np.uint8), 6 * 10 ** 9, 'cam')
        mono16.encoding = 'mono16'
        writer.write('/camera/image_raw', 6 * 10 ** 9, mono16)

    bag = small_bag(tmp_path / 'bag', [1.0, 1.1, 1.05, 1.2], extra=bad_messages)
    result = evaluate_bag(make_pipeline(model), bag, tmp_path / 'out', progress=False)
    assert dict(result['warnings']) == {'out_of_order_stamps': 1, 'undecodable_messages': 1,
                                        'unsupported_images': 1}
    assert result['images_in_bag'] == 6
    np.testing.assert_array_equal(result['stamp_ns'], [10 ** 9, 11 * 10 ** 8, 12 * 10 ** 8])
    report = write_report(result, tmp_path / 'report', bag, tmp_path / 'out',
                          make_pipeline(model).config)
    assert 'out_of_order_stamps 1' in report.read_text()


def test_bag_with_no_usable_image_is_an_error(model, tmp_path):
    def only_bad(writer):
        writer.write_raw('/camera/image_raw', io.IMAGE_TYPE, 10 ** 9, b'\x00\x01\x00\x00')

    bag = small_bag(tmp_path / 'bag', [], extra=only_bad)
    with pytest.raises(BagError, match='could be processed'):
        evaluate_bag(make_pipeline(model), bag, tmp_path / 'out', progress=False)
    assert not (tmp_path / 'out').exists()


def test_make_bag_refuses_an_existing_path_and_mismatched_truth(tmp_path):
    (tmp_path / 'bag').mkdir()
    source = BagSource(lambda: iter([np.zeros((8, 8, 3), np.uint8)] * 2), 10.0,
                       truth_mm=np.zeros((1, 17, 3), np.float32))
    with pytest.raises(BagError, match='exists already'):
        write_bag(tmp_path / 'bag', source, progress=False)
    with pytest.raises(BagError, match='ground truth has 1 frames'):
        write_bag(tmp_path / 'new', source, progress=False)
    assert not (tmp_path / 'new').exists()


def test_h36m_sequence_with_resize_scales_intrinsics_and_keeps_truth(tmp_path):
    from hpm_ros.bags.make import h36m_source
    from hpm_ros.data.h36m import Camera, PoseFrames

    count = 2
    camera = Camera(np.eye(3), np.zeros(3), np.array([1000.0, 1000.0]),
                    np.array([249.5, 199.5]), np.zeros(3), np.zeros(2))
    poses = np.random.default_rng(2).normal(0, 300, (count, 17, 3)).astype(np.float32)
    poses[..., 2] += 4000.0
    frames = PoseFrames(poses, np.array(['S9'] * count), np.array(['Walking'] * count),
                        np.array(['Walking 1'] * count), np.array([1] * count),
                        np.arange(count), 'camera')
    folder = tmp_path / 'images' / 'S9' / 'Walking 1.54138969'
    folder.mkdir(parents=True)
    for index in range(count):
        PILImage.fromarray(np.full((400, 500, 3), 90, np.uint8)).save(
            folder / f'{index:06d}.jpg')
    source = h36m_source(frames, {('S9', 1): camera}, tmp_path / 'images')
    summary = write_bag(tmp_path / 'bag', source, max_width=250, progress=False)
    assert summary['size'] == (250, 200) and summary['frames'] == count
    K = io.camera_info_to_intrinsics(read_topic(tmp_path / 'bag', '/camera/camera_info')[0][2])
    np.testing.assert_allclose(K, [[500.0, 0.0, 124.5], [0.0, 500.0, 99.5], [0, 0, 1]])
    truth = [io.pose_array_to_joints(m) for _, _, m in
             read_topic(tmp_path / 'bag', '/ground_truth/pose3d')]
    np.testing.assert_allclose(np.stack(truth) * 1000.0, poses, atol=1e-3)
    stamps = [s for s, _, _ in read_topic(tmp_path / 'bag', '/camera/image_raw')]
    assert stamps[1] - stamps[0] == 20_000_000


def test_make_bag_command_writes_a_synthetic_bag(tmp_path, capsys):
    assert hpm_main(['make-bag', '--synthetic', 'walk', '--frames', '3', '--size', '96', '72',
                     '--output', str(tmp_path / 'bag'), '--storage', 'mcap',
                     '--compression', 'file']) == 0
    assert '3 frames 96x72' in capsys.readouterr().out
    with io.BagReader(tmp_path / 'bag') as reader:
        assert reader.reader.compression_mode == 'file'
        assert {t: reader.count(t) for t in reader.topics} == {
            '/camera/image_raw': 3, '/camera/camera_info': 3, '/ground_truth/pose3d': 3}
