"""Launch the hpm_pose node (and optionally RViz): ros2 launch hpm_ros pose.launch.py."""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Describe the hpm_pose node with its parameters file, remappings and optional RViz."""
    share = get_package_share_directory('hpm_ros')
    arguments = [
        DeclareLaunchArgument('image', default_value='/camera/image_raw',
                              description='sensor_msgs/Image topic of the camera'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info',
                              description='sensor_msgs/CameraInfo topic of the camera'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'pose.yaml'),
                              description='YAML file of the node parameters'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node (one node per camera)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='log level: debug, info, warn, error or fatal'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='true to start RViz with config/hpm.rviz'),
    ]
    pose_node = Node(
        package='hpm_ros', executable='hpm_pose_node', name='hpm_pose',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file')],
        remappings=[('image', LaunchConfiguration('image')),
                    ('camera_info', LaunchConfiguration('camera_info'))],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen')
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2',
        arguments=['-d', os.path.join(share, 'config', 'hpm.rviz')],
        condition=IfCondition(LaunchConfiguration('rviz')))
    return LaunchDescription(arguments + [pose_node, rviz])
