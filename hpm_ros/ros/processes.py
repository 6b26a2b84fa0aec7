"""A node in its own process and a client graph in this one, for the demo, tests and benches.

Every graph keeps DDS discovery on localhost and uses the caller's ROS_DOMAIN_ID. Processes
are stopped with SIGINT / SIGTERM first (Fast DDS then removes its shared-memory files).
"""
import os
import signal
import subprocess
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor


def ros_environment(domain_id: int) -> dict:
    """os.environ with localhost-only discovery and ``domain_id``."""
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID=str(domain_id),
               PYTHONUNBUFFERED='1')
    return env


class NodeProcess:
    """``python -m MODULE [PROGRAM_ARGS] --ros-args ARGS`` in its own process; stopped with a
    signal."""

    def __init__(self, module: str, ros_args: list, domain_id: int, log_path,
                 program_args: tuple = ()) -> None:
        self.log_path = log_path
        self.log = open(log_path, 'w')
        self.process = subprocess.Popen(
            [sys.executable, '-m', module, *program_args, '--ros-args', *ros_args],
            env=ros_environment(domain_id), stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.process.poll() is None

    def output(self) -> str:
        """Return what the process printed so far."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as log:
            return log.read()

    def stop(self, timeout_s: float = 15.0, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` (SIGINT or SIGTERM), wait; SIGKILL only when it hangs.

        Returns the exit code.
        """
        if self.alive():
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


class Client:
    """An rclpy node in this process, in its own context, spun by a background thread."""

    def __init__(self, domain_id: int, name: str = 'hpm_test_client') -> None:
        os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID=str(domain_id))
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def collect(self, message_type, topic: str, qos=10) -> list:
        """Subscribe ``topic``; return a list that fills with (receive time, message)."""
        received = []

        def store(message):
            with self.lock:
                received.append((time.perf_counter(), message))

        self.node.create_subscription(message_type, topic, store, qos)
        return received

    def close(self) -> None:
        """Stop spinning, wait for the spin thread to leave, then destroy the node and shut
        the context down (destroying the node while the thread still waits on it can leave the
        thread looping)."""
        self.executor.shutdown()
        self.thread.join(timeout=10.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
