"""The node as a managed node, driven from a plain rclpy client through lifecycle_msgs."""
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from PIL import Image as PILImage
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from hpm_ros.ros.conversions import rgb_to_image_msg, seconds_to_stamp, stamp_to_seconds
from ros_process import Client, NodeProcess, wait_for

pytestmark = pytest.mark.ros
FRAME = Path(__file__).resolve().parent / 'data' / 'blazepose' / 'room_walk_100.jpg'


def call(client, service, request, timeout_s: float = 60.0):
    future = service.call_async(request)
    assert wait_for(future.done, timeout_s), 'no answer from the lifecycle service'
    return future.result()


def transition(client, change, transition_id: int) -> bool:
    return call(client, change, ChangeState.Request(
        transition=Transition(id=transition_id))).success


def state(client, get) -> int:
    return call(client, get, GetState.Request()).current_state.id


def test_configure_fails_then_succeeds_after_fixing_the_parameter(tmp_path):
    node = NodeProcess('hpm_ros.ros.node', [
        '-p', f'model_path:={tmp_path / "missing.pt"}', '-p', 'threads:=1',
        '-r', 'image:=/life/image'], 143, tmp_path / 'node.log', program_args=('--no-autostart',))
    client = Client(143)
    try:
        change = client.node.create_client(ChangeState, '/hpm_pose/change_state')
        get = client.node.create_client(GetState, '/hpm_pose/get_state')
        assert change.wait_for_service(60.0) and get.wait_for_service(10.0), node.output()
        assert state(client, get) == State.PRIMARY_STATE_UNCONFIGURED
        assert not transition(client, change, Transition.TRANSITION_CONFIGURE)
        assert state(client, get) == State.PRIMARY_STATE_UNCONFIGURED
        failures = [line for line in node.output().splitlines() if 'configure failed' in line]
        assert len(failures) == 1 and 'missing.pt' in failures[0], node.output()

        parameters = AsyncParameterClient(client.node, '/hpm_pose')
        assert parameters.wait_for_services(10.0)
        future = parameters.set_parameters([Parameter('model_path', value='')])
        assert wait_for(future.done, 10.0) and future.result().results[0].successful
        assert transition(client, change, Transition.TRANSITION_CONFIGURE), node.output()
        assert state(client, get) == State.PRIMARY_STATE_INACTIVE

        images = client.node.create_publisher(Image, '/life/image', qos_profile_sensor_data)
        poses = client.collect(PoseArray, '/hpm_pose/pose3d')
        frame = np.asarray(PILImage.open(FRAME).convert('RGB').resize((448, 252)))

        def answered_after(t0: float, timeout_s: float) -> bool:
            deadline = time.monotonic() + timeout_s
            k = 0
            while time.monotonic() < deadline:
                k += 1
                header = Header(frame_id='camera', stamp=seconds_to_stamp(t0 + 0.01 * k))
                images.publish(rgb_to_image_msg(frame, header))
                if wait_for(lambda: any(stamp_to_seconds(m.header.stamp) > t0
                                        for _, m in list(poses)), 0.3):
                    return True
            return False

        assert not answered_after(1.0, 2.0), 'inactive: no subscription, no output'
        assert transition(client, change, Transition.TRANSITION_ACTIVATE)
        assert state(client, get) == State.PRIMARY_STATE_ACTIVE
        assert answered_after(2.0, 30.0), node.output()
        assert transition(client, change, Transition.TRANSITION_DEACTIVATE)
        assert state(client, get) == State.PRIMARY_STATE_INACTIVE
        time.sleep(0.5)
        assert not answered_after(3.0, 2.0), 'deactivated: output stops'
        assert transition(client, change, Transition.TRANSITION_ACTIVATE)
        assert answered_after(4.0, 30.0), 'active again without reloading'
        assert transition(client, change, Transition.TRANSITION_DEACTIVATE)
        assert transition(client, change, Transition.TRANSITION_CLEANUP)
        assert state(client, get) == State.PRIMARY_STATE_UNCONFIGURED
        assert 'models released' in node.output()
        assert transition(client, change, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert state(client, get) == State.PRIMARY_STATE_FINALIZED
    finally:
        client.close()
        code = node.stop()
    assert code == 0 and 'Traceback' not in node.output(), node.output()
