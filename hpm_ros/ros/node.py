"""The ``hpm_pose`` node: camera images in, 3D skeleton markers and poses out.

Subscribes ``image`` (sensor_msgs/Image, sensor-data QoS), ``camera_info`` and optional ``roi``
(sensor_msgs/RegionOfInterest); publishes ``~/pose3d`` (geometry_msgs/PoseArray, one pose per
joint in H36M-17 order, metres, in the image's frame_id and stamp), ``~/markers``
(visualization_msgs/MarkerArray), optional ``~/debug_image`` and ``/diagnostics``.
When no person is found the node publishes an empty PoseArray (same header) and a DELETEALL
marker, so consumers can tell "nobody" from "no message".

Latest-frame policy: the image callback only keeps the newest message; a worker thread runs the
pipeline, and a frame replaced before it was processed is counted as dropped. Bad input (an
unsupported or truncated image, NaN intrinsics, a frame older than the last one processed) is
logged (throttled), counted in /diagnostics and skipped. A missing or broken model stops the
node at start with one message and exit code 1.
"""
from __future__ import annotations

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
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from visualization_msgs.msg import MarkerArray

from hpm_ros.errors import CalibrationError, HpmError, ImageEncodingError
from hpm_ros.pipeline import PosePipeline
from hpm_ros.resources import default_model_path
from hpm_ros.ros.conversions import (camera_info_to_intrinsics, delete_markers,
                                     diagnostics_message, image_msg_to_rgb, pose_to_markers,
                                     pose_to_pose_array, rgb_to_image_msg, roi_to_box,
                                     stamp_to_seconds)
from hpm_ros.ros.parameters import (PARAMETERS, SPECS, check_value, correction_overrides,
                                    pipeline_config)

NODE_NAME = 'hpm_pose'
STAGES = ('crop', 'pose2d', 'transformer', 'correction', 'placement', 'total')
WINDOW = 100
THROTTLE_S = 5.0


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


class PoseNode(Node):
    """The node; see the module docstring for topics and behaviour."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        self.values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name in self.values:
            reason = check_value(name, self.values[name])
            if reason:
                raise ValueError(reason)
        self.pipeline = PosePipeline(pipeline_config(self.values, str(default_model_path())))
        self.pipeline_lock = threading.Lock()
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.frame_lock = threading.Lock()
        self.latest = None
        self.frame_ready = threading.Event()
        self.stopping = threading.Event()
        self.intrinsics = None
        self.roi = None
        self.last_stamp = None
        self.counts = Counter()
        self.timings = {stage: deque(maxlen=WINDOW) for stage in STAGES + ('node_overhead',)}
        self.window_start = (time.monotonic(), 0)

        self.create_subscription(Image, 'image', self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info,
                                 qos_profile_sensor_data)
        self.create_subscription(RegionOfInterest, 'roi', self._on_roi, qos_profile_sensor_data)
        self.pose_publisher = self.create_publisher(PoseArray, '~/pose3d', 10)
        self.marker_publisher = self.create_publisher(MarkerArray, '~/markers', 10)
        self.debug_publisher = (self.create_publisher(Image, '~/debug_image', 10)
                                if self.values['publish_debug_image'] else None)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.values['diagnostics_period_s'], self._publish_diagnostics)
        self.worker = threading.Thread(target=self._work, name='hpm_pose_worker', daemon=True)
        self.worker.start()
        checkpoint = self.pipeline.checkpoint
        self.get_logger().info(
            f'ready: model {checkpoint.path} ({checkpoint.config.name}), backend '
            f'{self.pipeline.backend.name}, correction {self.values["correction_preset"]}')

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changed = dict(self.values)
        for parameter in parameters:
            spec = SPECS.get(parameter.name)
            if spec is None:
                return SetParametersResult(successful=False, reason=f'unknown {parameter.name}')
            if not spec.dynamic:
                return SetParametersResult(
                    successful=False, reason=f'{parameter.name} is fixed after start; restart '
                    'the node to change it')
            reason = check_value(parameter.name, parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            changed[parameter.name] = parameter.value
        try:
            with self.pipeline_lock:
                self.pipeline.set_correction(changed['correction_preset'],
                                             **correction_overrides(changed))
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.values = changed
        return SetParametersResult(successful=True)

    def _on_image(self, message: Image) -> None:
        with self.frame_lock:
            self.counts['frames_received'] += 1
            if self.latest is not None:
                self.counts['frames_dropped'] += 1
            self.latest = message
        self.frame_ready.set()

    def _on_camera_info(self, message: CameraInfo) -> None:
        try:
            self.intrinsics = camera_info_to_intrinsics(message)
        except CalibrationError as error:
            self.intrinsics = None
            self._count_error('camera_info', f'camera_info ignored: {error}')

    def _on_roi(self, message: RegionOfInterest) -> None:
        self.roi = message

    def _count_error(self, kind: str, text: str) -> None:
        self.counts[f'errors_{kind}'] += 1
        self.get_logger().warning(text, throttle_duration_sec=THROTTLE_S)

    def _work(self) -> None:
        while not self.stopping.is_set():
            if not self.frame_ready.wait(timeout=0.1):
                continue
            with self.frame_lock:
                message, self.latest = self.latest, None
                self.frame_ready.clear()
            if message is not None:
                self._process(message)

    def _process(self, message: Image) -> None:
        began = time.perf_counter()
        stamp = stamp_to_seconds(message.header.stamp)
        if self.last_stamp is not None and stamp < self.last_stamp:
            self._count_error('stale_frame', f'frame stamped {stamp:.3f} s is older than the last '
                              f'one processed ({self.last_stamp:.3f} s): skipped')
            return
        try:
            image = image_msg_to_rgb(message)
        except ImageEncodingError as error:
            self._count_error('image', f'image skipped: {error}')
            return
        height, width = image.shape[:2]
        roi = roi_to_box(self.roi, width, height) if self.roi is not None else None
        converted = time.perf_counter()
        try:
            with self.pipeline_lock:
                result = self.pipeline.process(image, stamp, message.header.frame_id,
                                               self.intrinsics, roi)
        except HpmError as error:
            self._count_error('pipeline', f'frame skipped: {error}')
            return
        processed = time.perf_counter()
        self.last_stamp = stamp
        header = message.header
        if result.valid:
            self.pose_publisher.publish(pose_to_pose_array(result.joints3d_camera, header))
            self.marker_publisher.publish(pose_to_markers(
                result.joints3d_camera, header, self.values['marker_lifetime_s']))
        else:
            self.counts['person_lost'] += 1
            self.pose_publisher.publish(PoseArray(header=header))
            self.marker_publisher.publish(delete_markers(header))
        if self.debug_publisher is not None:
            from hpm_ros.render import draw_pose_2d

            overlay = draw_pose_2d(image, result.keypoints2d, result.confidence,
                                   self.values['joint_confidence'])
            self.debug_publisher.publish(rgb_to_image_msg(overlay, header))
        published = time.perf_counter()
        self.counts['frames_processed'] += 1
        self.counts['correction_applied'] += int(result.correction_applied)
        self.counts['correction_discarded'] += int(result.correction_discarded)
        if result.state_reset:
            self.counts['state_resets'] += 1
        for stage in STAGES:
            self.timings[stage].append(result.timings_ms[stage])
        self.timings['node_overhead'].append(
            ((converted - began) + (published - processed)) * 1000.0)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        start, processed_then = self.window_start
        processed = self.counts['frames_processed']
        rate = (processed - processed_then) / max(now - start, 1e-6)
        self.window_start = (now, processed)
        values = {'rate_hz': rate, 'backend': self.pipeline.backend.name,
                  'model': str(self.pipeline.checkpoint.path),
                  'correction_preset': self.values['correction_preset']}
        for key in ('frames_received', 'frames_processed', 'frames_dropped', 'person_lost',
                    'state_resets', 'correction_applied', 'correction_discarded',
                    'errors_image', 'errors_camera_info', 'errors_stale_frame',
                    'errors_pipeline'):
            values[key] = self.counts[key]
        for stage, samples in self.timings.items():
            values[f'latency_ms_{stage}'] = float(np.mean(samples)) if samples else 0.0
        errors = sum(value for key, value in self.counts.items() if key.startswith('errors_'))
        level = 'WARN' if errors else 'OK'
        text = f'{rate:.1f} Hz, {errors} input errors' if errors else f'{rate:.1f} Hz'
        self.diagnostics_publisher.publish(diagnostics_message(
            f'{self.get_name()}: pose pipeline', self.get_fully_qualified_name(), level, text,
            values, self.get_clock().now().nanoseconds * 1e-9))

    def stop(self) -> None:
        """Stop and join the worker thread."""
        self.stopping.set()
        self.frame_ready.set()
        self.worker.join(timeout=10.0)


def main(args: list = None) -> int:
    """Console script ``hpm_pose_node``: ``--ros-args`` (params files, -p, -r) are honoured."""
    rclpy.init(args=sys.argv if args is None else args)
    try:
        node = PoseNode()
    except (HpmError, ValueError) as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {error}')
        rclpy.try_shutdown()
        return 1
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
