"""hpm_ros: 3D human pose machines with self-supervised correction, for ROS 2."""

__version__ = '0.1.0'
