"""One frame in, 3D poses out: a 2D front end, then the lifting core.

The single object that the ROS node, `hpm estimate`, `hpm bag-eval` and `hpm demo` call;
ROS-free. Front end (:mod:`hpm_ros.frontends`): 'blazepose' (real images, the default, with
the keypoints model ``models/hpm_keypoints.pt``) or 'psi_r' (the paper's Ψ_R of an image model
such as ``models/hpm_lite.pt``). Lifting core (:mod:`hpm_ros.lifting`): Ψ_T with each person's
LSTM state, the self-supervised correction, root placement, batched over the people.

Several people (``max_people`` > 1, BlazePose): every tracking ID has its own LSTM state,
kept while the ID is seen on consecutive frames (an ID that was not seen in the previous
frame starts again from H_0, as a lost person does). The **primary person** (the
single-person fields of :class:`PoseResult`, the node's ``~/pose3d``) is the one with the
largest 2D box (nearest, as a rule), except that the previous primary stays primary while
its box is at least ``PRIMARY_KEEP`` of the largest (no flicker between similar people).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hpm_ros.checkpoint import load_checkpoint
from hpm_ros.crop import CropBox
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.frontends import BLAZEPOSE_RUNTIMES, FRONT_ENDS, create_front_end, validate_image
from hpm_ros.frontends.psi_r import CROP_POLICIES
from hpm_ros.lifting import LiftingCore
from hpm_ros.resources import default_model_path

STAGES = ('front_end', 'transformer', 'correction', 'placement', 'total')
MODEL_FRONT_ENDS = {'blazepose': 'keypoints', 'psi_r': 'image'}
PRIMARY_KEEP = 0.8


@dataclass
class PipelineConfig:
    """Run-time settings of :class:`PosePipeline` (the node's parameters map onto these).

    front_end: 'blazepose' or 'psi_r'; front_end_runtime: BlazePose's runtime ('litert',
    'onnxruntime' or 'tensorrt'); front_end_dir: folder of BlazePose's model files (default
    models/blazepose); front_end_options: the front end's own thresholds
    (:class:`hpm_ros.frontends.blazepose.BlazePoseFrontEnd`). model_path: the lifter's
    checkpoint ('' = the shipped model of the front end: a keypoints model for BlazePose, an
    image model for Ψ_R). backend: runtime of Ψ_T (and of Ψ_R): 'auto' (default: onnxruntime
    when the model's exported files are in export_dir, else torch), 'torch', 'onnxruntime' or
    'tensorrt'; export_dir: folder of its exported files (default: the checkpoint's folder);
    with onnxruntime on CPU the correction runs there too where its graph was exported.
    threads: CPU threads of torch and of the front end's runtime (0 = torch's default, the
    front end then takes 1). crop_policy / crop_margin / lost_confidence: Ψ_R's crop and
    lost-person rules (:class:`hpm_ros.frontends.psi_r.PsiRFrontEnd`). max_people: the most
    people tracked and lifted per frame with BlazePose (default 4; 1: mediapipe's
    single-person graph, the detector alone); psi_r always sees one person; box_source,
    face_detector, search_interval, track_expiry_s: how BlazePose finds and tracks several
    people (:class:`hpm_ros.frontends.blazepose.BlazePoseFrontEnd`). correction_preset,
    correction_overrides: the correction; with no overrides the checkpoint's tuned settings of
    the preset per input joint set (:meth:`hpm_ros.lifting.LiftingCore.set_correction`).
    """

    model_path: str = ''
    front_end: str = 'blazepose'
    front_end_runtime: str = 'litert'
    front_end_dir: str = ''
    front_end_options: dict = field(default_factory=dict)
    backend: str = 'auto'
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
    max_people: int = 4
    box_source: str = 'both'
    face_detector: str = 'full'
    search_interval: int = 5
    track_expiry_s: float = 1.0

    def __post_init__(self) -> None:
        if self.front_end not in FRONT_ENDS:
            raise ValueError(f'front_end must be one of {FRONT_ENDS}, got {self.front_end!r}')
        if self.front_end_runtime not in BLAZEPOSE_RUNTIMES:
            raise ValueError(f'front_end_runtime must be one of {BLAZEPOSE_RUNTIMES}, got '
                             f'{self.front_end_runtime!r}')
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
        if self.max_people < 1:
            raise ValueError(f'max_people must be >= 1, got {self.max_people}')
        if self.track_expiry_s < 0:
            raise ValueError(f'track_expiry_s must be >= 0, got {self.track_expiry_s}')
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f'device must be cpu or cuda[:N], got {self.device!r}') from error
        if device.type not in ('cpu', 'cuda'):
            raise ValueError(f'device must be cpu or cuda[:N], got {self.device!r}')

    def resolved_model_path(self) -> Path:
        """The lifter's checkpoint: ``model_path``, or the shipped model of the front end."""
        return Path(self.model_path) if self.model_path else default_model_path(self.front_end)


@dataclass
class PoseResult:
    """The pose of one frame: the primary person's fields (see the module docstring), and all.

    keypoints2d [K, 2] float32 px (full frame, the lifter's H36M-17 layout); confidence [K];
    joints3d [K, 3] float32 mm root-relative after correction; joints3d_raw the same before
    correction; joints3d_camera [K, 3] float32 m, camera optical frame; placement
    'reprojection' (from intrinsics) or 'nominal' (root on the ray of the 2D root at the
    nominal depth; without intrinsics a focal length equal to the image width is assumed);
    valid False when nobody was found (2D zeros with confidence 0, 3D NaN); crop: the square
    box the lifter normalised the 2D pose in (None without a person); track_id: the primary
    person's tracking ID (-1 without a person or an ID); people: the lifted persons of the
    frame (:class:`hpm_ros.lifting.LiftedPerson` with their ``track_id``, primary first, then
    by decreasing 2D box); detections:
    what the front end found (:class:`hpm_ros.frontends.base.PersonDetection`);
    timings_ms: :data:`STAGES` plus the front end's own stages as 'front_end.<stage>'.
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
    crop: Optional[CropBox]
    timings_ms: dict
    state_reset: str = ''
    track_id: int = -1
    people: list = field(default_factory=list)
    detections: list = field(default_factory=list)


class PosePipeline:
    """Stateful per-camera estimator: the front end's tracking and each person's LSTM state."""

    def __init__(self, config: PipelineConfig) -> None:
        from hpm_ros.backends import AUTO, canonical_name, create_backend

        self.config = config
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        if self.device.type == 'cuda' and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f'device {config.device!r} requested, but torch {torch.__version__} sees no CUDA '
                f'GPU (CUDA build: {torch.version.cuda is not None}); use device cpu')
        path = config.resolved_model_path()
        self.machine, self.checkpoint = load_checkpoint(path)
        wanted = MODEL_FRONT_ENDS[config.front_end]
        if self.machine.config.front_end != wanted:
            raise CheckpointError(
                f'{path} is a model for the {self.machine.config.front_end!r} front end; '
                f'front_end {config.front_end!r} needs a {wanted!r} model (shipped: '
                f'{default_model_path(config.front_end).name})')
        self.machine.to(self.device)
        model_dir = Path(config.export_dir or path.parent)
        options = {}
        if canonical_name(config.backend) in ('onnxruntime', AUTO) and config.threads > 0:
            options['intra_op_threads'] = config.threads
        self.backend = create_backend(config.backend, (self.machine, self.checkpoint), model_dir,
                                      device=config.device,
                                      allow_fallback=config.allow_backend_fallback, **options)
        self.front_end = self._create_front_end()
        self.lifter = LiftingCore(
            self.machine, self.backend, config.correction_preset, config.correction_overrides,
            joint_confidence=config.joint_confidence, nominal_depth_m=config.nominal_depth_m,
            input_joint_sets=self.checkpoint_input_joint_sets(),
            tuned_correction=self.checkpoint.metadata.get('correction'),
            correction_dir=model_dir if self.backend.name == 'onnxruntime'
            and self.device.type == 'cpu' else None, correction_threads=config.threads or 1)
        self.reset()

    def _create_front_end(self):
        config = self.config
        if config.front_end == 'psi_r':
            return create_front_end(
                'psi_r', backend=self.backend, joint_set=self.checkpoint.joint_set,
                crop_policy=config.crop_policy, crop_margin=config.crop_margin,
                lost_confidence=config.lost_confidence,
                joint_confidence=config.joint_confidence)
        return create_front_end('blazepose', runtime=config.front_end_runtime,
                                model_dir=config.front_end_dir or None,
                                threads=config.threads or 1, device=config.device,
                                max_people=config.max_people, box_source=config.box_source,
                                face_detector=config.face_detector,
                                search_interval=config.search_interval,
                                track_expiry_s=config.track_expiry_s,
                                **config.front_end_options)

    def checkpoint_input_joint_sets(self) -> tuple:
        """The 2D layouts the lifter was trained on (all known ones when the checkpoint does
        not say)."""
        from hpm_ros.data.keypoint_clips import INPUT_JOINT_SETS

        data = self.checkpoint.metadata.get('training', {}).get('data', {})
        trained = tuple(data.get('input_joint_sets') or ())
        return tuple(name for name in trained if name in INPUT_JOINT_SETS) or INPUT_JOINT_SETS

    @property
    def people_limit(self) -> int:
        """The most people lifted per frame: ``max_people`` (BlazePose), 1 (Ψ_R)."""
        return 1 if self.config.front_end == 'psi_r' else self.config.max_people

    @property
    def joint_names(self) -> tuple:
        """Names of the output joints, in output order."""
        from hpm_ros.skeleton import JOINT_SETS

        return JOINT_SETS[self.checkpoint.joint_set].joint_names

    @property
    def corrector(self):
        """The correction in use (:class:`hpm_ros.correction.Corrector`)."""
        return self.lifter.corrector

    def reset(self) -> None:
        """Forget the temporal state and the tracked people."""
        self.front_end.reset()
        self.states = {}
        self.primary_id = None
        self.last_stamp = None
        self.last_frame_id = None

    def set_correction(self, preset: str, **overrides) -> None:
        """Switch the correction preset (and knobs) at run time."""
        self.lifter.set_correction(preset, **overrides)

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
            self.front_end.reset()
            self.states = {}
        self.last_stamp, self.last_frame_id = stamp, frame_id
        return reason

    def process(self, image: np.ndarray, stamp: float = 0.0, frame_id: str = '',
                intrinsics: np.ndarray = None, roi: tuple = None,
                boxes: list = None) -> PoseResult:
        """Estimate the poses in ``image`` [H, W, 3] uint8 RGB taken at ``stamp`` seconds.

        intrinsics: [3, 3] camera matrix or None; roi: (x0, y0, width, height) px of the
        person or None; boxes: several such boxes (an external person detector's; BlazePose
        uses at most ``max_people``, Ψ_R the first) or None.
        """
        validate_image(image)
        start = time.perf_counter()
        reset = self._check_continuity(stamp, frame_id)
        height, width = image.shape[:2]
        if self.config.front_end == 'psi_r':
            roi = boxes[0] if roi is None and boxes else roi
            found = self.front_end.process(image, roi=roi, stamp=stamp)
        else:
            found = self.front_end.process(image, roi=roi, stamp=stamp, boxes=boxes)
        timings = {'front_end': (time.perf_counter() - start) * 1000.0}
        timings.update({f'front_end.{k}': v for k, v in found.timings_ms.items()})
        people = found.people[:self.people_limit]
        ids = [int(p.extras.get('track_id', -1)) for p in people]
        lifted, states, stage_ms = self.lifter.lift_people(
            people, [self.states.get(i) for i in ids], intrinsics, (width, height))
        timings.update(stage_ms)
        self.states = {}
        order = []
        for index, (person, track_id) in enumerate(zip(lifted, ids)):
            if person is not None:
                person.track_id = track_id
                self.states[track_id] = states[index]
                order.append(index)
        order = self._primary_first(order, people, ids)
        primary = lifted[order[0]] if order else None
        self.primary_id = primary.track_id if primary is not None else None
        timings['total'] = (time.perf_counter() - start) * 1000.0
        if primary is None:
            joints = self.machine.config.num_joints
            nan3 = np.full((joints, 3), np.nan, dtype=np.float32)
            return PoseResult(
                keypoints2d=np.zeros((joints, 2), np.float32),
                confidence=np.zeros(joints, np.float32), joints3d=nan3, joints3d_raw=nan3,
                joints3d_camera=nan3, placement='', valid=False, correction_applied=False,
                correction_discarded=False, correction_steps=0, crop=None, timings_ms=timings,
                state_reset=reset, detections=found.people)
        return PoseResult(
            keypoints2d=primary.keypoints2d, confidence=primary.confidence,
            joints3d=primary.joints3d, joints3d_raw=primary.joints3d_raw,
            joints3d_camera=primary.joints3d_camera, placement=primary.placement, valid=True,
            correction_applied=primary.correction_applied,
            correction_discarded=primary.correction_discarded,
            correction_steps=primary.correction_steps, crop=primary.box, timings_ms=timings,
            state_reset=reset, track_id=primary.track_id,
            people=[lifted[i] for i in order], detections=found.people)

    def _primary_first(self, order: list, people: list, ids: list) -> list:
        """Sort ``order`` (indices of lifted people) by decreasing 2D box area, primary first.

        The primary is the previous one while its box is >= PRIMARY_KEEP x the largest, else
        the largest.
        """
        area = {i: people[i].box[2] * people[i].box[3] for i in order}
        order = sorted(order, key=lambda i: -area[i])
        if len(order) > 1 and self.primary_id is not None and self.primary_id >= 0:
            previous = [i for i in order if ids[i] == self.primary_id]
            if previous and area[previous[0]] >= PRIMARY_KEEP * area[order[0]]:
                order.remove(previous[0])
                order.insert(0, previous[0])
        return order


def add_pipeline_arguments(parser) -> None:
    """The options of every tool that runs :class:`PosePipeline` (estimate, bag-eval, demo)."""
    parser.add_argument('--front-end', default='blazepose', choices=FRONT_ENDS,
                        help='2D front end: blazepose (real images, default) or psi_r (the '
                        'paper\'s Ψ_R of an image model)')
    parser.add_argument('--front-end-runtime', default='litert', choices=BLAZEPOSE_RUNTIMES,
                        help='runtime of BlazePose (default litert)')
    parser.add_argument('--model', help='lifter checkpoint (default: the shipped model of the '
                        'front end: models/hpm_keypoints.pt, or models/hpm_lite.pt for psi_r)')
    parser.add_argument('--backend', default='auto',
                        help='runtime of Ψ_T (and Ψ_R): auto (default: onnxruntime when the '
                        'model\'s ONNX files are beside it, else torch), torch, onnxruntime or '
                        'tensorrt')
    parser.add_argument('--correction', default='aligned', help='off, paper, official or aligned')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads of torch and the front end (default 1)')
    parser.add_argument('--max-people', type=int, default=PipelineConfig.max_people,
                        help='BlazePose: the most people tracked and lifted per frame (default '
                        f'{PipelineConfig.max_people}; 1: the single-person graph)')


def config_from_arguments(args, **settings) -> PipelineConfig:
    """The :class:`PipelineConfig` of options added by :func:`add_pipeline_arguments`."""
    return PipelineConfig(model_path=args.model or '', front_end=args.front_end,
                          front_end_runtime=args.front_end_runtime, backend=args.backend,
                          correction_preset=args.correction, threads=args.threads,
                          max_people=args.max_people, **settings)
