"""Several people on the ROS graph: markers per body, REP-155-style body topics, external boxes.

Outputs (REP-155 / ROS4HRI naming). A body's ID is 'b' + its tracking ID (e.g. 'b3': ROS
names may not start a token with a digit); people without a tracking ID (the psi_r front
end) have no body topics.

- ``/humans/bodies/tracked``: the IDs of the bodies of the frame, ``hri_msgs/IdsList`` where
  hri_msgs is importable, else ``std_msgs/String`` (the IDs separated by single spaces, in
  the order of the frame's people: primary first). Published for every processed frame,
  empty when nobody is there.
- ``/humans/bodies/<id>/roi``: the body's 2D box, ``hri_msgs/NormalizedRegionOfInterest2D``
  (coordinates in [0, 1] of the image, ``c`` the front end's score) where importable, else
  ``sensor_msgs/RegionOfInterest`` (pixels; no header, published right after the tracked
  list of the same frame).
- ``/humans/bodies/<id>/skeleton3d``: ``geometry_msgs/PoseArray`` of the body's joints in the
  image's frame (camera optical frame, m), the node's ``joint_names`` order (the same message
  as ``~/pose3d`` for the primary person). REP-155 has no 3D skeleton message of its own
  (ROS4HRI publishes a URDF per body, out of scope here).
- ``/humans/bodies/<id>/position``: ``geometry_msgs/PointStamped``, the body's root joint.

A body's publishers are created when its ID first appears and destroyed once it has been
absent for ``BODY_TOPIC_TIMEOUT_S``.

External person boxes (``~/person_boxes``, or remapped): ``vision_msgs/Detection2DArray``
where vision_msgs is importable (every detection's ``bbox``, centre and size in pixels,
detections of any class; filter upstream), else ``std_msgs/Float32MultiArray`` of N x 4
values (x0, y0, width, height px per box, row-major). Boxes older than
``BOXES_MAX_AGE_S`` (receive time) are not used.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
from geometry_msgs.msg import Point, PointStamped, PoseArray
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import ColorRGBA, Float32MultiArray, String
from visualization_msgs.msg import Marker, MarkerArray

from hpm_ros.render import track_colour
from hpm_ros.rep155 import BODY_TOPIC, TRACKED_TOPIC, body_id
from hpm_ros.ros.conversions import delete_markers, pose_to_markers, pose_to_pose_array

BODY_TOPIC_TIMEOUT_S = 5.0
BOXES_MAX_AGE_S = 1.0
MARKERS_PER_BODY = 100
LABEL_MARKER = 4
LABEL_HEIGHT_M = 0.12


def optional_message(module: str, name: str):
    """Return the message class ``module.msg.name`` when importable, else None."""
    import importlib

    try:
        return getattr(importlib.import_module(f'{module}.msg'), name)
    except (ImportError, AttributeError):
        return None


def body_markers(people: list, header, lifetime_s: float, namespace: str = 'hpm') -> MarkerArray:
    """Build the markers of every body.

    One DELETEALL first (bodies that left disappear at once), then per body with tracking ID
    b the skeleton of :func:`pose_to_markers` with ids b*100 + 0..3 (joints and centre bones
    in the ID's colour, left bones red, right bones green) and a TEXT_VIEW_FACING label with
    the body ID (id b*100 + 4) above the head. people: :class:`hpm_ros.lifting.LiftedPerson`
    with finite ``joints3d_camera`` [17, 3] m.
    """
    array = delete_markers(header, namespace)
    for person in people:
        base = max(person.track_id, 0) * MARKERS_PER_BODY
        colour = ColorRGBA(**dict(zip('rgb', track_colour(person.track_id))), a=1.0)
        skeleton = pose_to_markers(person.joints3d_camera, header, lifetime_s, namespace,
                                   marker_id_base=base).markers
        skeleton[0].colors = [colour] * len(skeleton[0].colors)
        skeleton[3].color = colour
        head = person.joints3d_camera.astype(np.float64)[np.argmin(person.joints3d_camera[:, 1])]
        label = Marker(header=skeleton[0].header, ns=namespace, id=base + LABEL_MARKER,
                       type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                       lifetime=skeleton[0].lifetime, color=colour,
                       text=body_id(person.track_id) or 'person')
        label.pose.position = Point(x=head[0], y=head[1] - 0.2, z=head[2])
        label.pose.orientation.w = 1.0
        label.scale.z = LABEL_HEIGHT_M
        array.markers += skeleton + [label]
    return array


class BodyTopics:
    """The REP-155-style per-body outputs of one node (see the module docstring)."""

    def __init__(self, node) -> None:
        self.node = node
        self.ids_type = optional_message('hri_msgs', 'IdsList')
        self.roi_type = optional_message('hri_msgs', 'NormalizedRegionOfInterest2D')
        self.tracked = node.create_publisher(self.ids_type or String, TRACKED_TOPIC, 10)
        self.bodies = {}

    def close(self) -> None:
        """Destroy the tracked-list publisher and every body's publishers."""
        for publishers in self.bodies.values():
            for name in ('roi', 'skeleton3d', 'position'):
                self.node.destroy_publisher(publishers[name])
        self.bodies = {}
        self.node.destroy_publisher(self.tracked)

    @property
    def message_types(self) -> str:
        """'hri_msgs' or 'standard messages' (for logs and diagnostics)."""
        return 'hri_msgs' if self.ids_type is not None else 'standard messages'

    def _publishers(self, body: str) -> dict:
        if body not in self.bodies:
            create = self.node.create_publisher
            self.bodies[body] = {
                'roi': create(self.roi_type or RegionOfInterest,
                              BODY_TOPIC.format(id=body, name='roi'), 10),
                'skeleton3d': create(PoseArray, BODY_TOPIC.format(id=body, name='skeleton3d'),
                                     10),
                'position': create(PointStamped, BODY_TOPIC.format(id=body, name='position'),
                                   10),
                'seen': 0.0}
        return self.bodies[body]

    def _roi(self, person, header, width: int, height: int):
        x0, y0, x1, y1 = (float(v) for v in _box(person))
        if self.roi_type is not None:
            return self.roi_type(header=header, xmin=x0 / width, ymin=y0 / height,
                                 xmax=x1 / width, ymax=y1 / height, c=1.0)
        left = int(np.clip(np.floor(x0), 0, width - 1))
        top = int(np.clip(np.floor(y0), 0, height - 1))
        return RegionOfInterest(x_offset=left, y_offset=top,
                                width=int(np.clip(np.ceil(x1) - left, 0, width - left)),
                                height=int(np.clip(np.ceil(y1) - top, 0, height - top)))

    def publish(self, people: list, header, width: int, height: int) -> None:
        """Publish one frame: the tracked list, then each body's topics.

        Stale bodies' publishers are destroyed. people: lifted persons with finite
        camera-frame joints, primary first.
        """
        people = [person for person in people if person.track_id >= 0]
        ids = [body_id(person.track_id) for person in people]
        if self.ids_type is not None:
            self.tracked.publish(self.ids_type(header=header, ids=ids))
        else:
            self.tracked.publish(String(data=' '.join(ids)))
        now = time.monotonic()
        for body, person in zip(ids, people):
            publishers = self._publishers(body)
            publishers['seen'] = now
            publishers['roi'].publish(self._roi(person, header, width, height))
            publishers['skeleton3d'].publish(pose_to_pose_array(person.joints3d_camera, header))
            root = person.joints3d_camera[0].astype(np.float64)
            publishers['position'].publish(PointStamped(
                header=header, point=Point(x=root[0], y=root[1], z=root[2])))
        for body in [b for b, p in self.bodies.items() if now - p['seen'] > BODY_TOPIC_TIMEOUT_S]:
            for name in ('roi', 'skeleton3d', 'position'):
                self.node.destroy_publisher(self.bodies[body][name])
            del self.bodies[body]


def _box(person) -> tuple:
    """(x0, y0, x1, y1) px of the person's 2D joints with confidence > 0."""
    seen = person.confidence > 0
    points = person.keypoints2d[seen] if seen.any() else person.keypoints2d
    return (*points.min(axis=0), *points.max(axis=0))


class PersonBoxesSubscription:
    """The external person boxes subscription of one node (see the module docstring)."""

    def __init__(self, node, topic: str = '~/person_boxes', qos=10) -> None:
        self.detections_type = optional_message('vision_msgs', 'Detection2DArray')
        kind = self.detections_type or Float32MultiArray
        self.node = node
        self.subscription = node.create_subscription(kind, topic, self._on_boxes, qos)
        self.latest = (None, 0.0)
        self.errors = 0

    def close(self) -> None:
        """Drop the subscription."""
        self.node.destroy_subscription(self.subscription)

    @property
    def message_type(self) -> str:
        """The subscribed type's name."""
        return ('vision_msgs/Detection2DArray' if self.detections_type is not None
                else 'std_msgs/Float32MultiArray')

    def _on_boxes(self, message) -> None:
        try:
            boxes = (detections_to_boxes(message) if self.detections_type is not None
                     else array_to_boxes(message))
        except ValueError:
            self.errors += 1
            return
        self.latest = (boxes, time.monotonic())

    def current(self) -> Optional[list]:
        """Return the latest boxes [(x0, y0, width, height) px] if fresh, else None."""
        boxes, received = self.latest
        if boxes is None or time.monotonic() - received > BOXES_MAX_AGE_S:
            return None
        return boxes


def array_to_boxes(message) -> list:
    """Read a Float32MultiArray of N x 4 (x0, y0, width, height) px as [(x0, y0, w, h)].

    ValueError for a length that is not a multiple of 4, non-finite values or a negative
    size.
    """
    values = np.asarray(message.data, dtype=np.float64)
    if values.size % 4 or not np.isfinite(values).all():
        raise ValueError(f'person boxes must be N x 4 finite values, got {values.size}')
    boxes = values.reshape(-1, 4)
    if (boxes[:, 2:] < 0).any():
        raise ValueError('person boxes must have width, height >= 0')
    return [tuple(row) for row in boxes.tolist()]


def detections_to_boxes(message) -> list:
    """Read a vision_msgs/Detection2DArray as [(x0, y0, w, h)] px of every detection's bbox.

    vision_msgs 4: ``center.position.x``; 3: ``center.x``. ValueError for a non-finite box or
    a negative size.
    """
    boxes = []
    for detection in message.detections:
        box = detection.bbox
        centre = getattr(box.center, 'position', box.center)
        values = (centre.x - box.size_x / 2.0, centre.y - box.size_y / 2.0, box.size_x,
                  box.size_y)
        if not all(np.isfinite(values)) or values[2] < 0 or values[3] < 0:
            raise ValueError(f'bad bounding box {values}')
        boxes.append(tuple(float(v) for v in values))
    return boxes
