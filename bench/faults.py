"""Fault and bad-input campaign against real hpm_pose_node processes and the offline tools.

Usage: python bench/faults.py [--quick] [--cases NAME,NAME] [--domain-id 60]

Each case starts what it needs (a node in its own process, a client graph in this one, or an
`hpm` command), provokes one fault, and prints a row: case | expected | observed | verdict.
Everything is bounded in time (the whole campaign: a few minutes on a 2-core CPU; ``--quick``
runs the cases that take seconds). DDS discovery stays on localhost, each case in its own
domain. The table of the last full run is in doc/faults.md.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hpm_ros.ros.processes import Client, NodeProcess, wait_for

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / 'test' / 'data' / 'blazepose'
SIZE = (448, 252)


def real_frame(name: str = '100') -> np.ndarray:
    """A fixture frame of the shipped clip, scaled to SIZE (under the best-effort limit)."""
    from PIL import Image

    image = Image.open(FRAMES / f'room_walk_{name}.jpg').convert('RGB')
    return np.asarray(image.resize(SIZE, Image.BILINEAR))


def hpm(*arguments: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """Run the `hpm` command of this interpreter."""
    return subprocess.run([sys.executable, '-m', 'hpm_ros.cli', *arguments], capture_output=True,
                          text=True, timeout=timeout_s)


def one_line_start_error(arguments: list, domain_id: int, folder: Path, wanted: str) -> tuple:
    """Start a node that must refuse to start: (observed text, passed)."""
    node = NodeProcess('hpm_ros.ros.node', arguments, domain_id, folder / 'node.log')
    try:
        node.process.wait(90)
    except subprocess.TimeoutExpired:
        node.stop()
        return 'still running after 90 s', False
    node.stop()
    output = node.output().strip()
    lines = output.splitlines()
    passed = (node.process.returncode == 1 and len(lines) == 1 and 'Traceback' not in output
              and wanted in output)
    last = lines[-1].split(']: ', 1)[-1][:90] if lines else ''
    return f'exit {node.process.returncode}, {len(lines)} line(s): {last}', passed


class Graph:
    """A node process with its defaults (plus ``arguments``) and a client that talks to it."""

    def __init__(self, folder: Path, domain_id: int, arguments: tuple = ()) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseArray
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        self.node = NodeProcess('hpm_ros.ros.node', [
            '-p', 'threads:=1', '-p', 'diagnostics_period_s:=0.25', *arguments,
            '-r', 'image:=/faults/image', '-r', 'camera_info:=/faults/camera_info'],
            domain_id, folder / 'node.log')
        self.client = Client(domain_id, 'hpm_faults')
        self.images = self.client.node.create_publisher(Image, '/faults/image',
                                                        qos_profile_sensor_data)
        self.infos = self.client.node.create_publisher(CameraInfo, '/faults/camera_info', 10)
        self.poses = self.client.collect(PoseArray, '/hpm_pose/pose3d')
        self.diagnostics = self.client.collect(DiagnosticArray, '/diagnostics')
        if not wait_for(lambda: self.images.get_subscription_count() > 0
                        and self.client.node.count_publishers('/hpm_pose/pose3d') > 0, 90.0):
            self.close()
            raise RuntimeError(f'the node did not come up:\n{self.node.output()[-1500:]}')

    def publish(self, image: np.ndarray, t: float, info=None) -> None:
        """Publish ``image`` stamped ``t`` s (and a CameraInfo ``info`` = (K, W, H) first)."""
        from std_msgs.msg import Header

        from hpm_ros.ros.conversions import (intrinsics_to_camera_info, rgb_to_image_msg,
                                             seconds_to_stamp)

        header = Header(frame_id='camera', stamp=seconds_to_stamp(t))
        if info is not None:
            self.infos.publish(intrinsics_to_camera_info(info[0], info[1], info[2], header))
        self.images.publish(rgb_to_image_msg(image, header))

    def answered(self, t: float, timeout_s: float = 3.0):
        """The PoseArray stamped ``t``, or None."""
        from hpm_ros.ros.conversions import stamp_to_seconds

        def find():
            return next((m for _, m in list(self.poses)
                         if abs(stamp_to_seconds(m.header.stamp) - t) < 1e-6), None)

        wait_for(lambda: find() is not None, timeout_s)
        return find()

    def warm_up(self) -> bool:
        """Publish frames until the first answer comes back (a best-effort frame sent before
        the node matched this publisher is lost)."""
        for k in range(40):
            self.publish(real_frame(), 0.01 * (k + 1))
            if self.answered(0.01 * (k + 1), 0.5) is not None:
                return True
        return False

    def status(self) -> tuple:
        """(level, message, values) of the node's latest /diagnostics status."""
        for _, message in reversed(list(self.diagnostics)):
            for status in message.status:
                if status.name.startswith('hpm_pose'):
                    return (int.from_bytes(status.level, 'little') if isinstance(
                        status.level, bytes) else int(status.level), status.message,
                        {item.key: item.value for item in status.values})
        return None, '', {}

    def close(self) -> int:
        """Stop the client and the node (SIGINT); the node's exit code."""
        self.client.close()
        return self.node.stop()


def case_start_errors(folder: Path, domain_id: int) -> list:
    """Models and devices the node cannot run: one line and exit 1 each."""
    import torch

    from hpm_ros.checkpoint import load_checkpoint, save_checkpoint
    from hpm_ros.resources import default_model_path

    text = folder / 'notes.pt'
    text.write_text('a text file, not a model\n')
    machine, info = load_checkpoint(default_model_path())
    with torch.no_grad():
        next(machine.projector.parameters()).fill_(float('nan'))
    nan = save_checkpoint(folder / 'nan.pt', machine, **info.metadata)
    cases = [('image model with the BlazePose front end',
              ['-p', f'model_path:={default_model_path("psi_r")}'], "needs a 'keypoints' model"),
             ('checkpoint with NaN weights', ['-p', f'model_path:={nan}'], 'NaN or infinite'),
             ('a text file as the model', ['-p', f'model_path:={text}'], 'not a torch file'),
             ('device:=cuda on a CPU build', ['-p', 'device:=cuda'], 'CUDA'),
             ('device:=bogus', ['-p', 'device:=bogus'], 'device must be cpu or cuda')]
    rows = []
    for offset, (name, arguments, wanted) in enumerate(cases):
        observed, passed = one_line_start_error(arguments, domain_id + offset, folder, wanted)
        rows.append((name, f'exit 1, one line naming "{wanted}"', observed, passed))
    return rows


def case_camera_info_mismatch(folder: Path, domain_id: int) -> list:
    """A 1280x720 calibration with 448x252 images: refused with a word, nominal placement."""
    from hpm_ros.geometry import intrinsics_matrix

    graph = Graph(folder, domain_id)
    try:
        graph.warm_up()
        wrong = (intrinsics_matrix(1000.0, 1000.0, 639.5, 359.5), 1280, 720)
        for k in range(5):
            graph.publish(real_frame(), 2.0 + 0.1 * k, wrong)
            graph.answered(2.0 + 0.1 * k)
        time.sleep(0.6)
        _, _, values = graph.status()
        errors = int(values.get('errors_camera_info', 0))
        logged = 'camera_info' in graph.node.output() and '1280x720' in graph.node.output()
    finally:
        code = graph.close()
    return [('CameraInfo 1280x720, images 448x252', 'counted and logged, not used',
             f'errors_camera_info {errors}, logged {logged}, exit {code}',
             errors > 0 and logged and code == 0)]


def case_stale_or_damaged_exports(folder: Path, domain_id: int) -> list:
    """Exported ONNX files that do not fit the checkpoint (a model retrained in place) or are
    damaged: the node starts, says where each part runs, answers on torch for those parts."""
    import shutil

    import torch

    from hpm_ros.checkpoint import load_checkpoint, save_checkpoint
    from hpm_ros.resources import default_model_path

    shipped = default_model_path()
    rows = []
    for offset, (name, expected) in enumerate((
            ('ONNX files of another checkpoint beside the model',
             'runs, Ψ_T and correction on torch, said in the log'),
            ('a damaged correction graph beside the model',
             'runs, Ψ_T on onnxruntime, that correction on torch'))):
        models = folder / f'models_{offset}'
        models.mkdir()
        for onnx_file in shipped.parent.glob('keypoints.*.onnx'):
            shutil.copy(onnx_file, models)
        if offset == 0:
            machine, info = load_checkpoint(shipped)
            with torch.no_grad():
                machine.projector.regression.fc2.bias.add_(1e-3)
            checkpoint = save_checkpoint(models / shipped.name, machine, **info.metadata)
        else:
            checkpoint = shutil.copy(shipped, models)
            for onnx_file in models.glob('keypoints.correction.*.onnx'):
                onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
        graph = Graph(folder, domain_id + offset, ('-p', f'model_path:={checkpoint}'))
        try:
            answered = graph.warm_up()
            log = graph.node.output()
        finally:
            code = graph.close()
        if offset == 0:
            fits = 'auto: torch' in log and "'blazepose33': 'torch'" in log
        else:
            fits = ('auto: onnxruntime' in log and "'blazepose33': 'torch'" in log
                    and 'correction on torch' in log)
        rows.append((name, expected, f'answered {answered}, log says so {fits}, exit {code}',
                     answered and fits and code == 0))
    return rows


def case_error_kinds_logged_apart(folder: Path, domain_id: int) -> list:
    """A steady stream of one bad kind does not hide another kind from the log."""
    from std_msgs.msg import Header

    from sensor_msgs.msg import Image

    from hpm_ros.ros.conversions import seconds_to_stamp

    graph = Graph(folder, domain_id)
    try:
        graph.warm_up()
        bad = Image(header=Header(frame_id='camera', stamp=seconds_to_stamp(5.0)), height=4,
                    width=4, encoding='yuv999', step=12, data=bytes(48))
        for k in range(20):
            bad.header.stamp = seconds_to_stamp(5.0 + 0.05 * k)
            graph.images.publish(bad)
            time.sleep(0.03)
        graph.publish(real_frame(), 6.0)
        graph.answered(6.0)
        graph.publish(real_frame(), 1.0)
        time.sleep(1.0)
        log = graph.node.output()
        image_lines = sum('image skipped' in line for line in log.splitlines())
        stale_lines = sum('older than the last' in line for line in log.splitlines())
    finally:
        code = graph.close()
    return [('20 undecodable images, then a stale frame', 'both kinds in the log, throttled',
             f'{image_lines} image line(s), {stale_lines} stale line(s), exit {code}',
             1 <= image_lines <= 3 and stale_lines == 1 and code == 0)]


def case_future_stamp(folder: Path, domain_id: int) -> list:
    """One frame stamped far in the future neither answers with its stamp nor blocks the next."""
    graph = Graph(folder, domain_id)
    try:
        graph.warm_up()
        graph.publish(real_frame(), 1.0e6)
        bogus = graph.answered(1.0e6, 2.0)
        answered = 0
        for k in range(5):
            graph.publish(real_frame(), 3.0 + 0.1 * k)
            answered += graph.answered(3.0 + 0.1 * k) is not None
    finally:
        code = graph.close()
    return [('a frame stamped 1e6 s, then 5 real frames',
             'no answer with the bogus stamp, every real frame answered',
             f'bogus answered {bogus is not None}, real answered {answered}/5, exit {code}',
             bogus is None and answered == 5 and code == 0)]


def case_camera_stops(folder: Path, domain_id: int) -> list:
    """Diagnostics turn to WARN within 2 s of the last image."""
    graph = Graph(folder, domain_id)
    try:
        graph.warm_up()
        for k in range(20):
            graph.publish(real_frame(), 1.0 + k / 15.0)
            time.sleep(1.0 / 15.0)
        stopped = time.monotonic()
        warned = wait_for(lambda: graph.status()[0] == 1, 4.0)
        delay = time.monotonic() - stopped
    finally:
        code = graph.close()
    return [('camera stops after 20 frames at 15 Hz', 'WARN within 2 s',
             f'WARN {warned} after {delay:.1f} s ({graph.status()[1]!r}), exit {code}',
             warned and delay <= 2.0 and code == 0)]


def case_over_rate_and_soak(folder: Path, domain_id: int, frames: int) -> list:
    """``frames`` frames at 4x the node's rate: no backlog (answers stay recent), drops counted,
    memory flat over the second half."""
    graph = Graph(folder, domain_id)
    rss = []
    try:
        graph.warm_up()
        period = 1.0 / 120.0
        start = time.perf_counter()
        for k in range(frames):
            graph.publish(real_frame(), 1.0 + k * period)
            if k % 60 == 0:
                rss.append(resident_mb(graph.node.process.pid))
            time.sleep(max(0.0, start + (k + 1) * period - time.perf_counter()))
        time.sleep(1.0)
        _, _, values = graph.status()
        last = max((m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
                    for _, m in list(graph.poses)), default=0.0)
    finally:
        code = graph.close()
    sent_last = 1.0 + (frames - 1) * period
    growth = rss[-1] - rss[len(rss) // 2] if len(rss) >= 2 else float('nan')
    dropped = int(values.get('frames_dropped', 0))
    return [(f'{frames} frames at 120 Hz (4x over rate)', 'drops counted, last answer recent, '
             'RSS flat', f'dropped {dropped}, last answer {sent_last - last:.2f} s behind, RSS '
             f'{rss[0]:.0f} -> {rss[-1]:.0f} MB (second half {growth:+.0f}), exit {code}',
             dropped > 0 and sent_last - last < 0.5 and growth < 30 and code == 0)]


def resident_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    with open(f'/proc/{pid}/status') as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def shm_files() -> set:
    """Fast DDS shared-memory files of this machine."""
    return {p.name for p in Path('/dev/shm').glob('fastdds_*')} if Path('/dev/shm').is_dir() \
        else set()


def case_signals_and_restart(folder: Path, domain_id: int) -> list:
    """SIGINT and SIGTERM exit 0; kill -9 then a restart answers again; no growth of
    /dev/shm/fastdds_* over clean restarts."""
    rows = []
    before = shm_files()
    for signum in (signal.SIGINT, signal.SIGTERM):
        graph = Graph(folder, domain_id)
        warm = graph.warm_up()
        graph.client.close()
        code = graph.node.stop(signum=signum)
        rows.append((f'{signal.Signals(signum).name} while streaming', 'exit 0, no traceback',
                     f'answered {warm}, exit {code}',
                     warm and code == 0 and 'Traceback' not in graph.node.output()))
    after_clean = shm_files()
    graph = Graph(folder, domain_id)
    graph.warm_up()
    graph.node.process.kill()
    graph.node.process.wait()
    graph.client.close()
    graph = Graph(folder, domain_id)
    again = graph.warm_up()
    code = graph.close()
    rows.append(('kill -9, then start again', 'the new node answers',
                 f'answered {again}, exit {code}', again and code == 0))
    grown = after_clean - before
    rows.append(('/dev/shm/fastdds_* after clean stops', 'no new files',
                 f'{len(grown)} new', not grown))
    return rows


def case_offline_tools(folder: Path) -> list:
    """hpm lift and hpm estimate on bad inputs."""
    from PIL import Image

    rows = []
    zero = folder / 'zero.npz'
    np.savez(zero, keypoints2d=np.random.default_rng(0).uniform(50, 400, (5, 17, 2)),
             joint_set='coco17', image_size=np.array([640, 480]), confidence=np.zeros((5, 17)))
    result = hpm('lift', '--input', str(zero), '--output', str(folder / 'out.npz'))
    rows.append(('hpm lift, every confidence 0', 'exit 0, valid all False',
                 f'exit {result.returncode}: {result.stdout.strip()[:70]}',
                 result.returncode == 0 and 'no pose' in result.stdout))
    (folder / 'empty.npz').write_bytes(b'')
    np.save(folder / 'array.npy', np.zeros((3, 17, 2)))
    for name in ('empty.npz', 'array.npy'):
        result = hpm('lift', '--input', str(folder / name), '--output', str(folder / 'o.npz'))
        rows.append((f'hpm lift on {name}', 'exit 2, one line', f'exit {result.returncode}: '
                     f'{result.stderr.strip()[:70]}', result.returncode == 2
                     and len(result.stderr.strip().splitlines()) == 1))
    images = folder / 'images'
    images.mkdir()
    for index, name in enumerate(('090', '100', '150')):
        Image.fromarray(real_frame(name)).save(images / f'{index}.jpg', quality=90)
    data = (images / '1.jpg').read_bytes()
    (images / '1.jpg').write_bytes(data[:len(data) // 2])
    result = hpm('estimate', '--input', str(images), '--output', str(folder / 'e.npz'))
    rows.append(('hpm estimate, one truncated JPEG of 3', 'exit 0, 1 skipped and said',
                 f'exit {result.returncode}: {result.stdout.strip()[-60:]}',
                 result.returncode == 0 and '1 unreadable images skipped' in result.stdout))
    return rows


QUICK = ('start_errors', 'offline_tools')
CASES = ('start_errors', 'offline_tools', 'camera_info_mismatch', 'stale_or_damaged_exports',
         'error_kinds_logged_apart', 'future_stamp', 'camera_stops', 'signals_and_restart',
         'over_rate_and_soak')


def run_cases(names: tuple, domain_id: int, soak_frames: int = 2400) -> list:
    """Rows (case, expected, observed, passed) of the cases ``names``."""
    os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    rows = []
    with tempfile.TemporaryDirectory(prefix='hpm_faults_') as scratch:
        for index, name in enumerate(names):
            folder = Path(scratch) / name
            folder.mkdir()
            domain = domain_id + 10 * index
            try:
                if name == 'offline_tools':
                    rows += case_offline_tools(folder)
                elif name == 'over_rate_and_soak':
                    rows += case_over_rate_and_soak(folder, domain, soak_frames)
                else:
                    rows += globals()[f'case_{name}'](folder, domain)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                rows.append((name, 'the case runs', f'{type(error).__name__}: '
                             f'{str(error).splitlines()[0][:120]}', False))
    return rows


def main() -> int:
    """Print the campaign's table; exit 1 when a case failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help=f'only {", ".join(QUICK)}')
    parser.add_argument('--cases', help=f'comma-separated subset of {", ".join(CASES)}')
    parser.add_argument('--domain-id', type=int, default=60,
                        help='first ROS_DOMAIN_ID (each case adds 10)')
    parser.add_argument('--soak-frames', type=int, default=2400)
    args = parser.parse_args()
    names = tuple(args.cases.split(',')) if args.cases else (QUICK if args.quick else CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f'unknown cases {unknown}; known: {", ".join(CASES)}')
    began = time.monotonic()
    rows = run_cases(names, args.domain_id, args.soak_frames)
    print('| case | expected | observed | verdict |\n|---|---|---|---|')
    for case, expected, observed, passed in rows:
        print(f'| {case} | {expected} | {observed} | {"ok" if passed else "FAILED"} |')
    failed = sum(not row[3] for row in rows)
    print(f'\n{len(rows) - failed} passed, {failed} failed in {time.monotonic() - began:.0f} s')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
