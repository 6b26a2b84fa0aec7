"""The shipped Fast DDS profile for large images, and how a process takes it.

``config/fastdds_large_images.xml`` replaces Fast DDS's default transports by UDPv4 and
shared memory with a 16 MiB segment (the default segment, 512 KiB, holds less than one
640x480 rgb8 frame, and best-effort frames larger than that are lost between processes; see
``bench/transport.py`` and the README's delivery table). The segment is the sender's: the
camera driver needs the profile as much as the node does.

Fast DDS reads ``FASTDDS_DEFAULT_PROFILES_FILE`` (3.x: Kilted and later) or
``FASTRTPS_DEFAULT_PROFILES_FILE`` (2.x: Humble, Jazzy, which ``ROS_DISTRO`` names) when a
process creates its first participant, so a console script applies the profile by setting it
in its own environment before ``rclpy.init``. A profile the user chose (either variable set,
or ``FASTDDS_BUILTIN_TRANSPORTS``) is left alone. No rclpy import here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping, Optional

from hpm_ros.resources import config_path

PROFILE_NAME = 'fastdds_large_images.xml'
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')
USER_TRANSPORT_VARIABLES = PROFILE_VARIABLES + ('FASTDDS_BUILTIN_TRANSPORTS',)
CHOICES_HELP = ("Fast DDS profile of this process: 'auto' (default) = the shipped "
                f'{PROFILE_NAME} unless FASTDDS_DEFAULT_PROFILES_FILE, '
                'FASTRTPS_DEFAULT_PROFILES_FILE or FASTDDS_BUILTIN_TRANSPORTS is set; '
                "'none' = Fast DDS defaults; or the path of an XML profile")


def shipped_profile() -> Path:
    """Return the installed ``config/fastdds_large_images.xml``."""
    return config_path(PROFILE_NAME)


def profile_variable(environment: MutableMapping[str, str] = None) -> str:
    """Return the profile variable that this ROS distribution's Fast DDS reads."""
    environment = os.environ if environment is None else environment
    distro = environment.get('ROS_DISTRO', '').lower()
    return PROFILE_VARIABLES[1] if distro in FAST_DDS_2_DISTROS else PROFILE_VARIABLES[0]


def profile_for(choice: str, environment: MutableMapping[str, str]) -> Optional[Path]:
    """Return the profile that ``choice`` ('auto', 'none', a path) selects in ``environment``.

    None means: set nothing ('none', or 'auto' when the user configured Fast DDS already).
    FileNotFoundError for a path that does not exist.
    """
    if choice == 'none':
        return None
    if choice == 'auto':
        if any(environment.get(name) for name in USER_TRANSPORT_VARIABLES):
            return None
        return shipped_profile()
    path = Path(choice).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f'Fast DDS profile {path} does not exist')
    return path


def apply_profile(choice: str = 'auto',
                  environment: MutableMapping[str, str] = None) -> Optional[Path]:
    """Set the profile variables for ``choice`` in ``environment`` (default ``os.environ``).

    Call it before ``rclpy.init`` in a console script (or on a child's environment). Returns
    the profile now in effect for Fast DDS, None for its defaults or the user's own setup.
    """
    environment = os.environ if environment is None else environment
    profile = profile_for(choice, environment)
    if profile is not None:
        environment[profile_variable(environment)] = str(profile)
    return profile


def describe(profile: Optional[Path], environment: MutableMapping[str, str] = None) -> str:
    """One line for the logs: which transport setup this process runs with."""
    environment = os.environ if environment is None else environment
    if profile is not None:
        return f'Fast DDS profile {profile}'
    chosen = [f'{name}={environment[name]}' for name in USER_TRANSPORT_VARIABLES
              if environment.get(name)]
    return 'Fast DDS: ' + (', '.join(chosen) if chosen else 'default transports (large '
                           'best-effort images are lost between processes)')


def add_profile_argument(parser) -> None:
    """Add ``--fastdds-profile`` to an argparse parser."""
    parser.add_argument('--fastdds-profile', default='auto', metavar='auto|none|PATH',
                        help=CHOICES_HELP)


def export_line() -> str:
    """Return the shell line that gives another process (a driver) the shipped profile."""
    return f'export {profile_variable()}={shipped_profile()}'


def add_parser(commands) -> None:
    """Register `hpm fastdds-profile`."""
    commands.add_parser(
        'fastdds-profile', help='print the shell line that gives a camera driver started '
        'elsewhere the shipped Fast DDS profile for large images: eval "$(hpm fastdds-profile)"')


def run(args) -> int:
    """Entry point of `hpm fastdds-profile`."""
    print(export_line())
    return 0
