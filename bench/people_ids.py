"""Tracking IDs on real video: switches per person-track, new IDs for new people, extras.

Usage: python bench/people_ids.py [--video one-by-one-person-detection.mp4]
       [--max-people 4] [--expiry 1.0]

Streams the shared room video (labels: ``test/data/blazepose/one_by_one_labels.json``; one
person at a time, six people one after the other) through the BlazePose front end with
``max_people`` people and tracking on, as the node runs it, and prints per labelled 'person'
stretch: frames, frames with a person, the IDs given there (the largest person's per frame),
ID switches (changes of that ID between consecutive frames with a person), whether the
stretch's IDs are new (none given in an earlier stretch), and frames with more than one
person; then the people reported on 'empty' frames. Then the same for the composite clips of
``test/data/people`` (per layer: the IDs of the found person paired with it).
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import machine_description  # noqa: E402

from hpm_ros.frontends.blazepose import BlazePoseFrontEnd  # noqa: E402
from hpm_ros.people_tracking import box_iou  # noqa: E402
from hpm_ros.resources import package_share  # noqa: E402
from hpm_ros.video import read_frames  # noqa: E402

DATA = package_share() / 'test' / 'data'
VIDEO = Path('/work/shared/data/video/one-by-one-person-detection.mp4')


def switches(ids: list) -> int:
    """Count the changes of ID between consecutive entries of ``ids`` (None skipped)."""
    seen = [i for i in ids if i is not None]
    return sum(a != b for a, b in zip(seen, seen[1:]))


def video_table(front_end: BlazePoseFrontEnd, video: Path, labels: dict) -> None:
    """Print the per-stretch table of the shared video."""
    front_end.reset()
    primary, counts = {}, {}
    for index, frame in read_frames(video):
        people = front_end.process(frame, stamp=index / 10.0).people
        counts[index] = len(people)
        primary[index] = people[0].extras['track_id'] if people else None
    print('| person stretch (frames) | with a person | IDs | ID switches | all IDs new | '
          'frames with > 1 person |')
    print('|---|---|---|---|---|---|')
    earlier = set()
    for first, last in labels['person']:
        ids = [primary[i] for i in range(first, last + 1)]
        given = sorted({i for i in ids if i is not None})
        new = not earlier.intersection(given)
        earlier.update(given)
        extra = sum(counts[i] > 1 for i in range(first, last + 1))
        print(f'| {first}-{last} ({last - first + 1}) | {sum(i is not None for i in ids)} | '
              f'{given} | {switches(ids)} | {"yes" if new else "no"} | {extra} |')
    empty = [i for a, b in labels['empty'] for i in range(a, b + 1)]
    print(f'\nempty frames: {len(empty)}, with a person reported: '
          f'{sum(counts[i] > 0 for i in empty)}; IDs given over the whole video: '
          f'{len({i for i in primary.values() if i is not None})} (the largest person\'s)')


def clip_table(front_end: BlazePoseFrontEnd) -> None:
    """Print, per composite clip and layer, the IDs of the person found on it and switches.

    People and layers are paired by Hungarian assignment on box IoU (>= 0.3).
    """
    from scipy.optimize import linear_sum_assignment

    index = json.loads((DATA / 'people' / 'people.json').read_text())
    print('\n| clip | layer (source frames) | frames found / in view | IDs | ID switches |')
    print('|---|---|---|---|---|')
    for name, clip in index['clips'].items():
        front_end.reset()
        found = []
        for (frame_index, frame), layers in zip(read_frames(DATA / 'people' / f'{name}.mp4'),
                                                clip['layers_by_frame']):
            people = front_end.process(frame, stamp=frame_index / 10.0).people
            boxes = np.array([[p.box[0], p.box[1], p.box[0] + p.box[2], p.box[1] + p.box[3]]
                              for p in people]).reshape(-1, 4)
            row = [(layer['box'] is not None, None) for layer in layers]
            in_view = [k for k, layer in enumerate(layers) if layer['box'] is not None]
            if in_view and len(boxes):
                iou = box_iou(np.array([layers[k]['box'] for k in in_view], np.float64), boxes)
                for r, c in zip(*linear_sum_assignment(-iou)):
                    if iou[r, c] >= 0.3:
                        row[in_view[r]] = (True, people[c].extras['track_id'])
            found.append(row)
        for layer in range(len(found[0])):
            in_view = [r[layer] for r in found if r[layer][0]]
            ids = [i for _, i in in_view]
            first = clip['layers_by_frame'][0][layer]['source']
            print(f'| {name} | {layer} ({first}-{first + len(found) - 1}) | '
                  f'{sum(i is not None for i in ids)} / {len(in_view)} | '
                  f'{sorted({i for i in ids if i is not None})} | {switches(ids)} |')


def main() -> int:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--video', type=Path, default=VIDEO)
    parser.add_argument('--max-people', type=int, default=4)
    parser.add_argument('--expiry', type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    labels = json.loads((DATA / 'blazepose' / 'one_by_one_labels.json').read_text())
    front_end = BlazePoseFrontEnd(max_people=args.max_people, track_expiry_s=args.expiry)
    print(f'# tracking IDs (BlazePose, max_people {args.max_people}, expiry {args.expiry} s, '
          f'tracking on; {machine_description()})\n')
    video_table(front_end, args.video, labels)
    clip_table(front_end)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
