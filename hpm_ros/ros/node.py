"""The ``hpm_pose`` node: camera images in, 3D skeleton markers and poses out.

Subscribes ``image`` (sensor_msgs/Image), or with ``image_transport: compressed``
``image/compressed`` (sensor_msgs/CompressedImage, JPEG / PNG), reliable when every publisher
on it is, else best effort (:mod:`hpm_ros.ros.image_input`; the
``qos_overrides./<resolved image topic>.subscription.*`` parameters override it),
``camera_info`` (sensor_msgs/CameraInfo) and optional ``roi`` (sensor_msgs/RegionOfInterest,
the person's box in the image; used while it is at most ``ROI_MAX_AGE_S`` old).
Publishes, reliable with depth 10: ``~/pose3d`` (geometry_msgs/PoseArray, one pose per joint in
the order of the read-only ``joint_names`` parameter (H36M-17), positions in metres in the
image's frame_id (camera optical frame), stamped with the image's stamp; the primary person,
see :mod:`hpm_ros.pipeline`), ``~/markers`` (visualization_msgs/MarkerArray, every body),
optional ``~/debug_image`` (the 2D skeletons drawn on the frame) and ``/diagnostics`` (rates,
frame counts, per-stage latency, correction and error counts, bodies tracked, backend, model,
and the input's rate, frames lost in transport and QoS: WARN while no image arrives, when the
input stops for ``input_timeout_s`` or collapses, :mod:`hpm_ros.rate_monitor`). Several
people (``max_people``): REP-155-style per-body topics and the external ``~/person_boxes``
subscription, :mod:`hpm_ros.ros.humans`.

When nobody is found (the front end's person gate, Ψ_R's ``lost_confidence``) the node
publishes an empty PoseArray with the image's header and a MarkerArray holding one DELETEALL
marker, so consumers can tell "nobody" from "no message".

Latest-frame policy: the image callback only keeps the newest message; a worker thread runs the
pipeline, and a frame replaced before it was processed is counted as dropped; there is never a
backlog. Bad input (an unsupported, empty or truncated image, NaN intrinsics, a CameraInfo of
another image size, a frame stamped before the last one processed or more than
``FUTURE_TOLERANCE_S`` ahead of the node's clock) is logged (throttled per kind), counted in
/diagnostics and skipped; after ``CLOCK_RESET_FRAMES`` such frames in a row the node takes it
for a clock reset (a bag replayed from the start) or a camera clock running ahead, and goes
on with it. A missing, broken or wrong kind of model, an unusable device or an invalid
parameter stops the node at start with one message and exit code 1. SIGINT and
SIGTERM shut it down cleanly (worker joined, exit code 0).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter, deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from visualization_msgs.msg import MarkerArray

from hpm_ros.errors import CalibrationError, HpmError, ImageEncodingError
from hpm_ros.pipeline import STAGES, PosePipeline
from hpm_ros.rate_monitor import InputRateMonitor
from hpm_ros.ros.conversions import (camera_info_to_intrinsics, delete_markers,
                                     diagnostics_message, pose_to_pose_array,
                                     rgb_to_image_msg, roi_to_box, stamp_to_seconds)
from hpm_ros.ros.humans import BodyTopics, PersonBoxesSubscription, body_markers
from hpm_ros.ros.image_input import ImageInput
from hpm_ros.ros.parameters import (PARAMETERS, SPECS, check_value, correction_overrides,
                                    pipeline_config)
from hpm_ros.ros.transport import add_profile_argument, apply_profile, describe

NODE_NAME = 'hpm_pose'
WINDOW = 100
THROTTLE_S = 5.0
CLOCK_RESET_FRAMES = 10
FUTURE_TOLERANCE_S = 60.0
ROI_MAX_AGE_S = 1.0
ERROR_KINDS = ('image', 'camera_info', 'stale_frame', 'future_stamp', 'pipeline')
COUNTS = ('frames_received', 'frames_processed', 'frames_dropped', 'person_lost',
          'state_resets', 'correction_applied', 'correction_discarded', 'bodies_tracked',
          'bodies_max', *(f'errors_{kind}' for kind in ERROR_KINDS))


def _descriptor(spec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.choices:
        descriptor.additional_constraints = f'one of {", ".join(spec.choices)}'
    if spec.low is not None:
        if isinstance(spec.default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(spec.low),
                                                     to_value=int(spec.high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    return descriptor


class PoseNode(LifecycleNode):
    """The node, a managed (lifecycle) node; see the module docstring for topics and behaviour.

    Transitions: ``configure`` checks the parameters, loads and checks the models and creates
    the publishers (an error is one log line and leaves the node unconfigured); ``activate``
    subscribes the camera topics and starts the worker; ``deactivate`` stops them and keeps
    the models; ``cleanup`` and ``shutdown`` release everything.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        settings = [spec for spec in PARAMETERS if not spec.read_only]
        for spec in settings:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        self.values = {}
        self.pipeline = None
        self.pipeline_lock = threading.Lock()
        self.frame_lock = threading.Lock()
        self.stats_lock = threading.Lock()
        self.frame_ready = threading.Event()
        self.stopping = threading.Event()
        self.worker = None
        self.inputs = []
        self.outputs = []
        self.image_input = None
        self.person_boxes = None
        self.configure_error = ''
        self.quiet_configure = False
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def configure_now(self) -> None:
        """What ``configure`` does; HpmError / ValueError name what is wrong."""
        settings = [spec for spec in PARAMETERS if not spec.read_only]
        values = {spec.name: self.get_parameter(spec.name).value for spec in settings}
        for name in values:
            reason = check_value(name, values[name])
            if reason:
                raise ValueError(reason)
        pipeline = PosePipeline(pipeline_config(values))
        self.values, self.pipeline = values, pipeline
        if not self.has_parameter('joint_names'):
            self.declare_parameter('joint_names', list(pipeline.joint_names),
                                   _descriptor(SPECS['joint_names']), ignore_override=True)
        self._reset_stream()
        self.pose_publisher = self.create_lifecycle_publisher(PoseArray, '~/pose3d', 10)
        self.marker_publisher = self.create_lifecycle_publisher(MarkerArray, '~/markers', 10)
        self.debug_publisher = (self.create_lifecycle_publisher(Image, '~/debug_image', 10)
                                if values['publish_debug_image'] else None)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.body_topics = BodyTopics(self)
        self.diagnostics_timer = self.create_timer(values['diagnostics_period_s'],
                                                   self._publish_diagnostics)
        checkpoint = pipeline.checkpoint
        self.get_logger().info(
            f'configured: front end {values["front_end"]}, lifter {checkpoint.path} '
            f'({checkpoint.config.name}), backend {pipeline.backend.selection}, correction '
            f'{values["correction_preset"]} (runs on: {pipeline.lifter.correction_runtimes}), '
            f'up to {values["max_people"]} people (body topics: '
            f'{self.body_topics.message_types})')

    def _reset_stream(self) -> None:
        """Fresh per-stream state: counters, timings, the newest frame, stamps, calibration."""
        self.latest = None
        self.camera_info = None
        self.roi = (None, 0.0)
        self.last_stamp = None
        self.past_frames_in_a_row = 0
        self.future_frames_in_a_row = 0
        self.pending_jump = None
        self.last_logged = {}
        self.counts = Counter({key: 0 for key in COUNTS})
        self.timings = {stage: deque(maxlen=WINDOW) for stage in STAGES + ('node_overhead',)}
        self.window_start = (time.monotonic(), 0, 0)
        self.input_monitor = InputRateMonitor(self.values['input_timeout_s'])

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and check the models; one error line and FAILURE when they cannot run."""
        try:
            self.configure_now()
        except (HpmError, ValueError, ParameterException) as error:
            self.configure_error = str(error)
            if not self.quiet_configure:
                self.get_logger().error(f'configure failed: {error}')
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe the camera topics and start the worker."""
        self.image_input = ImageInput(self, self.values['image_transport'], self._on_image)
        self.inputs = [
            self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info,
                                     qos_profile_sensor_data),
            self.create_subscription(RegionOfInterest, 'roi', self._on_roi,
                                     qos_profile_sensor_data)]
        self.person_boxes = PersonBoxesSubscription(self, '~/person_boxes',
                                                    qos_profile_sensor_data)
        self.stopping.clear()
        self.worker = threading.Thread(target=self._work, name='hpm_pose_worker')
        self.worker.start()
        self.get_logger().info(f'active (external person boxes: '
                               f'{self.person_boxes.message_type})')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the subscriptions and the worker; the models stay loaded."""
        self._stop_inputs()
        self.get_logger().info('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the models and the publishers."""
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, from whichever state."""
        self._stop_inputs()
        self._release()
        return super().on_shutdown(state)

    def _stop_inputs(self) -> None:
        if self.image_input is not None:
            self.image_input.close()
            self.image_input = None
        for subscription in self.inputs:
            self.destroy_subscription(subscription)
        self.inputs = []
        if self.person_boxes is not None:
            self.person_boxes.close()
            self.person_boxes = None
        self.stop()

    def _release(self) -> None:
        if self.pipeline is None:
            return
        self.destroy_timer(self.diagnostics_timer)
        for publisher in (self.pose_publisher, self.marker_publisher, self.debug_publisher):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self.destroy_publisher(self.diagnostics_publisher)
        self.body_topics.close()
        with self.pipeline_lock:
            self.pipeline.front_end.close()
            self.pipeline = None
        self.get_logger().info('cleaned up: models released')

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        if self.pipeline is None:
            return SetParametersResult(successful=True)
        changed = dict(self.values)
        for parameter in parameters:
            spec = SPECS.get(parameter.name)
            if spec is None or spec.read_only:
                continue
            if not spec.dynamic:
                return SetParametersResult(
                    successful=False, reason=f'{parameter.name} is fixed while the node is '
                    'configured; change it after cleanup (or restart the node)')
            reason = check_value(parameter.name, parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            changed[parameter.name] = parameter.value
        if changed == self.values:
            return SetParametersResult(successful=True)
        try:
            with self.pipeline_lock:
                if self.pipeline is not None:
                    self.pipeline.set_correction(changed['correction_preset'],
                                                 **correction_overrides(changed))
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.values = changed
        runs_on = f' (runs on: {self.pipeline.lifter.correction_runtimes})' \
            if self.pipeline is not None else ''
        self.get_logger().info(f'correction: {changed["correction_preset"]} '
                               f'{correction_overrides(changed) or ""}'.rstrip() + runs_on)
        return SetParametersResult(successful=True)

    def _on_image(self, message) -> None:
        stamp = stamp_to_seconds(message.header.stamp)
        self.input_monitor.add(stamp, time.monotonic(), time.time() - stamp)
        with self.frame_lock:
            self.counts['frames_received'] += 1
            if self.latest is not None:
                self.counts['frames_dropped'] += 1
            self.latest = message
        self.frame_ready.set()

    def _on_camera_info(self, message: CameraInfo) -> None:
        self.input_monitor.add_reference(stamp_to_seconds(message.header.stamp),
                                         time.monotonic())
        try:
            self.camera_info = (camera_info_to_intrinsics(message), message.width,
                                message.height)
        except CalibrationError as error:
            self.camera_info = None
            self._count_error('camera_info', f'camera_info ignored: {error}')

    def _intrinsics_for(self, width: int, height: int):
        """The camera matrix of the last CameraInfo when it describes ``width`` x ``height``
        images (or says no size), else None with the mismatch counted and logged."""
        if self.camera_info is None:
            return None
        matrix, info_width, info_height = self.camera_info
        if (info_width, info_height) in ((0, 0), (width, height)):
            return matrix
        self._count_error('camera_info', f'camera_info is for {info_width}x{info_height} '
                          f'images but the images are {width}x{height}: calibration ignored, '
                          'poses placed at the nominal depth (publish the CameraInfo of the '
                          'image topic itself, e.g. image_proc resize scales both)')
        return None

    def _on_roi(self, message: RegionOfInterest) -> None:
        self.roi = (message, time.monotonic())

    def _current_roi(self, width: int, height: int) -> tuple:
        message, received = self.roi
        if message is None or time.monotonic() - received > ROI_MAX_AGE_S:
            return None
        return roi_to_box(message, width, height)

    def _count_error(self, kind: str, text: str) -> None:
        """Count an input error of ``kind`` and log it, throttled per kind (one kind's steady
        stream never hides another's), with how many were left out since the last line."""
        now = time.monotonic()
        with self.stats_lock:
            self.counts[f'errors_{kind}'] += 1
            last, left_out = self.last_logged.get(kind, (None, 0))
            if last is not None and now - last < THROTTLE_S:
                self.last_logged[kind] = (last, left_out + 1)
                return
            self.last_logged[kind] = (now, 0)
        more = f' ({left_out} more of this kind in the last {THROTTLE_S:g} s)' if left_out else ''
        self.get_logger().warning(text + more)

    def _work(self) -> None:
        while not self.stopping.is_set():
            if not self.frame_ready.wait(timeout=0.1):
                continue
            with self.frame_lock:
                message, self.latest = self.latest, None
                self.frame_ready.clear()
            if message is None:
                continue
            try:
                self._process(message)
            except RuntimeError:
                if self.context.ok():
                    raise
                return  # SIGINT / SIGTERM shut the context down while this frame was processed

    def _future_stamp(self, stamp: float) -> bool:
        """True (skip the frame) for a stamp far in the future: more than FUTURE_TOLERANCE_S
        ahead of this node's clock, or of the last frame processed unless the next frame
        confirms the new time (a bag seek, a camera restarted after minutes). After
        CLOCK_RESET_FRAMES frames in a row ahead of the node's clock, the camera's clock runs
        ahead of this one and the node goes on with it."""
        now = self.get_clock().now().nanoseconds * 1e-9
        ahead_of_clock = stamp - now > FUTURE_TOLERANCE_S
        self.future_frames_in_a_row = self.future_frames_in_a_row + 1 if ahead_of_clock else 0
        if ahead_of_clock and self.future_frames_in_a_row < CLOCK_RESET_FRAMES:
            self._count_error('future_stamp', f'frame stamped {stamp:.3f} s is {stamp - now:.0f} '
                              's ahead of this node\'s clock: skipped')
            return True
        if ahead_of_clock and self.future_frames_in_a_row == CLOCK_RESET_FRAMES:
            self.get_logger().warning(f'{CLOCK_RESET_FRAMES} frames in a row stamped '
                                      f'{stamp - now:.0f} s ahead of this node\'s clock: going '
                                      'on with the camera\'s clock (are the clocks synchronised?)')
        jump = self.last_stamp is not None and stamp - self.last_stamp > FUTURE_TOLERANCE_S
        confirmed = self.pending_jump is not None and stamp >= self.pending_jump
        self.pending_jump = stamp if jump and not confirmed else None
        if jump and not confirmed:
            self._count_error('future_stamp', f'frame stamped {stamp:.3f} s is '
                              f'{stamp - self.last_stamp:.0f} s after the last one processed: '
                              'skipped unless the next frame confirms the new time')
            return True
        return False

    def _process(self, message) -> None:
        began = time.perf_counter()
        stamp = stamp_to_seconds(message.header.stamp)
        if self._future_stamp(stamp):
            return
        if self.last_stamp is not None and stamp < self.last_stamp:
            self.past_frames_in_a_row += 1
            if self.past_frames_in_a_row < CLOCK_RESET_FRAMES:
                self._count_error('stale_frame', f'frame stamped {stamp:.3f} s is older than the '
                                  f'last one processed ({self.last_stamp:.3f} s): skipped')
                return
            self.get_logger().warning(f'{CLOCK_RESET_FRAMES} frames in a row from before '
                                      f'{self.last_stamp:.3f} s: clock reset, going on from '
                                      f'{stamp:.3f} s')
        self.past_frames_in_a_row = 0
        try:
            image = self.image_input.decode(message)
        except ImageEncodingError as error:
            self._count_error('image', f'image skipped: {error}')
            return
        height, width = image.shape[:2]
        roi = self._current_roi(width, height)
        boxes = self.person_boxes.current() if roi is None else None
        converted = time.perf_counter()
        try:
            with self.pipeline_lock:
                result = self.pipeline.process(image, stamp, message.header.frame_id,
                                               self._intrinsics_for(width, height), roi,
                                               boxes)
        except (HpmError, ValueError, RuntimeError) as error:
            self._count_error('pipeline', f'frame skipped: {type(error).__name__}: {error}')
            return
        processed = time.perf_counter()
        self.last_stamp = stamp
        header = message.header
        finite = not result.valid or bool(np.isfinite(result.joints3d_camera).all())
        if not finite:
            self._count_error('pipeline', f'non-finite pose at {stamp:.3f} s: published as lost')
        bodies = [p for p in result.people if np.isfinite(p.joints3d_camera).all()]
        if result.valid and finite:
            self.pose_publisher.publish(pose_to_pose_array(result.joints3d_camera, header))
            self.marker_publisher.publish(body_markers(
                bodies, header, self.values['marker_lifetime_s']))
        else:
            with self.stats_lock:
                self.counts['person_lost'] += 1
            self.pose_publisher.publish(PoseArray(header=header))
            self.marker_publisher.publish(delete_markers(header))
        self.body_topics.publish(bodies, header, width, height)
        if self.debug_publisher is not None:
            from hpm_ros.render import draw_people_2d

            overlay = draw_people_2d(
                image, np.array([p.keypoints2d for p in bodies]).reshape(-1, 17, 2),
                np.array([p.confidence for p in bodies]).reshape(-1, 17),
                np.array([p.track_id for p in bodies]), self.values['joint_confidence'])
            self.debug_publisher.publish(rgb_to_image_msg(overlay, header))
        published = time.perf_counter()
        with self.stats_lock:
            self.counts['frames_processed'] += 1
            self.counts['correction_applied'] += int(result.correction_applied)
            self.counts['correction_discarded'] += int(result.correction_discarded)
            self.counts['state_resets'] += int(bool(result.state_reset))
            self.counts['bodies_tracked'] = len(bodies)
            self.counts['bodies_max'] = max(self.counts['bodies_max'], len(bodies))
            for stage in STAGES:
                self.timings[stage].append(result.timings_ms[stage])
            self.timings['node_overhead'].append(
                ((converted - began) + (published - processed)) * 1000.0)

    def _publish_diagnostics(self) -> None:
        with self.stats_lock:
            counts = dict(self.counts)
            timings = {stage: list(samples) for stage, samples in self.timings.items()}
        now = time.monotonic()
        start, processed_then, errors_then = self.window_start
        errors = sum(counts[f'errors_{kind}'] for kind in ERROR_KINDS)
        rate = (counts['frames_processed'] - processed_then) / max(now - start, 1e-6)
        self.window_start = (now, counts['frames_processed'], errors)
        values = {'rate_hz': rate, 'backend': self.pipeline.backend.name,
                  'backend_selection': self.pipeline.backend.selection,
                  'correction_runtimes': str(self.pipeline.lifter.correction_runtimes),
                  'person_box_errors': self.person_boxes.errors if self.person_boxes else 0,
                  'model': str(self.pipeline.checkpoint.path),
                  'correction_preset': self.values['correction_preset'], **counts}
        for stage, samples in timings.items():
            values[f'latency_ms_{stage}'] = float(np.mean(samples)) if samples else 0.0
        report = self.input_monitor.report(now)
        values.update(report.values)
        if self.image_input is not None:
            values.update(self.image_input.status())
        else:
            values['image_topic'] = 'not subscribed (node inactive)'
        new_errors = errors - errors_then
        level = 'WARN' if new_errors or report.level != 'OK' else 'OK'
        text = (f'{report.message}, processing {rate:.1f} Hz'
                + (f', {new_errors} input errors' if new_errors else ''))
        self.diagnostics_publisher.publish(diagnostics_message(
            f'{self.get_name()}: pose pipeline', self.get_fully_qualified_name(), level, text,
            values, self.get_clock().now().nanoseconds * 1e-9))

    def stop(self) -> None:
        """Stop and join the worker thread (it finishes the frame it is processing)."""
        self.stopping.set()
        self.frame_ready.set()
        if self.worker is not None:
            self.worker.join()
            self.worker = None


def main(args: list = None) -> int:
    """Console script ``hpm_pose_node``: ``--ros-args`` (params files, -p, -r) are honoured.

    Returns 0 after SIGINT / SIGTERM, 1 when the node cannot start (the reason logged once).
    """
    argv = sys.argv if args is None else list(args)
    parser = argparse.ArgumentParser(
        prog='hpm_pose_node', description='3D human pose node; configure it with --ros-args '
        '(--params-file config/pose.yaml, -p name:=value, -r image:=/camera/image_raw).',
        epilog='Large images between processes: the camera driver needs the Fast DDS profile '
        'too; start it from a shell with: eval "$(hpm fastdds-profile)" (README, "Large '
        'images over DDS").')
    add_profile_argument(parser)
    parser.add_argument('--autostart', choices=('true', 'false'), default='true',
                        help='configure and activate at start (default true); false: stay '
                        'unconfigured for the lifecycle services (~/change_state)')
    parser.add_argument('--no-autostart', dest='autostart', action='store_const',
                        const='false', help='the same as --autostart false')
    options = parser.parse_args(remove_ros_args(argv)[1:])
    autostart = options.autostart == 'true'
    try:
        profile = apply_profile(options.fastdds_profile)
    except FileNotFoundError as error:
        parser.error(str(error))
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.ALL)
    try:
        node = PoseNode()
        node.quiet_configure = autostart
        if autostart and \
                node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise ValueError(node.configure_error)
    except (HpmError, ValueError, ParameterException) as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {error}')
        rclpy.try_shutdown()
        return 1
    node.quiet_configure = False
    node.get_logger().info(describe(profile))
    if autostart:
        node.trigger_activate()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
