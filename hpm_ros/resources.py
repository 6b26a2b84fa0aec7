"""Where the package's installed files are: share folder, shipped models, configs."""
from __future__ import annotations

from pathlib import Path

PACKAGE = 'hpm_ros'
IMAGE_MODEL = 'hpm_lite.pt'
KEYPOINTS_MODEL = 'hpm_keypoints.pt'
SHIPPED_MODELS = {'blazepose': KEYPOINTS_MODEL, 'psi_r': IMAGE_MODEL}


def package_share() -> Path:
    """Return the package's share folder: ament's (colcon install) or the repository root."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
    except ImportError:
        return Path(__file__).resolve().parents[1]
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, OSError):
        return Path(__file__).resolve().parents[1]


def default_model_path(front_end: str = 'blazepose') -> Path:
    """Return the shipped lifter checkpoint of a front end: ``models/hpm_keypoints.pt`` for
    'blazepose' (the default), ``models/hpm_lite.pt`` (the paper's image model) for 'psi_r'."""
    if front_end not in SHIPPED_MODELS:
        raise ValueError(f'front end must be one of {sorted(SHIPPED_MODELS)}, got {front_end!r}')
    return package_share() / 'models' / SHIPPED_MODELS[front_end]


def sample_video_path() -> Path:
    """Return the shipped real sample clip, ``samples/room_walk.mp4`` (CC BY 4.0)."""
    return package_share() / 'samples' / 'room_walk.mp4'


def config_path(name: str) -> Path:
    """Return the path of ``name`` in the package's ``config/`` folder."""
    return package_share() / 'config' / name
