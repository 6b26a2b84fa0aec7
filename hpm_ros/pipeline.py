"""One frame in, one 3D pose out: crop → Ψ_R → Ψ_T → correction → metric placement.

The single object that the ROS node, the CLI and the bag tools call; ROS-free.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hpm_ros.checkpoint import load_checkpoint
from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.crop import CropBox, box_around, box_from_keypoints, crop_image, letterbox_box
from hpm_ros.errors import ImageEncodingError
from hpm_ros.geometry import (intrinsics_matrix, place_root_by_reprojection, root_relative,
                              unproject_points)
from hpm_ros.skeleton import ROOT_JOINT

CROP_POLICIES = ('auto', 'roi', 'track', 'full')


@dataclass
class PipelineConfig:
    """Run-time settings of :class:`PosePipeline` (the node's parameters map onto these).

    threads: torch CPU threads for the process (0 = torch's default; 1 is steadiest on a
    small CPU shared with other processes). export_dir: folder of the exported ONNX / TensorRT
    files of the model (default: the checkpoint's folder). crop_policy: 'auto' (ROI if given,
    else a box around the last 2D pose, else the whole frame letterboxed), 'roi', 'track'
    (previous pose, else whole frame) or 'full'.
    """

    model_path: str
    backend: str = 'torch'
    export_dir: str = ''
    device: str = 'cpu'
    threads: int = 0
    allow_backend_fallback: bool = False
    correction_preset: str = 'aligned'
    correction_overrides: dict = field(default_factory=dict)
    crop_policy: str = 'auto'
    crop_margin: float = 1.25
    lost_confidence: float = 0.08
    joint_confidence: float = 0.1
    state_reset_gap_s: float = 0.5
    nominal_depth_m: float = 3.0

    def __post_init__(self) -> None:
        if self.crop_policy not in CROP_POLICIES:
            raise ValueError(
                f'crop_policy must be one of {CROP_POLICIES}, got {self.crop_policy!r}')
        if self.crop_margin < 1.0:
            raise ValueError(f'crop_margin must be >= 1, got {self.crop_margin}')
        if self.nominal_depth_m <= 0:
            raise ValueError(f'nominal_depth_m must be positive, got {self.nominal_depth_m}')
        if self.threads < 0:
            raise ValueError(f'threads must be >= 0, got {self.threads}')
        if self.state_reset_gap_s <= 0:
            raise ValueError(f'state_reset_gap_s must be positive, got {self.state_reset_gap_s}')


@dataclass
class PoseResult:
    """The pose of one frame.

    keypoints2d [K, 2] float32 px (full frame); confidence [K]; joints3d [K, 3] float32 mm
    root-relative after correction; joints3d_raw the same before correction;
    joints3d_camera [K, 3] float32 metres, camera optical frame; placement 'reprojection'
    (from intrinsics) or 'nominal' (root on the ray of the 2D root at the nominal depth; without
    intrinsics a focal length equal to the image width is assumed); valid False when no person
    was found.
    """

    keypoints2d: np.ndarray
    confidence: np.ndarray
    joints3d: np.ndarray
    joints3d_raw: np.ndarray
    joints3d_camera: np.ndarray
    placement: str
    valid: bool
    correction_applied: bool
    correction_discarded: bool
    correction_steps: int
    crop: CropBox
    timings_ms: dict
    state_reset: str = ''


class PosePipeline:
    """Stateful per-camera estimator: carries the LSTM state and the tracking box."""

    def __init__(self, config: PipelineConfig) -> None:
        from hpm_ros.backends import create_backend

        self.config = config
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.machine, self.checkpoint = load_checkpoint(Path(config.model_path))
        self.device = torch.device(config.device)
        self.machine.to(self.device)
        model_dir = Path(config.export_dir or Path(config.model_path).parent)
        self.backend = create_backend(config.backend, (self.machine, self.checkpoint), model_dir,
                                      device=config.device,
                                      allow_fallback=config.allow_backend_fallback)
        self.corrector = Corrector(self.machine, CorrectionConfig.from_preset(
            config.correction_preset, **config.correction_overrides))
        self.input_size = self.machine.config.input_size
        self.reset()

    @property
    def joint_names(self) -> tuple:
        """Names of the output joints, in output order."""
        from hpm_ros.skeleton import JOINT_SETS

        return JOINT_SETS[self.checkpoint.joint_set].joint_names

    def reset(self) -> None:
        """Forget the temporal state and the tracked person."""
        self.state = None
        self.track_box = None
        self.last_stamp = None
        self.last_frame_id = None

    def set_correction(self, preset: str, **overrides) -> None:
        """Switch the correction preset (and knobs) at run time."""
        self.corrector = Corrector(self.machine, CorrectionConfig.from_preset(preset, **overrides))

    def _check_continuity(self, stamp: float, frame_id: str) -> str:
        reason = ''
        if self.last_stamp is not None:
            if frame_id != self.last_frame_id:
                reason = 'frame_id changed'
            elif stamp - self.last_stamp > self.config.state_reset_gap_s:
                reason = 'time gap'
            elif stamp < self.last_stamp:
                reason = 'time went backwards'
        if reason:
            self.state = None
            self.track_box = None
        self.last_stamp, self.last_frame_id = stamp, frame_id
        return reason

    def _choose_box(self, width: int, height: int, roi: tuple) -> CropBox:
        policy = self.config.crop_policy
        if roi is not None and policy in ('auto', 'roi'):
            return box_around(*roi, margin=self.config.crop_margin)
        if self.track_box is not None and policy in ('auto', 'track'):
            return self.track_box
        return letterbox_box(width, height)

    def process(self, image: np.ndarray, stamp: float = 0.0, frame_id: str = '',
                intrinsics: np.ndarray = None, roi: tuple = None) -> PoseResult:
        """Estimate the pose in ``image`` [H, W, 3] uint8 RGB taken at ``stamp`` seconds.

        intrinsics: [3, 3] camera matrix or None; roi: (x0, y0, width, height) px or None.
        """
        _validate_image(image)
        timings = {}
        start = time.perf_counter()
        reset = self._check_continuity(stamp, frame_id)
        height, width = image.shape[:2]
        box = self._choose_box(width, height, roi)
        crop = crop_image(image, box, self.input_size)
        tensor = torch.from_numpy(crop).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        timings['crop'] = _elapsed_ms(start)

        mark = time.perf_counter()
        features, _, pose2d, confidence = self.backend.run_pose2d(tensor)
        timings['pose2d'] = _elapsed_ms(mark)
        mark = time.perf_counter()
        if self.state is None:
            self.state = self.backend.initial_state(1)
        pose3d, self.state = self.backend.run_transformer_step(features, self.state)
        timings['transformer'] = _elapsed_ms(mark)

        mark = time.perf_counter()
        weights = (confidence >= self.config.joint_confidence).float()
        corrected = self.corrector.correct(pose3d, pose2d, weights=weights)
        timings['correction'] = _elapsed_ms(mark)

        mark = time.perf_counter()
        confidence_np = confidence[0].detach().cpu().numpy().astype(np.float32)
        keypoints = box.to_image(pose2d[0].detach().cpu().numpy()).astype(np.float32)
        joints3d = root_relative(corrected.pose3d_mm[0].detach().cpu().numpy()).astype(np.float32)
        raw = root_relative(
            self.machine.denormalise_3d(corrected.uncorrected)[0].detach().cpu().numpy())
        valid = float(confidence_np.mean()) >= self.config.lost_confidence
        camera, placement = self._place(joints3d, keypoints, confidence_np, intrinsics,
                                        (width, height))
        timings['placement'] = _elapsed_ms(mark)

        if valid:
            self.track_box = box_from_keypoints(keypoints, confidence_np, self.config.crop_margin,
                                                self.config.joint_confidence)
        else:
            self.track_box = None
            self.state = None
        timings['total'] = _elapsed_ms(start)
        return PoseResult(
            keypoints2d=keypoints, confidence=confidence_np, joints3d=joints3d,
            joints3d_raw=raw.astype(np.float32), joints3d_camera=camera, placement=placement,
            valid=valid, correction_applied=bool(corrected.applied[0]),
            correction_discarded=bool(corrected.discarded[0]),
            correction_steps=int(corrected.steps[0]), crop=box, timings_ms=timings,
            state_reset=reset)

    def _place(self, joints3d: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
               intrinsics: np.ndarray, image_size: tuple) -> tuple:
        """Camera-frame joints [K, 3] metres and how the root was placed."""
        if intrinsics is not None:
            weights = (confidence >= self.config.joint_confidence).astype(np.float64)
            try:
                root = place_root_by_reprojection(joints3d, keypoints, intrinsics, weights)
                return ((joints3d + root) / 1000.0).astype(np.float32), 'reprojection'
            except ValueError:
                pass
        else:
            width, height = image_size
            intrinsics = intrinsics_matrix(width, width, (width - 1) / 2.0, (height - 1) / 2.0)
        depth_mm = np.array(self.config.nominal_depth_m * 1000.0)
        root = unproject_points(keypoints[ROOT_JOINT], depth_mm, intrinsics)
        return ((joints3d + root) / 1000.0).astype(np.float32), 'nominal'


def _validate_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageEncodingError('image must be a uint8 numpy array [H, W, 3] RGB')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageEncodingError(f'image must be [H, W, 3] RGB, got shape {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageEncodingError(f'image is empty ({image.shape[1]}×{image.shape[0]})')


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
