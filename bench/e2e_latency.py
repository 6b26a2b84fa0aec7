"""End-to-end latency (image stamp -> PoseArray received) and delivery, camera -> node over DDS.

Usage: python bench/e2e_latency.py [--seconds 10] [--video samples/room_walk.mp4]
       [--cases 640x480@30:raw,640x480@30:compressed,1280x720@30:raw,1280x720@30:compressed]
       [--model PATH] [--domain-id 195]

A case is SIZE@RATE:TRANSPORT[:reliable]. Per case, three processes, as the README starts
them: ``hpm_pose_node`` (the shipped model unless --model, default parameters, its console
script's default Fast DDS profile; ``image_transport`` set to the case's), ``hpm camera
--video VIDEO --loop --size SIZE --rate RATE`` (``--compressed`` for compressed cases: JPEG
quality 90, encoded in the camera process after the stamp is taken), and this one,
subscribing ``/hpm_pose/pose3d`` and ``/diagnostics``. Latency = receive time of a PoseArray
minus its header stamp (the camera's capture stamp; one clock). The first 2 s of answers
(model warm-up, discovery) are left out. Transport = the node's ``input_age_ms`` (arrival
minus stamp, median per diagnostics window, averaged over the run); pipeline = the node's
``latency_ms_total``. Printed per case: frames sent, % received by the node, answers per
frame sent (the node keeps only the newest frame, so a pipeline slower than the camera
answers fewer), latency p50 / p95, transport ms and its share of the p50, the node's own
decoding + publishing (``latency_ms_node_overhead``) and the pipeline.
"""
import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_S = 2.0


def percentile(samples, fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (fraction in [0, 1])."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def parse_case(text: str) -> dict:
    """Return the fields of ``'1280x720@30:compressed[:reliable]'``."""
    match = re.fullmatch(r'(\d+x\d+)@([\d.]+):(raw|compressed)(:reliable)?', text)
    if match is None:
        raise ValueError(f'a case is SIZE@RATE:raw|compressed[:reliable], got {text!r}')
    return {'size': match[1], 'rate': float(match[2]), 'transport': match[3],
            'reliable': bool(match[4])}


class Listener:
    """Poses and the node's diagnostics values, collected in this process."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseArray
        from rclpy.executors import SingleThreadedExecutor

        from hpm_ros.ros.conversions import stamp_to_seconds

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('bench_e2e_listener', context=self.context)
        self.poses, self.diagnostics = [], []
        self.lock = threading.Lock()

        def on_pose(message: PoseArray) -> None:
            with self.lock:
                self.poses.append((time.time(), stamp_to_seconds(message.header.stamp),
                                   len(message.poses)))

        def on_diagnostics(message: DiagnosticArray) -> None:
            for status in message.status:
                if status.name.startswith('hpm_pose'):
                    with self.lock:
                        self.diagnostics.append({v.key: v.value for v in status.values})

        self.node.create_subscription(PoseArray, '/hpm_pose/pose3d', on_pose, 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        import rclpy

        self.executor.shutdown()
        self.thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_case(case: dict, args, env: dict, listener: Listener) -> dict:
    """Node + camera for one case; returns the measured numbers."""
    node_command = [sys.executable, '-m', 'hpm_ros.ros.node', '--ros-args',
                    '-p', f'image_transport:={case["transport"]}',
                    '-r', 'image:=/camera/image_raw', '-r', 'camera_info:=/camera/camera_info']
    if args.model:
        node_command += ['-p', f'model_path:={args.model}']
    node = subprocess.Popen(node_command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120.0
        with listener.lock:
            listener.diagnostics.clear()
        while not listener.diagnostics and time.monotonic() < deadline:
            time.sleep(0.1)
        with listener.lock:
            listener.poses.clear()
            listener.diagnostics.clear()
        frames = int(args.seconds * case['rate'])
        camera_command = [sys.executable, '-m', 'hpm_ros.cli', 'camera', '--video', args.video,
                          '--loop', '--size', case['size'], '--rate', f'{case["rate"]:g}',
                          '--frames', str(frames), '--wait', '30']
        if case['transport'] == 'compressed':
            camera_command.append('--compressed')
        if case['reliable']:
            camera_command.append('--reliable')
        began = time.time()
        camera = subprocess.run(camera_command, env=env, capture_output=True, text=True,
                                timeout=args.seconds * 3 + 60)
        time.sleep(2.0)
    finally:
        node.send_signal(signal.SIGINT)
        node_output, _ = node.communicate(timeout=30)
    found = re.findall(r'image_raw (\d+), image_raw/compressed (\d+)', camera.stdout)
    raw, compressed = (int(n) for n in found[-1]) if found else (0, 0)
    sent = compressed if case['transport'] == 'compressed' else raw
    with listener.lock:
        poses = list(listener.poses)
        diagnostics = list(listener.diagnostics)
    start = min((stamp for _, stamp, _ in poses), default=began)
    latencies = [(received - stamp) * 1000.0 for received, stamp, _ in poses
                 if stamp >= start + WARM_UP_S]
    received = max((int(d.get('frames_received', 0)) for d in diagnostics), default=0)
    ages = [float(d['input_age_ms']) for d in diagnostics
            if float(d.get('input_rate_hz', 0)) > 0]
    totals = [float(d['latency_ms_total']) for d in diagnostics
              if float(d.get('latency_ms_total', 0)) > 0]
    overheads = [float(d['latency_ms_node_overhead']) for d in diagnostics
                 if float(d.get('latency_ms_node_overhead', 0)) > 0]
    return {'sent': sent, 'received': received, 'answers': len({s for _, s, _ in poses}),
            'p50': percentile(latencies, 0.5) if latencies else float('nan'),
            'p95': percentile(latencies, 0.95) if latencies else float('nan'),
            'transport': float(np.mean(ages)) if ages else float('nan'),
            'pipeline': float(np.mean(totals)) if totals else float('nan'),
            'overhead': float(np.mean(overheads)) if overheads else float('nan'),
            'camera_rc': camera.returncode,
            'log': camera.stderr[-400:] + node_output[-400:]}


def main() -> None:
    """Run the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--video', default=str(ROOT / 'samples' / 'room_walk.mp4'))
    parser.add_argument('--cases', default='640x480@30:raw,640x480@30:compressed,'
                        '1280x720@30:raw,1280x720@30:compressed')
    parser.add_argument('--model', help='checkpoint (default: the shipped model)')
    parser.add_argument('--domain-id', type=int, default=195)
    args = parser.parse_args()
    cases = [parse_case(text) for text in args.cases.split(',')]
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=str(args.domain_id), PYTHONUNBUFFERED='1')
    os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                      ROS_DOMAIN_ID=str(args.domain_id))
    print(f'# {platform.node()}: {os.cpu_count()} cores, {platform.platform()}; video '
          f'{Path(args.video).name}, {args.seconds:g} s per case, model '
          f'{args.model or "shipped"}, domain {args.domain_id}')
    print('| case | sent | received % | answers % | latency p50 ms | p95 ms | transport ms '
          '(share of p50) | decode + publish ms | pipeline ms |')
    print('|---|---|---|---|---|---|---|---|---|')
    listener = Listener()
    try:
        for text, case in zip(args.cases.split(','), cases):
            row = run_case(case, args, env, listener)
            if row['camera_rc'] != 0 or not row['sent']:
                print(f'| {text} | camera failed: {row["log"]!r} |', flush=True)
                continue
            share = row['transport'] / row['p50'] * 100.0
            print(f'| {text} | {row["sent"]} | {100.0 * row["received"] / row["sent"]:.0f} | '
                  f'{100.0 * row["answers"] / row["sent"]:.0f} | {row["p50"]:.0f} | '
                  f'{row["p95"]:.0f} | {row["transport"]:.1f} ({share:.0f} %) | '
                  f'{row["overhead"]:.1f} | {row["pipeline"]:.1f} |', flush=True)
    finally:
        listener.close()


if __name__ == '__main__':
    main()
