"""Bags of sensor_msgs/CompressedImage: make-bag --compressed, bag-eval reading them; ROS-free."""
import numpy as np

from hpm_ros.bags import io
from hpm_ros.bags.evaluate import EvalTopics, evaluate_bag
from hpm_ros.bags.make import synthetic_source, write_bag
from hpm_ros.cli import main as hpm_main
from conftest import make_pipeline

SIZE = (160, 120)
FRAMES = 6
COMPRESSED_TOPIC = '/camera/image_raw/compressed'


def source():
    return synthetic_source('walk', FRAMES, 10.0, SIZE, seed=4)


def test_a_png_bag_evaluates_exactly_like_the_raw_bag(model, tmp_path):
    """PNG is lossless: the same pixels, so the same poses, through the compressed path."""
    write_bag(tmp_path / 'raw', source(), progress=False)
    summary = write_bag(tmp_path / 'png', source(), 'mcap', progress=False, compressed='png')
    assert summary['counts'][COMPRESSED_TOPIC] == FRAMES
    with io.BagReader(tmp_path / 'png') as reader:
        assert reader.topics[COMPRESSED_TOPIC] == io.COMPRESSED_IMAGE_TYPE
        assert '/camera/image_raw' not in reader.topics
        formats = {io.deserialize(data, c.msgtype).format
                   for c, _, data in reader.messages({COMPRESSED_TOPIC})}
    assert formats == {'rgb8; png compressed bgr8'}
    raw = evaluate_bag(make_pipeline(model), tmp_path / 'raw', tmp_path / 'raw_out',
                       progress=False)
    png = evaluate_bag(make_pipeline(model), tmp_path / 'png', tmp_path / 'png_out',
                       progress=False)
    assert len(png['valid']) == FRAMES and not png['warnings']
    np.testing.assert_array_equal(png['stamp_ns'], raw['stamp_ns'])
    np.testing.assert_allclose(png['joints3d_camera'], raw['joints3d_camera'], atol=1e-5)
    assert png['input_topics'][COMPRESSED_TOPIC] == io.COMPRESSED_IMAGE_TYPE


def test_hpm_make_bag_compressed_jpeg_and_hpm_bag_eval(model, tmp_path, capsys):
    bag = tmp_path / 'jpeg'
    assert hpm_main(['make-bag', '--synthetic', 'wave', '--frames', str(FRAMES), '--size',
                     '160', '120', '--compressed', '--output', str(bag)]) == 0
    with io.BagReader(bag) as reader:
        assert set(reader.topics) == {COMPRESSED_TOPIC, '/camera/camera_info',
                                      '/ground_truth/pose3d'}
        message = next(io.deserialize(data, c.msgtype)
                       for c, _, data in reader.messages({COMPRESSED_TOPIC}))
    assert message.format == 'rgb8; jpeg compressed bgr8' and bytes(message.data[:2]) == \
        b'\xff\xd8'
    capsys.readouterr()
    assert hpm_main(['bag-eval', '--bag', str(bag), '--output', str(tmp_path / 'report'),
                     '--model', str(model), '--front-end', 'psi_r', '--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'frames' in out.lower()
    with io.BagReader(tmp_path / 'report' / 'bag') as reader:
        assert reader.count('/hpm_pose/pose3d') == FRAMES
        assert reader.count(COMPRESSED_TOPIC) == FRAMES  # the input is copied


def test_undecodable_compressed_images_are_counted_and_skipped(model, tmp_path):
    bag = tmp_path / 'broken'
    frames = list(source().frames())
    with io.BagWriter(bag) as writer:
        for index, frame in enumerate(frames):
            stamp = 10 ** 9 * (index + 1)
            message = io.compressed_image_message(frame, stamp, 'cam')
            if index == 2:
                message.data = message.data[:10]
            writer.write(COMPRESSED_TOPIC, stamp, message)
    result = evaluate_bag(make_pipeline(model), bag, tmp_path / 'out',
                          EvalTopics(image=COMPRESSED_TOPIC), progress=False)
    assert result['warnings'] == {'unsupported_images': 1}
    assert len(result['valid']) == FRAMES - 1
