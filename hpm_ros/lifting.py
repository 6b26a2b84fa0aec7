"""The lifting core: the 2D people of any front end -> Ψ_T -> Ψ_C / Ψ_P correction -> placement.

One object per model that every tool calls (the node and `hpm estimate` / `bag-eval` / `demo`
through :class:`hpm_ros.pipeline.PosePipeline`, `hpm lift` through
:class:`hpm_ros.lift.KeypointLifter`):

- :meth:`LiftingCore.keypoint_inputs`: a detector's joints in any supported layout ->
  H36M-17 joints, confidences, the square person box and the normalised crop coordinates that
  the keypoints front end reads (batched over any leading dims);
- :meth:`LiftingCore.lift_people`: one frame, one Ψ_T step batched over the people of the
  frame (each with their own LSTM state), the batched correction, root placement;
- :meth:`LiftingCore.correct` and :meth:`LiftingCore.place`: the correction and the
  placement, batched over frames or people.

3D inside: root-relative millimetres in the camera's orientation; placed poses in metres in
the camera optical frame (x right, y down, z forward). ROS-free.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from hpm_ros.correction import CorrectionConfig, CorrectionResult, Corrector
from hpm_ros.correction.config import tuned_settings
from hpm_ros.correction.exported import OnnxCorrector
from hpm_ros.crop import CropBox
from hpm_ros.data.keypoint_clips import INPUT_JOINT_SETS, keypoint_boxes, to_front_end
from hpm_ros.data.keypoint_input import encode_keypoints, to_camera_frame
from hpm_ros.geometry import (intrinsics_matrix, place_root_by_reprojection, root_relative,
                              unproject_points)
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.skeleton import H36M17, ROOT_JOINT

KEYPOINT_BOX_MARGIN = 1.25
HIPS = (H36M17.index('LHip'), H36M17.index('RHip'))


def root_pixel(keypoints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The 2D root [2] px of H36M-17 keypoints [17, 2] px: the root joint when present, else
    the mean of the hips present (COCO and BlazePose have no pelvis), else the mean of the
    joints present, else the mean of all."""
    present = np.asarray(confidence) > 0
    for joints in ((ROOT_JOINT,), HIPS, tuple(np.flatnonzero(present))):
        chosen = [j for j in joints if present[j]]
        if chosen:
            return np.asarray(keypoints, np.float64)[chosen].mean(axis=0)
    return np.asarray(keypoints, np.float64).mean(axis=0)


@dataclass
class LiftedPerson:
    """One person's 3D pose in one frame.

    keypoints2d [17, 2] float32 px (H36M-17, what the lifter read); confidence [17] float32;
    joints3d [17, 3] float32 mm root-relative after correction; joints3d_raw the same before
    correction; joints3d_camera [17, 3] float32 m, camera optical frame; placement
    'reprojection' (least squares with the intrinsics) or 'nominal' (root on the ray of the 2D
    root at the nominal depth); box: the square crop the lifter normalised the 2D pose in;
    track_id: the person's tracking ID (set by the pipeline; -1 when the front end gives none).
    """

    keypoints2d: np.ndarray
    confidence: np.ndarray
    joints3d: np.ndarray
    joints3d_raw: np.ndarray
    joints3d_camera: np.ndarray
    placement: str
    correction_applied: bool
    correction_discarded: bool
    correction_steps: int
    box: CropBox
    track_id: int = -1


@dataclass
class PersonInput:
    """What the lifter reads of one person in one frame.

    features [1, C, F, F] (Ψ_T's input); pose2d [1, K, 2] normalised (the correction's
    target); weights [1, K] joint confidences; keypoints [K, 2] float32 px and confidence [K]
    (H36M-17); box: the square crop of the normalisation; rotation [3, 3]: the virtual camera
    of a 'rays' model, else None; joint_set: the layout the 2D came in (None for Ψ_R).
    """

    features: torch.Tensor
    pose2d: torch.Tensor
    weights: torch.Tensor
    keypoints: np.ndarray
    confidence: np.ndarray
    box: CropBox
    rotation: Optional[np.ndarray] = None
    joint_set: Optional[str] = None


class LiftingCore:
    """Ψ_T (run by ``backend``), Ψ_C / Ψ_P and the correction of one model, with placement.

    machine: the :class:`hpm_ros.model.machine.PoseMachine` whose projector the correction
    adapts; backend: runs the Ψ_T step (:mod:`hpm_ros.backends`); joint_confidence: joints
    below it leave the correction and the placement; box_threshold: joints below it do not
    define the keypoints box (unless fewer than two pass); nominal_depth_m: the root depth
    when no intrinsics place it; tuned_correction: the checkpoint's stored correction
    settings; correction_dir: folder of exported correction graphs to run on ONNX Runtime
    with ``correction_threads`` (None: torch).
    """

    def __init__(self, machine, backend, correction: str = 'aligned',
                 correction_overrides: Optional[dict] = None, joint_confidence: float = 0.1,
                 box_threshold: float = 0.2, nominal_depth_m: float = 3.0,
                 input_joint_sets: tuple = INPUT_JOINT_SETS,
                 tuned_correction: Optional[dict] = None, correction_dir=None,
                 correction_threads: int = 1) -> None:
        self.machine, self.backend = machine, backend
        self.correction_dir, self.correction_threads = correction_dir, correction_threads
        self.joint_confidence, self.box_threshold = joint_confidence, box_threshold
        self.nominal_depth_m = nominal_depth_m
        self.input_joint_sets = tuple(input_joint_sets)
        self.tuned_correction = tuned_correction or {}
        self.set_correction(correction, **(correction_overrides or {}))

    @property
    def reads_keypoints(self) -> bool:
        """True for a keypoints-front-end model (any 2D detector), False for Ψ_R's images."""
        return self.machine.config.front_end == 'keypoints'

    def set_correction(self, preset: str, **overrides) -> None:
        """Switch the correction preset (and knobs).

        [lifter issue 13] Without knobs, a preset the checkpoint was tuned for
        (``tuned_correction``) takes the tuned settings: those of the input joint set
        (detector) when it has its own, else the shared ones
        (:func:`hpm_ros.correction.config.tuned_settings`). With ``correction_dir``, settings
        whose exported graph is there run on ONNX Runtime
        (:mod:`hpm_ros.correction.exported`), the others on torch.
        """
        shared, per_joint_set = tuned_settings(preset, self.tuned_correction, **overrides)
        by_setting = {}     # one corrector (and ONNX Runtime session) per distinct setting
        for config in (shared, *per_joint_set.values()):
            if config not in by_setting:
                by_setting[config] = self._corrector(config)
        self.corrector = by_setting[shared]
        self.correctors = {joint_set: by_setting[config]
                           for joint_set, config in per_joint_set.items()}

    def _corrector(self, config: CorrectionConfig):
        corrector = Corrector(self.machine, config)
        if self.correction_dir is None or config.max_steps == 0:
            return corrector
        try:
            return OnnxCorrector(corrector, self.correction_dir, self.correction_threads)
        except BackendUnavailableError:
            return corrector
        except CheckpointError as error:    # same results on torch: warn, do not fail
            warnings.warn(f'correction on torch: {error}', RuntimeWarning, stacklevel=2)
            return corrector

    @property
    def correction_runtimes(self) -> dict:
        """{'shared' or input joint set: 'torch' or 'onnxruntime'}: where each setting runs."""
        return {name: getattr(corrector, 'runtime', 'torch') for name, corrector in
                {'shared': self.corrector, **self.correctors}.items()}

    def corrector_for(self, joint_set: Optional[str] = None) -> Corrector:
        """The correction applied to 2D of ``joint_set`` (None: the shared one)."""
        return self.correctors.get(joint_set, self.corrector)

    def initial_state(self, people: int = 1) -> tuple:
        """H_0 for ``people`` persons: (h, c), each [layers, P, hidden]."""
        return self.backend.initial_state(people)

    def keypoint_inputs(self, keypoints: np.ndarray, confidence: np.ndarray,
                        joint_set: str, image_size: Optional[tuple] = None,
                        intrinsics: Optional[np.ndarray] = None) -> tuple:
        """Joints [..., J, 2] px and confidences [..., J] of ``joint_set`` -> (H36M-17 joints
        [..., 17, 2] px, confidences [..., 17], boxes [..., 3] (x0, y0, side) px, normalised
        coordinates [..., 17, 2] in the model's input encoding, valid [...] bool: at least two
        joints present, rotations [..., 3, 3] of the virtual cameras of a 'rays' model or None).

        Joints the set lacks get confidence 0; missing joints sit at the box centre (0.5).
        [lifter issue 13] A 'rays' model (``config.input_encoding``) reads the joints on the
        image plane of a camera turned to the person (:mod:`hpm_ros.data.keypoint_input`;
        ``image_size`` (W, H) px needed, ``intrinsics`` [3, 3] or the nominal fallback).
        """
        if joint_set not in self.input_joint_sets:
            raise ValueError(f'the lifter reads {list(self.input_joint_sets)}, got {joint_set!r}')
        encoding = self.machine.config.input_encoding
        if encoding == 'rays' and image_size is None:
            raise ValueError('a ray-encoded model needs the image size')
        points, weights = to_front_end(keypoints, confidence, joint_set)
        lead = points.shape[:-2]
        normalised, valid, rotations, boxes, _ = encode_keypoints(
            points.reshape(-1, *points.shape[-2:]), weights.reshape(-1, weights.shape[-1]),
            encoding, image_size, intrinsics, self.box_threshold)
        if rotations is None:       # 'crop': the encoding's boxes are the pixel boxes
            return (points, weights, boxes.reshape(*lead, 3), normalised.reshape(points.shape),
                    valid.reshape(lead), None)
        boxes = keypoint_boxes(points, weights, KEYPOINT_BOX_MARGIN, self.box_threshold)
        return (points, weights, boxes, normalised.reshape(points.shape), valid.reshape(lead),
                rotations.reshape(*lead, 3, 3))

    def person_inputs(self, person, image_size: Optional[tuple] = None,
                      intrinsics: Optional[np.ndarray] = None) -> Optional[PersonInput]:
        """What Ψ_T and the correction read of one front-end person (a
        :class:`hpm_ros.frontends.base.PersonDetection`), or None when the person has fewer
        than two usable joints.

        A keypoints model reads the person's joints (its own layout when the lifter knows it,
        else the extras' 'coco17' {'keypoints', 'confidence'} subset); an image model reads
        Ψ_R's 'features', 'pose2d' and 'crop' from ``extras``.
        """
        if not self.reads_keypoints:
            extras = person.extras
            return PersonInput(extras['features'], extras['pose2d'], extras['confidence'],
                               np.asarray(person.keypoints, np.float32),
                               np.asarray(person.confidence, np.float32), extras['crop'])
        keypoints, confidence, joint_set = person.keypoints, person.confidence, person.joint_set
        if joint_set not in self.input_joint_sets:
            coco = person.extras['coco17']
            keypoints, confidence, joint_set = coco['keypoints'], coco['confidence'], 'coco17'
        points, weights, box, normalised, valid, rotation = self.keypoint_inputs(
            keypoints, confidence, joint_set, image_size, intrinsics)
        if not valid:
            return None
        pose2d = torch.as_tensor(normalised[None], dtype=torch.float32)
        weights_t = torch.as_tensor(weights[None], dtype=torch.float32)
        with torch.inference_mode():
            features = self.machine.encode(pose2d, weights_t)[0]
        return PersonInput(features, pose2d, weights_t, points.astype(np.float32),
                           weights.astype(np.float32), CropBox(*box), rotation, joint_set)

    def lift_people(self, people: list, states: list, intrinsics: Optional[np.ndarray],
                    image_size: tuple) -> tuple:
        """One frame: ``people`` (front-end persons) with their LSTM ``states`` (one (h, c)
        of batch 1 per person, None for a new person) -> (list of LiftedPerson or None per
        person, the new states, timings_ms {'transformer', 'correction', 'placement'})."""
        timings = {'transformer': 0.0, 'correction': 0.0, 'placement': 0.0}
        inputs = [self.person_inputs(person, image_size, intrinsics) for person in people]
        kept = [i for i, item in enumerate(inputs) if item is not None]
        new_states = list(states)
        results = [None] * len(people)
        if not kept:
            return results, new_states, timings
        used = [inputs[i] for i in kept]
        start = time.perf_counter()
        pose3d, stepped = self.transformer_step([item.features for item in used],
                                                [states[i] for i in kept])
        for index, state in zip(kept, stepped):
            new_states[index] = state
        mark = time.perf_counter()
        timings['transformer'] = (mark - start) * 1000.0
        # The 2D loss weighs each joint by its confidence (as the settings were tuned on
        # validation banks; a 0/1 mask was 0.2-0.8 mm worse there), joints under
        # joint_confidence left out.
        weights = torch.cat([item.weights for item in used])
        corrected = self.correct(pose3d, torch.cat([item.pose2d for item in used]),
                                 weights * (weights >= self.joint_confidence),
                                 [item.joint_set for item in used])
        joints3d = root_relative(corrected.pose3d_mm.detach().cpu().numpy()).astype(np.float32)
        raw = root_relative(self.machine.denormalise_3d(
            corrected.uncorrected).detach().cpu().numpy()).astype(np.float32)
        if used[0].rotation is not None:  # [lifter issue 13] back from the virtual cameras
            rotations = np.stack([item.rotation for item in used])
            joints3d = to_camera_frame(joints3d, rotations).astype(np.float32)
            raw = to_camera_frame(raw, rotations).astype(np.float32)
        start = time.perf_counter()
        timings['correction'] = (start - mark) * 1000.0
        keypoints = np.stack([item.keypoints for item in used])
        confidence = np.stack([item.confidence for item in used])
        camera, placement = self.place(joints3d, keypoints, confidence, intrinsics, image_size)
        timings['placement'] = (time.perf_counter() - start) * 1000.0
        for row, (index, item) in enumerate(zip(kept, used)):
            results[index] = LiftedPerson(
                keypoints2d=keypoints[row], confidence=confidence[row], joints3d=joints3d[row],
                joints3d_raw=raw[row], joints3d_camera=camera[row], placement=placement[row],
                correction_applied=bool(corrected.applied[row]),
                correction_discarded=bool(corrected.discarded[row]),
                correction_steps=int(corrected.steps[row]), box=item.box)
        return results, new_states, timings

    def transformer_step(self, features: list, states: list) -> tuple:
        """Run one Ψ_T step of P people in one batch.

        features: a list of [1, C, F, F]; states: a list of (h, c) each [layers, 1, hidden] or
        None (H_0). Returns (pose3d [P, K, 3] normalised root-relative, the list of the P new
        states, batch 1 each).
        """
        initial = self.initial_state(1)
        states = [state if state is not None else initial for state in states]
        h = torch.cat([state[0] for state in states], dim=1)
        c = torch.cat([state[1] for state in states], dim=1)
        pose3d, (h_out, c_out) = self.backend.run_transformer_step(torch.cat(features), (h, c))
        return pose3d, [(h_out[:, i:i + 1], c_out[:, i:i + 1]) for i in range(len(states))]

    def correct(self, pose3d: torch.Tensor, pose2d: torch.Tensor,
                weights: Optional[torch.Tensor] = None, joint_sets=None) -> CorrectionResult:
        """The correction of B frames or people at once (see
        :meth:`hpm_ros.correction.Corrector.correct`): p3d [B, K, 3] normalised, p2d [B, K, 2]
        normalised crop coordinates, weights [B, K]; joint_sets: the input joint set of all
        rows (str), of each row (list of B str) or None, choosing :meth:`corrector_for`."""
        if joint_sets is None or isinstance(joint_sets, str):
            return self.corrector_for(joint_sets).correct(pose3d, pose2d, weights)
        groups = {}
        for row, joint_set in enumerate(joint_sets):
            groups.setdefault(self.corrector_for(joint_set), []).append(row)
        if len(groups) == 1:
            return next(iter(groups)).correct(pose3d, pose2d, weights)
        parts, order = [], []
        for corrector, rows in groups.items():
            index = torch.tensor(rows)
            parts.append(corrector.correct(pose3d[index], pose2d[index],
                                           None if weights is None else weights[index]))
            order.extend(rows)
        return CorrectionResult.concatenate(parts, torch.argsort(torch.tensor(order)))

    def place(self, joints3d: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
              intrinsics: Optional[np.ndarray], image_size: tuple) -> tuple:
        """Camera-frame joints [N, K, 3] float32 m of root-relative joints3d [N, K, 3] mm and
        how each root was placed ([N] 'reprojection' or 'nominal').

        keypoints [N, K, 2] px and confidence [N, K] of the same people; with ``intrinsics``
        [3, 3] the root is the least-squares reprojection fit over the joints at or above
        ``joint_confidence``; without them, or where the fit fails, the root lies on the ray
        of the 2D root at the nominal depth (a focal length equal to the image width and the
        image centre stand in for missing intrinsics). image_size: (W, H) px.
        """
        placed = np.empty(joints3d.shape, dtype=np.float32)
        placement = []
        weights = np.where(confidence >= self.joint_confidence, confidence, 0.0)
        if intrinsics is None:
            width, height = image_size
            nominal = intrinsics_matrix(width, width, (width - 1) / 2.0, (height - 1) / 2.0)
        else:
            nominal = intrinsics
        for row in range(len(joints3d)):
            root, how = None, 'nominal'
            if intrinsics is not None:
                try:
                    root = place_root_by_reprojection(joints3d[row], keypoints[row], intrinsics,
                                                      weights[row])
                    how = 'reprojection'
                except ValueError:
                    root = None
            if root is None:
                root = unproject_points(root_pixel(keypoints[row], confidence[row]),
                                        np.array(self.nominal_depth_m * 1000.0), nominal)
            placed[row] = (joints3d[row] + root) / 1000.0
            placement.append(how)
        return placed, placement
