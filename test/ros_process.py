"""The integration tests' process helpers (they live in :mod:`hpm_ros.ros.processes`)."""
from hpm_ros.ros.processes import Client, NodeProcess, ros_environment, wait_for

__all__ = ['Client', 'NodeProcess', 'ros_environment', 'wait_for']
