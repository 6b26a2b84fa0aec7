"""The node's own overhead per frame next to the pipeline time, 640×480 input.

Usage: python bench/node.py [--frames 200] [--model PATH]
Overhead = decoding the sensor_msgs/Image (as the node receives it: bgr8 and rgb8,
deserialised) + building PoseArray and MarkerArray + publishing them on a real rclpy
publisher with a subscriber in the same graph (localhost discovery, domain 198). The optional
~/debug_image (drawing the 2D skeleton, building and publishing a 640×480 image) is listed on
its own line, outside the overhead.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description, time_ms  # noqa: E402


def main() -> None:
    """Print the overhead table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--model', help='checkpoint (default: the shipped model)')
    args = parser.parse_args()
    os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID='198')
    import rclpy
    from geometry_msgs.msg import PoseArray
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from hpm_ros.pipeline import PipelineConfig, PosePipeline
    from hpm_ros.render import draw_pose_2d
    from hpm_ros.resources import default_model_path
    from hpm_ros.ros.conversions import (image_msg_to_rgb, pose_to_markers, pose_to_pose_array,
                                         rgb_to_image_msg)

    rclpy.init()
    node = rclpy.create_node('hpm_bench_node')
    poses = node.create_publisher(PoseArray, 'pose3d', 10)
    markers = node.create_publisher(MarkerArray, 'markers', 10)
    debug = node.create_publisher(Image, 'debug_image', 10)
    node.create_subscription(PoseArray, 'pose3d', lambda message: None, 10)
    rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    header = Header(frame_id='camera_optical_frame')
    messages = {encoding: deserialize_message(serialize_message(
        rgb_to_image_msg(rgb, header, encoding)), Image) for encoding in ('rgb8', 'bgr8')}
    joints = np.random.default_rng(1).normal(0, 0.3, (17, 3)) + (0, 0, 3)
    keypoints = np.random.default_rng(2).uniform((100, 50), (540, 430), (17, 2))

    def publish() -> None:
        poses.publish(pose_to_pose_array(joints, header))
        markers.publish(pose_to_markers(joints, header, 0.3))

    rows = {f'decode {name} 640×480': time_ms(lambda m=m: image_msg_to_rgb(m), args.frames)
            for name, m in messages.items()}
    rows['build + publish PoseArray, MarkerArray'] = time_ms(publish, args.frames)
    rows['optional debug_image: draw + build + publish'] = time_ms(
        lambda: debug.publish(rgb_to_image_msg(draw_pose_2d(rgb, keypoints), header)),
        args.frames)
    pipeline = PosePipeline(PipelineConfig(
        model_path=str(args.model or default_model_path()), threads=1))
    pipeline_ms = time_ms(lambda: pipeline.process(rgb, 0.0, 'camera'), args.frames // 2)
    print(f'Machine: {machine_description()}')
    print('\n| step | ms/frame median | p95 |\n|---|---|---|')
    for name, (median, p95) in rows.items():
        print(f'| {name} | {median:.3f} | {p95:.3f} |')
    overhead = rows['decode bgr8 640×480'][0] + rows['build + publish PoseArray, MarkerArray'][0]
    print(f'| **node overhead (bgr8 decode + publish)** | **{overhead:.3f}** | |')
    print(f'| pipeline (lite, torch, 1 thread, correction paper) | {pipeline_ms[0]:.2f} | '
          f'{pipeline_ms[1]:.2f} |')
    print(f'\nOverhead is {100 * overhead / pipeline_ms[0]:.1f} % of the pipeline time '
          '(target ≤ 2 ms/frame).')
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
