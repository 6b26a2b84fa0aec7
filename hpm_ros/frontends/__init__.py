"""2D front ends: one frame in, the people in it out (see :mod:`hpm_ros.frontends.base`)."""
