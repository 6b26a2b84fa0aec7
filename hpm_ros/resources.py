"""Where the package's installed files are: share folder, shipped models, configs."""
from __future__ import annotations

from pathlib import Path

PACKAGE = 'hpm_ros'
DEFAULT_MODEL = 'hpm_lite.pt'


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


def default_model_path() -> Path:
    """Return the shipped default checkpoint, ``models/hpm_lite.pt``."""
    return package_share() / 'models' / DEFAULT_MODEL


def config_path(name: str) -> Path:
    """Return the path of ``name`` in the package's ``config/`` folder."""
    return package_share() / 'config' / name
