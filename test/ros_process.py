"""The integration tests' process helpers (they live in :mod:`hpm_ros.ros.processes`)."""
from hpm_ros.ros.processes import Client, NodeProcess, ros_environment, wait_for

__all__ = ['Client', 'NodeProcess', 'psi_r_node_arguments', 'ros_environment', 'wait_for']


def psi_r_node_arguments(model, image_topic: str, camera_info_topic: str, *extra: str) -> list:
    """Arguments of a node on a (tiny, random) psi_r checkpoint ``model`` that lifts every
    frame (lost_confidence 0), on one thread, reading ``image_topic`` and
    ``camera_info_topic``; ``extra`` are further ``-p name:=value`` pairs."""
    return ['-p', f'model_path:={model}', '-p', 'front_end:=psi_r', '-p', 'lost_confidence:=0.0',
            '-p', 'threads:=1', *extra, '-r', f'image:={image_topic}',
            '-r', f'camera_info:={camera_info_topic}']
