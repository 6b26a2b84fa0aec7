"""REP-155 (ROS4HRI) names of the bodies hpm_ros tracks: topics and body IDs. ROS-free.

A body's ID is 'b' + its tracking ID ('b3'): REP-155 IDs are strings, and a ROS name token may
not start with a digit. People without a tracking ID (-1) have no body ID.
"""
from __future__ import annotations

TRACKED_TOPIC = '/humans/bodies/tracked'
BODY_TOPIC = '/humans/bodies/{id}/{name}'
BODIES_PREFIX = '/humans/bodies/'


def body_id(track_id: int) -> str:
    """Return the REP-155 body ID of a tracking ID ('b3'); '' for none (-1)."""
    return f'b{track_id}' if track_id >= 0 else ''
