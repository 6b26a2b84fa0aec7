"""Pictures of poses for people: 2D skeleton overlays and side views of 3D skeletons (PIL)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from hpm_ros.skeleton import H36M17, bone_side

SIDE_COLOURS = {'left': (230, 40, 40), 'right': (40, 200, 60), 'center': (240, 200, 40)}
TRUTH_COLOUR = (150, 150, 150)


def draw_pose_2d(image: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray = None,
                 threshold: float = 0.0, width: int = 2) -> np.ndarray:
    """Copy of ``image`` [H, W, 3] uint8 RGB with the skeleton ``keypoints`` [17, 2] px drawn
    (left red, right green, centre yellow); joints below ``threshold`` confidence are skipped."""
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    keep = np.ones(len(keypoints), bool) if confidence is None else confidence >= threshold
    keep &= np.isfinite(keypoints).all(axis=1)
    for parent, child in H36M17.bones:
        if keep[parent] and keep[child]:
            draw.line([tuple(keypoints[parent]), tuple(keypoints[child])],
                      fill=SIDE_COLOURS[bone_side(parent, child)], width=width)
    radius = width + 1
    for joint in np.flatnonzero(keep):
        x, y = keypoints[joint]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    return np.asarray(canvas)


def track_colour(track_id: int) -> tuple:
    """Return a distinct (r, g, b) in [0, 1] per tracking ID (golden-ratio hues; -1 grey)."""
    import colorsys

    if track_id < 0:
        return (0.6, 0.6, 0.6)
    return colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 0.95)


def draw_people_2d(image: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                   track_ids: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Return a copy of ``image`` with every person's skeleton and ID.

    keypoints [P, 17, 2] px, confidence [P, 17] (slots without a finite, confident joint are
    skipped); each person gets an 'ID n' label in their :func:`track_colour` above their
    highest joint.
    """
    out = np.ascontiguousarray(image)
    labels = []
    for points, weights, track_id in zip(keypoints, confidence, track_ids):
        keep = np.isfinite(points).all(axis=1) & (weights >= threshold)
        if not keep.any():
            continue
        out = draw_pose_2d(out, points, weights, threshold)
        top = points[keep][np.argmin(points[keep][:, 1])]
        labels.append((int(track_id), top))
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    for track_id, (x, y) in labels:
        colour = tuple(int(255 * c) for c in track_colour(track_id))
        text = f'ID {track_id}' if track_id >= 0 else 'person'
        draw.rectangle([x - 2, y - 16, x + 7 * len(text), y - 3], fill=colour)
        draw.text((x, y - 16), text, fill=(0, 0, 0))
    return np.asarray(canvas)


def draw_side_view(joints3d: np.ndarray, size: int = 256, truth: np.ndarray = None,
                   extent_mm: float = 1100.0) -> np.ndarray:
    """[size, size, 3] uint8 side view of root-relative camera-frame poses [17, 3] mm: depth
    (camera z) to the right, up (-y) upwards; the optional ``truth`` is drawn grey below."""
    canvas = Image.new('RGB', (size, size), (24, 24, 32))
    draw = ImageDraw.Draw(canvas)
    scale = size / (2.0 * extent_mm)

    def to_pixels(pose: np.ndarray) -> np.ndarray:
        centred = pose - pose[0]
        return np.stack([size / 2 + centred[:, 2] * scale, size / 2 + centred[:, 1] * scale], 1)

    draw.line([(size / 2, 0), (size / 2, size)], fill=(60, 60, 70))
    draw.text((4, 4), 'side view (z ->)', fill=(180, 180, 190))
    poses = ([(truth, True)] if truth is not None else []) + [(joints3d, False)]
    for pose, is_truth in poses:
        points = to_pixels(np.asarray(pose, dtype=np.float64))
        for parent, child in H36M17.bones:
            colour = TRUTH_COLOUR if is_truth else SIDE_COLOURS[bone_side(parent, child)]
            draw.line([tuple(points[parent]), tuple(points[child])], fill=colour,
                      width=2 if is_truth else 3)
    return np.asarray(canvas)


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` resized (bilinear) to ``height`` rows, keeping its aspect ratio."""
    rows, cols = image.shape[:2]
    width = max(1, int(round(cols * height / rows)))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def strip(panels: list, height: int = 256, gap: int = 4) -> np.ndarray:
    """Panels [H_i, W_i, 3] uint8 side by side at a common ``height``, ``gap`` px apart."""
    resized = [fit_height(panel, height) for panel in panels]
    spacer = np.zeros((height, gap, 3), np.uint8)
    pieces = []
    for panel in resized:
        pieces += [panel, spacer]
    return np.concatenate(pieces[:-1], axis=1)
