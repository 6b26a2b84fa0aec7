"""Reference BlazePose landmarks from mediapipe's own graph, for the parity tests.

Runs only in a throwaway venv (mediapipe 0.10.21 downgrades numpy, so it never goes into the
project's venv)::

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.21 av==18.1.0
    /tmp/mpvenv/bin/python tools/blazepose_reference.py \
        --out test/data/blazepose/mediapipe_reference.npz

It runs ``mp.solutions.pose.Pose(model_complexity=1)`` twice: with ``static_image_mode=True``
on the JPEG fixtures in ``test/data/blazepose/`` (decoded with OpenCV), and streaming
(``static_image_mode=False``, mediapipe's simulated 30 Hz clock) on consecutive frames of
``samples/room_walk.mp4`` (decoded with PyAV, RGB24). The ``.npz`` holds, per run: the input
names or frame indices, the SHA-256 of every decoded RGB frame (so a test can tell whether it
decodes the same pixels), a found flag, ``landmarks`` [N, 33, 5] float32 (x px, y px, z,
visibility, presence; NaN when no pose) and ``world`` [N, 33, 3] float32 m.

``--survey VIDEO OUT`` instead streams a whole video and saves, per frame, whether mediapipe
reported a pose and the landmarks' bounding box (px): the stock graph's false-pose rate.
"""
import argparse
import glob
import hashlib
import os

import cv2
import mediapipe as mp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'test', 'data', 'blazepose')
VIDEO = os.path.join(ROOT, 'samples', 'room_walk.mp4')


def rgb_sha256(image: np.ndarray) -> str:
    """Hex SHA-256 of a contiguous [H, W, 3] uint8 RGB array."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def video_frames(path: str, first: int, count: int):
    """Yield (index, [H, W, 3] uint8 RGB) for frames first .. first + count - 1 (PyAV)."""
    import av

    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= first + count:
                break
            if index >= first:
                yield index, np.ascontiguousarray(frame.to_ndarray(format='rgb24'))


def pose_arrays(result, width: int, height: int) -> tuple:
    """(found, landmarks [33, 5], world [33, 3]) from one mediapipe result."""
    landmarks = np.full((33, 5), np.nan, np.float32)
    world = np.full((33, 3), np.nan, np.float32)
    if result.pose_landmarks is None:
        return False, landmarks, world
    for index, point in enumerate(result.pose_landmarks.landmark):
        landmarks[index] = (point.x * width, point.y * height, point.z, point.visibility,
                            point.presence)
    for index, point in enumerate(result.pose_world_landmarks.landmark):
        world[index] = (point.x, point.y, point.z)
    return True, landmarks, world


def run(pose, images) -> dict:
    """Run ``pose`` over (key, image) pairs; the stacked per-frame arrays."""
    keys, hashes, found, landmarks, world = [], [], [], [], []
    for key, image in images:
        result = pose.process(image)
        flag, points, meters = pose_arrays(result, image.shape[1], image.shape[0])
        keys.append(key)
        hashes.append(rgb_sha256(image))
        found.append(flag)
        landmarks.append(points)
        world.append(meters)
    return {'keys': np.array(keys), 'sha256': np.array(hashes), 'found': np.array(found),
            'landmarks': np.stack(landmarks), 'world': np.stack(world)}


def fixture_images():
    """Yield (file name, RGB image) for the JPEG fixtures, sorted by name."""
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'room_walk_*.jpg'))):
        image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        yield os.path.basename(path), image


def reference(out: str, first: int, count: int) -> None:
    """Write the static and streaming reference runs to ``out``."""
    solution = mp.solutions.pose
    with solution.Pose(static_image_mode=True, model_complexity=1) as pose:
        static = run(pose, fixture_images())
    with solution.Pose(static_image_mode=False, model_complexity=1) as pose:
        stream = run(pose, video_frames(VIDEO, first, count))
    arrays = {f'static_{name}': value for name, value in static.items()}
    arrays.update({f'stream_{name}': value for name, value in stream.items()})
    np.savez_compressed(out, mediapipe_version=np.array(mp.__version__), **arrays)
    print(f'{out}: static {int(static["found"].sum())}/{len(static["found"])} with a pose, '
          f'stream {int(stream["found"].sum())}/{len(stream["found"])}')


def survey(video: str, out: str) -> None:
    """Stream all of ``video`` through mediapipe; per-frame found flag and landmark box."""
    found, boxes = [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for _, image in video_frames(video, 0, 10 ** 9):
            flag, points, _ = pose_arrays(pose.process(image), image.shape[1], image.shape[0])
            found.append(flag)
            box = (np.nanmin(points[:, :2], axis=0).tolist()
                   + np.nanmax(points[:, :2], axis=0).tolist()) if flag else [np.nan] * 4
            boxes.append(box)
    np.savez_compressed(out, found=np.array(found), boxes=np.array(boxes, np.float32))
    print(f'{out}: {int(np.sum(found))}/{len(found)} frames with a pose')


def main() -> None:
    """Parse the command line and write the reference file (or the survey)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=os.path.join(FIXTURES, 'mediapipe_reference.npz'))
    parser.add_argument('--first', type=int, default=140,
                        help='first frame of samples/room_walk.mp4 of the streaming run')
    parser.add_argument('--count', type=int, default=60, help='frames of the streaming run')
    parser.add_argument('--survey', nargs=2, metavar=('VIDEO', 'OUT'),
                        help='stream a whole video instead and save per-frame results')
    args = parser.parse_args()
    if args.survey:
        survey(*args.survey)
    else:
        reference(args.out, args.first, args.count)


if __name__ == '__main__':
    main()
