"""Where the package's installed files are: share folder, shipped models, configs."""
from __future__ import annotations

from pathlib import Path

PACKAGE = 'hpm_ros'
DEFAULT_MODEL = 'hpm_lite.pt'


def package_share() -> Path:
    """The package's share folder: ament's (colcon install) or the repository root (venv)."""
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
    """The shipped default checkpoint, ``models/hpm_lite.pt``."""
    return package_share() / 'models' / DEFAULT_MODEL


def config_path(name: str) -> Path:
    """A file of the package's ``config/`` folder."""
    return package_share() / 'config' / name
