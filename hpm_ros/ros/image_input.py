"""The node's camera input: raw or compressed images, with QoS matched to the publishers.

``transport='raw'`` subscribes ``image`` (sensor_msgs/Image); ``'compressed'`` subscribes
``<resolved image topic>/compressed`` (sensor_msgs/CompressedImage, JPEG or PNG), the topic
``image_transport``'s compressed plugin publishes: the base name is remapped first
(``-r image:=/camera/image_raw`` gives ``/camera/image_raw/compressed``), as image_transport
does.

Reliability, like ``ros2 bag record``: reliable when every publisher on the topic is reliable,
best effort otherwise (a best-effort subscription matches both kinds, a reliable one only
reliable publishers; a reliable camera then delivers every frame, repaired when fragments are
lost, instead of the share that survives best effort). The publishers are looked up every
``CHECK_PERIOD_S``. The subscription exists while there are publishers: it is created when
the first one appears (with the QoS that fits it, so a camera never has to be re-matched
after its first frames), re-created when a change of the publishers changes the choice, and
removed when the last one leaves. A user override,
``qos_overrides.<topic>.subscription.reliability``, wins: the subscription is then created
at once with it and never changed. History and depth (keep last 5, sensor data) take the
usual ``qos_overrides.<topic>.subscription.{history,depth}`` parameters. Every choice is
logged.
"""
from __future__ import annotations

import copy
from typing import Callable, List, Optional, Tuple

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.parameter import Parameter
from rclpy.qos import QoSPolicyKind, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from hpm_ros.image_codec import compressed_msg_to_rgb
from hpm_ros.ros.conversions import image_msg_to_rgb

TRANSPORTS = ('raw', 'compressed')
CHECK_PERIOD_S = 0.5
_NAMES = {ReliabilityPolicy.RELIABLE: 'reliable', ReliabilityPolicy.BEST_EFFORT: 'best effort'}


def choose_reliability(
        offered: List[ReliabilityPolicy]) -> Tuple[Optional[ReliabilityPolicy], str]:
    """Return (reliability, reason) for publishers offering ``offered``; None: none yet."""
    if not offered:
        return None, 'no publisher: waiting for one'
    reliable = sum(policy == ReliabilityPolicy.RELIABLE for policy in offered)
    if reliable == len(offered):
        return ReliabilityPolicy.RELIABLE, f'{reliable} publisher(s), all reliable'
    return ReliabilityPolicy.BEST_EFFORT, (f'{len(offered) - reliable} of {len(offered)} '
                                           'publisher(s) best effort')


def subscription_topic(node, transport: str, base: str = 'image') -> str:
    """Return the topic of ``transport``: ``/ns/image`` or ``/ns/image/compressed``."""
    if transport not in TRANSPORTS:
        raise ValueError(f'image_transport must be one of {TRANSPORTS}, got {transport!r}')
    resolved = node.resolve_topic_name(base)
    return resolved if transport == 'raw' else resolved.rstrip('/') + '/compressed'


def _reliability_override(node, topic: str) -> Optional[str]:
    """Return the user's ``qos_overrides.<topic>.subscription.reliability``, if given.

    Probed by declaring it without a default (an override gives it a value), then undeclared
    again so that rclpy declares it the usual way, read-only, when it is used.
    """
    name = f'qos_overrides.{topic}.subscription.reliability'
    node.declare_parameter(name, Parameter.Type.STRING, ParameterDescriptor(
        description='probe of the reliability override'))
    value = node.get_parameter_or(name).value
    node.undeclare_parameter(name)
    return value


class ImageInput:
    """The image subscription of ``node``; ``callback(message)`` gets Image or CompressedImage.

    ``decode(message)`` turns either into ``[H, W, 3] uint8`` RGB (ImageEncodingError for bad
    input); ``status()`` gives the diagnostics values.
    """

    def __init__(self, node, transport: str, callback: Callable, base: str = 'image') -> None:
        self.node = node
        self.transport = transport
        self.topic = subscription_topic(node, transport, base)
        self.message_type = Image if transport == 'raw' else CompressedImage
        self.callback = callback
        self.subscription = None
        self.reliability = None
        self.reason = ''
        self.publishers = None
        self.override = _reliability_override(node, self.topic)
        if self.override is not None:
            self._subscribe(None, 'set by the qos_overrides parameter')
        else:
            node.get_logger().info(f'image input {self.topic}: subscribed when a publisher '
                                   'appears, reliable if all publishers are')
        self._match_publishers()
        self.timer = node.create_timer(CHECK_PERIOD_S, self._match_publishers)

    def close(self) -> None:
        """Stop matching publishers and drop the subscription."""
        self.node.destroy_timer(self.timer)
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
            self.subscription = None

    def decode(self, message) -> np.ndarray:
        """Return ``[H, W, 3] uint8`` RGB of an Image or CompressedImage message."""
        if isinstance(message, CompressedImage):
            return compressed_msg_to_rgb(message)
        return image_msg_to_rgb(message)

    def status(self) -> dict:
        """Return the diagnostics values: topic, transport, reliability and why, publishers."""
        return {'image_topic': self.topic, 'image_transport': self.transport,
                'image_reliability': _NAMES.get(self.reliability, 'none'),
                'image_reliability_reason': self.reason,
                'image_publishers': len(self.publishers or ())}

    def _match_publishers(self) -> None:
        infos = [info for info in self.node.get_publishers_info_by_topic(self.topic)
                 if info.topic_type in ('', self._type_name())]
        publishers = sorted((tuple(info.endpoint_gid), info.qos_profile.reliability)
                            for info in infos)
        if publishers == self.publishers:
            return
        self.publishers = publishers
        if self.override is not None:
            return
        reliability, reason = choose_reliability([policy for _, policy in publishers])
        self.reason = reason
        if reliability is None and self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
            self.subscription, self.reliability = None, None
            self.node.get_logger().info(f'image input {self.topic}: {reason}')
        elif reliability is not None and reliability != self.reliability:
            self._subscribe(reliability, reason)

    def _type_name(self) -> str:
        return f'sensor_msgs/msg/{self.message_type.__name__}'

    def _subscribe(self, reliability: Optional[ReliabilityPolicy], reason: str) -> None:
        qos = copy.copy(qos_profile_sensor_data)
        if reliability is None:
            policies = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY)
        else:
            qos.reliability = reliability
            policies = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH)
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
        self.subscription = self.node.create_subscription(
            self.message_type, self.topic, self.callback, qos,
            qos_overriding_options=QoSOverridingOptions(policies))
        self.reliability = self.subscription.qos_profile.reliability
        self.reason = reason
        self.node.get_logger().info(
            f'image input {self.topic} ({self.message_type.__name__}): '
            f'{_NAMES.get(self.reliability, self.reliability)}, {reason}')
