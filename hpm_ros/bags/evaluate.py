"""`hpm bag-eval`: every image of a bag through the node's pipeline, offline and in order.

Writes an output bag (the input topics copied unchanged, plus ``<prefix>/pose3d`` (the
primary person), ``<prefix>/markers`` (every body), ``/humans/bodies/tracked`` and
``/humans/bodies/<id>/skeleton3d`` (standard-message REP-155 topics, as the node without
hri_msgs, :mod:`hpm_ros.ros.humans`) and ``/diagnostics`` as the node publishes them) and a
report folder (:mod:`hpm_ros.bags.report`), whose arrays include every person
(:func:`hpm_ros.estimate.people_arrays`). Deterministic: one pipeline, reset once, frames in
bag order.

The image topic holds sensor_msgs/Image or sensor_msgs/CompressedImage (JPEG / PNG, as
``image_transport`` records it); when the bag lacks ``--image-topic`` but has
``<image topic>/compressed``, that one is read. Input problems: a missing image topic, a topic
of the wrong message type, a truncated or corrupt bag file raise :class:`BagError` (and no
partial output is left behind); an undecodable message, an unsupported image encoding or an
image stamped before the previous one (skipped, as the node skips stale frames) is counted as
a warning in the report.
"""
from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpm_ros.bags import io
from hpm_ros.errors import BagError, ImageEncodingError
from hpm_ros.estimate import people_arrays
from hpm_ros.pipeline import STAGES, add_pipeline_arguments
from hpm_ros.rep155 import BODIES_PREFIX, BODY_TOPIC, TRACKED_TOPIC, body_id

DIAGNOSTICS_PERIOD_NS = 1_000_000_000


@dataclass
class EvalTopics:
    """Input topics and the namespace of the outputs (the node's ``/hpm_pose``)."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    truth: str = '/ground_truth/pose3d'
    output_prefix: str = '/hpm_pose'
    diagnostics: str = '/diagnostics'


def _check_topics(topics_in_bag: dict, topics: EvalTopics, path) -> None:
    if topics.image not in topics_in_bag:
        listed = ', '.join(f'{t} ({m})' for t, m in sorted(topics_in_bag.items())) or 'none'
        raise BagError(f'bag {path} has no image topic {topics.image!r}; its topics: {listed} '
                       '(choose one with --image-topic)')
    for topic, expected in ((topics.image, io.IMAGE_TYPES),
                            (topics.camera_info, (io.CAMERA_INFO_TYPE,)),
                            (topics.truth, (io.POSE_ARRAY_TYPE,))):
        found = topics_in_bag.get(topic)
        if found is not None and found not in expected:
            raise BagError(f'topic {topic!r} of bag {path} carries {found}, expected '
                           f'{" or ".join(expected)}')


def with_compressed_fallback(topics_in_bag: dict, topics: EvalTopics) -> EvalTopics:
    """Return ``topics`` reading ``<image>/compressed`` when the bag has only that one."""
    compressed = topics.image.rstrip('/') + '/compressed'
    if topics.image not in topics_in_bag and compressed in topics_in_bag:
        return replace(topics, image=compressed)
    return topics


def _side_data(reader: io.BagReader, topics: EvalTopics, warnings: Counter) -> tuple:
    """Camera infos [(receive ns, K or None)] and ground truth {header stamp ns: [K, 3] m}."""
    infos, truth = [], {}
    for connection, stamp, data in reader.messages({topics.camera_info, topics.truth}):
        try:
            message = io.deserialize(data, connection.msgtype)
        except ValueError:
            warnings['undecodable_messages'] += 1
            continue
        if connection.topic == topics.camera_info:
            infos.append((stamp, io.camera_info_to_intrinsics(message)))
        else:
            joints = io.pose_array_to_joints(message)
            if joints is not None:
                truth[io.stamp_ns(message.header.stamp)] = joints
    infos.sort(key=lambda item: item[0])
    return infos, truth


def _intrinsics_at(infos: list, stamp: int):
    chosen = infos[0][1] if infos else None
    for received, K in infos:
        if received > stamp:
            break
        chosen = K
    return chosen


class _Outputs:
    """Per-frame arrays plus the output bag writes of one evaluation."""

    def __init__(self, writer: io.BagWriter, topics: EvalTopics) -> None:
        self.writer = writer
        self.topics = topics
        self.rows = {key: [] for key in (
            'stamp_ns', 'keypoints2d', 'confidence', 'joints3d', 'joints3d_raw',
            'joints3d_camera', 'valid', 'correction_applied', 'correction_discarded',
            'truth_m', 'timings_ms')}
        self.people = []
        self.next_diagnostics = None

    def add(self, result, receive_ns: int, header_ns: int, frame_id: str, truth) -> None:
        nan = np.full_like(result.joints3d, np.nan)
        row = self.rows
        row['stamp_ns'].append(header_ns)
        row['keypoints2d'].append(result.keypoints2d)
        row['confidence'].append(result.confidence)
        row['joints3d'].append(result.joints3d if result.valid else nan)
        row['joints3d_raw'].append(result.joints3d_raw if result.valid else nan)
        row['joints3d_camera'].append(result.joints3d_camera if result.valid else nan)
        row['valid'].append(result.valid)
        row['correction_applied'].append(result.correction_applied)
        row['correction_discarded'].append(result.correction_discarded)
        row['truth_m'].append(np.full((len(result.joints3d), 3), np.nan) if truth is None
                              else truth)
        row['timings_ms'].append([result.timings_ms[stage] for stage in STAGES])
        joints = result.joints3d_camera if result.valid else None
        prefix = self.topics.output_prefix
        bodies = [p for p in result.people if np.isfinite(p.joints3d_camera).all()]
        self.people.append(bodies)
        self.writer.write(f'{prefix}/pose3d', receive_ns,
                          io.pose_array_message(joints, header_ns, frame_id))
        self.writer.write(f'{prefix}/markers', receive_ns, io.markers_message(
            joints, header_ns, frame_id,
            bodies=[(p.track_id, p.joints3d_camera) for p in bodies] if joints is not None
            else None))
        named = [p for p in bodies if p.track_id >= 0]
        self.writer.write(TRACKED_TOPIC, receive_ns, io.typestore().types['std_msgs/msg/String'](
            data=' '.join(body_id(p.track_id) for p in named)))
        for person in named:
            self.writer.write(BODY_TOPIC.format(id=body_id(person.track_id), name='skeleton3d'),
                              receive_ns, io.pose_array_message(person.joints3d_camera,
                                                                header_ns, frame_id))

    def diagnostics(self, receive_ns: int, warnings: Counter, force: bool = False) -> None:
        if self.next_diagnostics is None:
            self.next_diagnostics = receive_ns + DIAGNOSTICS_PERIOD_NS
        if receive_ns < self.next_diagnostics and not force:
            return
        self.next_diagnostics = receive_ns + DIAGNOSTICS_PERIOD_NS
        timings = np.asarray(self.rows['timings_ms'] or [[0.0] * len(STAGES)])
        values = {'frames_processed': len(self.rows['valid']),
                  'bodies_tracked': len(self.people[-1]) if self.people else 0,
                  'person_lost': int(np.sum(~np.asarray(self.rows['valid'], bool))),
                  'correction_applied': int(np.sum(self.rows['correction_applied'])),
                  'correction_discarded': int(np.sum(self.rows['correction_discarded']))}
        values.update({f'warnings_{key}': value for key, value in warnings.items()})
        values.update({f'latency_ms_{stage}': float(timings[-100:, i].mean())
                       for i, stage in enumerate(STAGES)})
        level = 1 if warnings else 0
        text = f'{sum(warnings.values())} input warnings' if warnings else 'ok'
        self.writer.write(self.topics.diagnostics, receive_ns, io.diagnostics_message(
            f'{self.topics.output_prefix.strip("/")}: pose pipeline (bag-eval)', level, text,
            values, receive_ns))

    def arrays(self) -> dict:
        out = {key: np.asarray(value) for key, value in self.rows.items()}
        for key in ('keypoints2d', 'confidence', 'joints3d', 'joints3d_raw', 'joints3d_camera',
                    'timings_ms'):
            out[key] = out[key].astype(np.float32)
        out['stamp_ns'] = out['stamp_ns'].astype(np.int64)
        out.update(people_arrays(self.people, out['joints3d'].shape[1], camera=True))
        return out


def evaluate_bag(pipeline, bag_path, output_bag, topics: EvalTopics = EvalTopics(),
                 storage: str = None, strip_frames: int = 4, progress: bool = True) -> dict:
    """Run the pipeline over every image of ``bag_path``; write ``output_bag``.

    Returns per-frame arrays (see :class:`_Outputs`; ``joints3d`` [N, K, 3] mm root-relative,
    ``joints3d_camera`` metres, ``truth_m`` [N, K, 3] metres camera frame, NaN when absent) and
    'warnings' (Counter), 'images_in_bag', 'bag_duration_s', 'wall_s', 'strip' [(index,
    image, PoseResult, truth_m or None)], 'has_truth', 'input_topics'. Input messages on the
    output topics (e.g. a bag recorded by `hpm play`) are not copied, and counted."""
    warnings = Counter()
    with io.BagReader(bag_path) as reader:
        topics = with_compressed_fallback(reader.topics, topics)
        _check_topics(reader.topics, topics, bag_path)
        storage = storage or ('mcap' if any(Path(bag_path).glob('*.mcap'))
                              or str(bag_path).endswith('.mcap') else 'sqlite3')
        infos, truth = _side_data(reader, topics, warnings)
        total = reader.count(topics.image)
        chosen = set(np.linspace(0, max(total - 1, 0), strip_frames).round().astype(int).tolist())
        output_bag = Path(output_bag)
        writer = io.BagWriter(output_bag, storage)
        try:
            result = _run(pipeline, reader, writer, topics, infos, truth, total, chosen, warnings,
                          progress)
        except BaseException:
            writer.abort()
            shutil.rmtree(output_bag, ignore_errors=True)
            raise
        writer.close()
        result['input_topics'] = reader.topics
    result['has_truth'] = bool(truth)
    result['warnings'] = warnings
    result['images_in_bag'] = total
    result['backend'] = pipeline.backend.selection
    result['correction_runtimes'] = pipeline.lifter.correction_runtimes
    return result


def _run(pipeline, reader, writer, topics, infos, truth, total, chosen, warnings,
         progress) -> dict:
    outputs = _Outputs(writer, topics)
    pipeline.reset()
    strip, last_header, index, first, last = [], None, -1, None, None
    bar = tqdm(total=total, desc='bag-eval', disable=not progress, unit='frame')
    began = time.perf_counter()
    produced = {f'{topics.output_prefix}/pose3d', f'{topics.output_prefix}/markers',
                topics.diagnostics, TRACKED_TOPIC}
    for connection, stamp, data in reader.messages():
        if connection.topic in produced or connection.topic.startswith(BODIES_PREFIX):
            warnings['input_messages_on_output_topics_dropped'] += 1
        elif connection.msgdef is not None and connection.msgdef.data:
            writer.write_raw(connection.topic, connection.msgtype, stamp, data,
                             connection.msgdef.data, connection.digest)
        else:
            warnings['messages_not_copied'] += 1
        if connection.topic != topics.image:
            continue
        index += 1
        bar.update(1)
        first = stamp if first is None else first
        last = stamp
        try:
            message = io.deserialize(data, connection.msgtype)
            image = io.message_to_rgb(message, connection.msgtype)
        except ValueError as error:
            kind = ('unsupported_images' if isinstance(error, ImageEncodingError)
                    else 'undecodable_messages')
            warnings[kind] += 1
            continue
        header_ns = io.stamp_ns(message.header.stamp)
        if last_header is not None and header_ns < last_header:
            warnings['out_of_order_stamps'] += 1
            continue
        last_header = header_ns
        result = pipeline.process(image, header_ns * 1e-9, message.header.frame_id,
                                  _intrinsics_at(infos, stamp))
        frame_truth = truth.get(header_ns)
        outputs.add(result, stamp, header_ns, message.header.frame_id, frame_truth)
        outputs.diagnostics(stamp, warnings)
        if index in chosen:
            strip.append((index, image, result, frame_truth))
        last_frame = (index, image, result, frame_truth)
    bar.close()
    wall = time.perf_counter() - began
    if not outputs.rows['valid']:
        raise BagError(f'no image of topic {topics.image!r} in {reader.path} could be '
                       f'processed ({dict(warnings) or "the topic is empty"})')
    if not strip:
        strip.append(last_frame)
    outputs.diagnostics(last, warnings, force=True)
    result = outputs.arrays()
    result.update(strip=strip, wall_s=wall, bag_duration_s=(last - first) * 1e-9)
    return result


def add_parser(commands) -> None:
    """Register `hpm bag-eval`."""
    parser = commands.add_parser(
        'bag-eval', help='run a bag\'s images through the node\'s pipeline: output bag + report')
    parser.add_argument('--bag', required=True, help='rosbag2 folder (sqlite3 or MCAP)')
    parser.add_argument('--output', required=True, help='report folder (output bag inside)')
    parser.add_argument('--output-bag', help='output bag path (default: OUTPUT/bag)')
    parser.add_argument('--image-topic', default=EvalTopics.image)
    parser.add_argument('--camera-info-topic', default=EvalTopics.camera_info)
    parser.add_argument('--truth-topic', default=EvalTopics.truth)
    parser.add_argument('--output-prefix', default=EvalTopics.output_prefix,
                        help='namespace of pose3d / markers in the output bag')
    add_pipeline_arguments(parser)
    parser.add_argument('--lost-confidence', type=float,
                        help='psi_r: mean confidence below which no person is reported '
                        '(default: the node\'s)')
    parser.add_argument('--joint-confidence', type=float,
                        help='joints below this confidence are not used (default: the node\'s)')
    parser.add_argument('--no-progress', action='store_true')


def run(args) -> int:
    """Entry point of `hpm bag-eval`."""
    from hpm_ros.bags.report import write_report
    from hpm_ros.pipeline import PosePipeline, config_from_arguments

    report_dir = Path(args.output)
    output_bag = Path(args.output_bag) if args.output_bag else report_dir / 'bag'
    config = config_from_arguments(args)
    if args.lost_confidence is not None:
        config.lost_confidence = args.lost_confidence
    if args.joint_confidence is not None:
        config.joint_confidence = args.joint_confidence
    topics = EvalTopics(args.image_topic, args.camera_info_topic, args.truth_topic,
                        args.output_prefix)
    output_bag.parent.mkdir(parents=True, exist_ok=True)
    result = evaluate_bag(PosePipeline(config), args.bag, output_bag, topics,
                          progress=not args.no_progress)
    report = write_report(result, report_dir, args.bag, output_bag, config)
    print(report.read_text())
    print(f'report: {report}\noutput bag: {output_bag}')
    return 0
