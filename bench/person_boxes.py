"""The built-in person box sources compared: recall, false people, 2D agreement, cost.

Usage: python bench/person_boxes.py [--video one-by-one-person-detection.mp4] [--stride 10]
       [--sources single,pose_detector,faces,both]

Every source runs in the BlazePose front end with ``max_people`` 4 and tracking off, so each
frame is searched from scratch (what the source finds by itself, no help from the previous
frame). Sources: 'single' (mediapipe's single-person graph, the baseline), 'pose_detector'
(detect-mask-redetect), 'faces' (BlazeFace seeds), 'both' (the detector rounds, then faces).

Material (``test/data/people/SOURCE.md``, labels ``test/data/blazepose/one_by_one_labels.json``):

- the three multi-person clips (100 frames, 2-3 people each): a person counts when their
  source frame is labelled 'person' and a found person matches them when the IoU of the
  found skeleton's box with the pasted pixels' box is >= 0.3 (Hungarian); 'partial' people
  neither count nor make a match a false person;
- every ``--stride``-th frame of the shared video (one person or nobody): found people on
  'empty' frames and more than one on 'person' frames are false people;
- ``astronaut.jpg`` (one person facing the camera).

2D agreement: for the people of the clips, the found COCO-17 joints against BlazePose's
single-person answer on the person's own source frame (moved by the same shift), over the
joints the reference sees with confidence >= 0.5: mean distance in % of the person's box
height; 'within 10 %' is the share of matched people under 10 %.
"""
import argparse
import json
import os
import sys
import time
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
MATCH_IOU = 0.3
SOURCES = {'single': {'max_people': 1}, 'pose_detector': {'box_source': 'pose_detector'},
           'faces': {'box_source': 'faces'}, 'both': {'box_source': 'both'}}


def label_of(index: int, labels: dict) -> str:
    """'person', 'empty', 'partial' or '' for frame ``index`` of the shared video."""
    for name in ('person', 'empty', 'partial'):
        if any(a <= index <= b for a, b in labels[name]):
            return name
    return ''


def match(found: list, truth: list) -> list:
    """[(found index, truth index)] by Hungarian on 1 - IoU, IoU >= MATCH_IOU."""
    from scipy.optimize import linear_sum_assignment

    if not found or not truth:
        return []
    boxes = np.array([[p.box[0], p.box[1], p.box[0] + p.box[2], p.box[1] + p.box[3]]
                      for p in found])
    iou = box_iou(boxes, np.array(truth, dtype=np.float64))
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(r, c) for r, c in zip(rows, cols) if iou[r, c] >= MATCH_IOU]


def references(video: Path, index: dict) -> dict:
    """Run single-person BlazePose on every source frame of the clips (unshifted).

    Returns {source frame: (COCO-17 joints [17, 2] px, confidence [17])}.
    """
    wanted = {layer['source'] for clip in index['clips'].values()
              for row in clip['layers_by_frame'] for layer in row}
    front_end = BlazePoseFrontEnd(tracking=False)
    found = {}
    for frame_index, frame in read_frames(video):
        if frame_index in wanted:
            person = front_end.process(frame).primary
            if person is not None:
                coco = person.extras['coco17']
                found[frame_index] = (coco['keypoints'], coco['confidence'])
    return found


def reference_in_clip(reference: tuple, layer: dict, clip: dict) -> tuple:
    """Move a source-frame reference into the clip frame (shift, crop, scale)."""
    points, confidence = reference
    points = points + np.array([layer['dx'], 0.0])
    if clip['crop'] is not None:
        points = (points - np.array([clip['crop'][0], 0.0])) * (clip['size'][0] / clip['crop'][1])
    return points, confidence


def run_source(options: dict, clips: dict, index: dict, video_frames: list, labels: dict,
               refs: dict, astronaut: np.ndarray) -> dict:
    """Count and time one source over all the material."""
    front_end = BlazePoseFrontEnd(tracking=False, max_people=options.get('max_people', 4),
                                  box_source=options.get('box_source', 'both'))
    stats = {'people': 0, 'found': 0, 'false_clips': 0, 'errors': [], 'ms': [],
             'video_person': 0, 'video_person_found': 0, 'video_empty': 0, 'false_video': 0}
    for name, frames in clips.items():
        clip = index['clips'][name]
        for frame, layers in zip(frames, clip['layers_by_frame']):
            start = time.perf_counter()
            people = front_end.process(frame).people
            stats['ms'].append((time.perf_counter() - start) * 1000.0)
            truth = [layer['box'] for layer in layers if layer['box'] is not None]
            kinds = [label_of(layer['source'], labels) for layer in layers
                     if layer['box'] is not None]
            kept = [layer for layer in layers if layer['box'] is not None]
            pairs = match(people, truth)
            stats['people'] += sum(kind == 'person' for kind in kinds)
            matched = {f for f, _ in pairs}
            for f, t in pairs:
                if kinds[t] != 'person':
                    continue
                stats['found'] += 1
                reference = refs.get(kept[t]['source'])
                if reference is None:
                    continue
                points, confidence = reference_in_clip(reference, kept[t], clip)
                seen = confidence >= 0.5
                coco = people[f].extras['coco17']['keypoints']
                height = truth[t][3] - truth[t][1]
                error = np.linalg.norm(coco[seen] - points[seen], axis=1).mean() / height
                stats['errors'].append(100.0 * error)
            stats['false_clips'] += len(people) - len(matched)
    for frame_index, frame in video_frames:
        start = time.perf_counter()
        people = front_end.process(frame).people
        stats['ms'].append((time.perf_counter() - start) * 1000.0)
        kind = label_of(frame_index, labels)
        if kind == 'person':
            stats['video_person'] += 1
            stats['video_person_found'] += bool(people)
            stats['false_video'] += max(0, len(people) - 1)
        elif kind == 'empty':
            stats['video_empty'] += 1
            stats['false_video'] += len(people)
    stats['astronaut'] = len(front_end.process(astronaut).people)
    return stats


def main() -> int:
    """Print the comparison table."""
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--video', type=Path, default=VIDEO)
    parser.add_argument('--stride', type=int, default=10)
    parser.add_argument('--sources', default=','.join(SOURCES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    labels = json.loads((DATA / 'blazepose' / 'one_by_one_labels.json').read_text())
    index = json.loads((DATA / 'people' / 'people.json').read_text())
    clips = {name: [f for _, f in read_frames(DATA / 'people' / f'{name}.mp4')]
             for name in index['clips']}
    video_frames = [(i, f) for i, f in read_frames(args.video, stride=args.stride)]
    astronaut = np.asarray(Image.open(DATA / 'people' / 'astronaut.jpg').convert('RGB'))
    refs = references(args.video, index)
    print(f'# person box sources (BlazePose, tracking off, max_people 4; '
          f'{machine_description()})\n')
    print(f'clips: {sum(len(f) for f in clips.values())} frames; shared video: '
          f'{len(video_frames)} frames (every {args.stride}th)\n')
    print('| source | clip people found | false people, clips | video person frames found '
          '| false people, video | astronaut | 2D error median % box (within 10 %) '
          '| ms/frame p50 / p95 |')
    print('|---|---|---|---|---|---|---|---|')
    for name in args.sources.split(','):
        s = run_source(SOURCES[name], clips, index, video_frames, labels, refs, astronaut)
        errors = np.array(s['errors'])
        within = 100.0 * np.mean(errors < 10.0) if errors.size else float('nan')
        print(f'| {name} | {s["found"]}/{s["people"]} ({100 * s["found"] / s["people"]:.0f} %) '
              f'| {s["false_clips"]} | {s["video_person_found"]}/{s["video_person"]} | '
              f'{s["false_video"]} ({s["video_empty"]} empty frames) | {s["astronaut"]} | '
              f'{np.median(errors):.1f} ({within:.0f} %) | {np.percentile(s["ms"], 50):.0f} / '
              f'{np.percentile(s["ms"], 95):.0f} |', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
