"""Launch the hpm_pose node (and optionally RViz): ros2 launch hpm_ros pose.launch.py."""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from hpm_ros.ros.transport import profile_variable


def generate_launch_description():
    """Describe the hpm_pose node with its parameters file, remappings and optional RViz.

    The Fast DDS profile for large images is set in the environment of everything this
    description launches after it (the node, RViz, and whatever a parent launch file starts
    later in the same scope, e.g. a camera driver).
    """
    share = get_package_share_directory('hpm_ros')
    variable = profile_variable()
    profile = LaunchConfiguration('fastdds_profile')
    arguments = [
        DeclareLaunchArgument('image', default_value='/camera/image_raw',
                              description='sensor_msgs/Image topic of the camera (base topic '
                              'of IMAGE/compressed with image_transport:=compressed)'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info',
                              description='sensor_msgs/CameraInfo topic of the camera'),
        DeclareLaunchArgument('image_transport', default_value='raw',
                              description='raw (sensor_msgs/Image) or compressed '
                              '(sensor_msgs/CompressedImage on IMAGE/compressed)'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'pose.yaml'),
                              description='YAML file of the node parameters'),
        DeclareLaunchArgument('fastdds_profile', default_value=EnvironmentVariable(
                                  variable, default_value=os.path.join(
                                      share, 'config', 'fastdds_large_images.xml')),
                              description='Fast DDS XML profile of everything launched here '
                              '(default: FASTDDS_DEFAULT_PROFILES_FILE, FASTRTPS_ on Humble and '
                              'Jazzy, if set, else the shipped config/fastdds_large_images.xml; '
                              'empty: Fast DDS defaults)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node (one node per camera)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='log level: debug, info, warn, error or fatal'),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='true: configure and activate the (lifecycle) node '
                              'at start; false: leave it unconfigured for a lifecycle manager'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='true to start RViz with config/hpm.rviz'),
    ]
    transport = SetEnvironmentVariable(
        variable, profile,
        condition=IfCondition(PythonExpression(["'", profile, "' != ''"])))
    pose_node = Node(
        package='hpm_ros', executable='hpm_pose_node', name='hpm_pose',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'),
                    {'image_transport': LaunchConfiguration('image_transport')}],
        remappings=[('image', LaunchConfiguration('image')),
                    ('camera_info', LaunchConfiguration('camera_info'))],
        arguments=['--fastdds-profile', 'none', '--autostart', LaunchConfiguration('autostart'),
                   '--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen')
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2',
        arguments=['-d', os.path.join(share, 'config', 'hpm.rviz')],
        condition=IfCondition(LaunchConfiguration('rviz')))
    return LaunchDescription(arguments + [transport, pose_node, rviz])
