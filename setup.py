"""Setup for the hpm_ros ament_python package (colcon or pip)."""
from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'hpm_ros'


def share_files(folder: str) -> list:
    """Return (install dir, files) pairs for every file below ``folder``, keeping sub-folders."""
    entries = []
    for dirpath, _, filenames in os.walk(folder):
        files = [os.path.join(dirpath, name) for name in sorted(filenames)]
        if files:
            entries.append((os.path.join('share', package_name, dirpath), files))
    return entries


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        *share_files('config'),
        *share_files('models'),
        *share_files('samples'),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='hpm_ros maintainers',
    maintainer_email='hpm_ros@example.org',
    description='3D human pose machines with self-supervised correction for ROS 2.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'hpm = hpm_ros.cli:main',
            'hpm_pose_node = hpm_ros.ros.node:main',
        ],
    },
)
