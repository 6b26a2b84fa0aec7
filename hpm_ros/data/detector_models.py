"""Error models of real 2D detectors: which joint set, which landmarks, how noisy.

A :class:`DetectorModel` turns exact 3D joints (camera frame) into a detector's output in
three steps: move the landmarks whose definition differs from the mocap joint
(:data:`hpm_ros.skeleton.LANDMARK_OFFSETS`), project, then add the errors of
:mod:`hpm_ros.data.keypoint_noise` with per-joint spreads, heavy tails, left/right swaps and
misses. The lifter sees the landmarks, the ground truth stays the mocap joints, so the
lifter learns the offsets.

Where the parameters come from:

- per-joint spread (``joint_factors``): the COCO keypoint annotation spreads (the OKS
  sigmas of cocoapi: nose .026, eyes .025, ears .035, shoulders .079, elbows .072, wrists
  .062, hips .107, knees .087, ankles .089) divided by their mean, so hips are the least and
  the face the most precise; mapped to H36M-17 (pelvis like the hips, thorax like the
  shoulders, neck and head like the ears);
- overall level ``jitter``: assumed, 1.5 % of the person's size for the Stacked-Hourglass /
  HRNet class of detectors (about 10 px on a 700-px tall person, the order of the published
  2D errors of Stacked Hourglass on Human3.6M) and 2 % for BlazePose full;
- tails (5-8 % of the joints with 4× the spread), left/right limb swaps (2 % of frames) and
  misses (3-5 %): assumed, not measured; they make the lifter robust, not calibrated;
- landmark offsets: MPII's upper neck 40 % of the way from the nose-level Neck to the
  Thorax, its head top 25 % of Neck-to-Head beyond the mocap head end, its ankles 10 % of the
  shin above the mocap ankle (assumed from the annotation guidelines' definitions);
  BlazePose's hips 35 % of the way to the pelvis centre (about 20 px on 1000-px frames of a
  standing adult, the project lead's measurement on the BlazePose front end);
  COCO's hips are taken as the joint centres (no offset known).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.data.keypoint_noise import KeypointNoise, simulate_detections
from hpm_ros.geometry import project_points
from hpm_ros.skeleton import H36M17

_COCO_SIGMA = {'Hip': .107, 'RHip': .107, 'RKnee': .087, 'RFoot': .089, 'LHip': .107,
               'LKnee': .087, 'LFoot': .089, 'Spine': .107, 'Thorax': .079, 'Neck': .035,
               'Head': .035, 'LShoulder': .079, 'LElbow': .072, 'LWrist': .062,
               'RShoulder': .079, 'RElbow': .072, 'RWrist': .062}
_SIGMAS = np.array([_COCO_SIGMA[name] for name in H36M17.joint_names])
COCO_FACTORS = tuple(float(v) for v in _SIGMAS / _SIGMAS.mean())
_J = H36M17.index


@dataclass(frozen=True)
class DetectorModel:
    """A detector's joint set, landmark offsets (``offsets``: 'none', 'mpii', 'blazepose')
    and error model ``noise``."""

    name: str
    joint_set: str
    offsets: str
    noise: KeypointNoise

    def landmarks(self, joints: np.ndarray) -> np.ndarray:
        """The detector's landmarks [T, 17, 3] mm (H36M-17 slots, same frame) of the mocap
        joints [T, 17, 3] mm."""
        joints = np.asarray(joints, dtype=np.float64)
        out = joints.copy()
        if self.offsets == 'mpii':
            neck, thorax, head = joints[:, _J('Neck')], joints[:, _J('Thorax')], joints[
                :, _J('Head')]
            out[:, _J('Neck')] = neck + 0.4 * (thorax - neck)
            out[:, _J('Head')] = head + 0.25 * (head - neck)
            for knee, ankle in (('RKnee', 'RFoot'), ('LKnee', 'LFoot')):
                out[:, _J(ankle)] += 0.1 * (joints[:, _J(knee)] - joints[:, _J(ankle)])
        elif self.offsets == 'blazepose':
            pelvis = joints[:, _J('Hip')]
            for hip in ('RHip', 'LHip'):
                out[:, _J(hip)] += 0.35 * (pelvis - joints[:, _J(hip)])
        elif self.offsets != 'none':
            raise ValueError(f'unknown landmark offsets {self.offsets!r}')
        return out

    def detect(self, joints: np.ndarray, intrinsics: np.ndarray, image_size: tuple,
               rng: np.random.Generator) -> tuple:
        """(Detections of the landmarks, H36M-17 order, px; exact landmark pixels [T, 17, 2])
        for camera-frame joints [T, 17, 3] mm."""
        exact = project_points(self.landmarks(joints), intrinsics)
        return simulate_detections(exact, rng, self.noise, image_size), exact


def _noise(jitter: float, tail_rate: float, miss_rate: float) -> KeypointNoise:
    return KeypointNoise(jitter=jitter, joint_factors=COCO_FACTORS, tail_rate=tail_rate,
                         tail_scale=4.0, miss_rate=miss_rate, swap_rate=0.02)


DETECTOR_MODELS = {
    'mocap': DetectorModel('mocap', 'h36m17', 'none', KeypointNoise()),
    'mpii': DetectorModel('mpii', 'mpii16', 'mpii', _noise(0.015, 0.05, 0.03)),
    'coco': DetectorModel('coco', 'coco17', 'none', _noise(0.015, 0.05, 0.04)),
    'blazepose': DetectorModel('blazepose', 'blazepose33', 'blazepose',
                               _noise(0.02, 0.08, 0.05)),
}


def get_detector(name: str) -> DetectorModel:
    """The named detector model; ValueError listing the known ones."""
    try:
        return DETECTOR_MODELS[name]
    except KeyError as error:
        raise ValueError(f'unknown detector model {name!r}; known: '
                         f'{sorted(DETECTOR_MODELS)}') from error


def exact_detections(model: DetectorModel) -> DetectorModel:
    """The same landmarks without errors (the 'exact 2D' rows of the evaluation)."""
    return DetectorModel(model.name, model.joint_set, model.offsets,
                         model.noise.without_errors())
