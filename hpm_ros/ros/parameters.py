"""The node's parameters as data: names, defaults, descriptions, ranges, which may change live.

``config/pose.yaml`` lists every one of them; ``test/test_launch.py`` checks that it does.
"""
from __future__ import annotations

from dataclasses import dataclass

from hpm_ros.frontends import BLAZEPOSE_RUNTIMES, FRONT_ENDS
from hpm_ros.pipeline import PipelineConfig
from hpm_ros.skeleton import H36M17


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter.

    default: the value, whose type is the parameter's; low, high: optional numeric range;
    dynamic: may change while the node runs; read_only: set by the node, never by the user;
    choices: the allowed strings.
    """

    name: str
    default: object
    description: str
    low: float = None
    high: float = None
    dynamic: bool = False
    read_only: bool = False
    choices: tuple = ()


PARAMETERS = (
    ParameterSpec('front_end', 'blazepose', '2D front end: blazepose (real images) or psi_r (the '
                  "paper's Ψ_R of an image model)", choices=FRONT_ENDS),
    ParameterSpec('front_end_runtime', 'litert', 'runtime of BlazePose',
                  choices=BLAZEPOSE_RUNTIMES),
    ParameterSpec('front_end_dir', '', "folder of BlazePose's model files (.tflite, .onnx, "
                  '.engine); empty = the shipped models/blazepose'),
    ParameterSpec('person_min_presence', 0.5, "BlazePose: least pose presence of a person",
                  0.0, 1.0),
    ParameterSpec('person_min_skeleton_px', 100.0, 'BlazePose: least extent (px) of the seen '
                  'landmarks; smaller skeletons are false poses (furniture) or too far away',
                  0.0, 10000.0),
    ParameterSpec('person_min_visible_landmarks', 8, 'BlazePose: least number of landmarks '
                  'seen with confidence >= 0.5', 0, 33),
    ParameterSpec('max_people', 4, 'BlazePose: the most people tracked and lifted per frame '
                  "(1: mediapipe's single-person graph, the detector alone)", 1, 16),
    ParameterSpec('person_box_source', 'both', 'BlazePose, several people: where new people '
                  'are looked for: pose_detector (detector runs with the known people masked), '
                  'faces (BlazeFace seeds) or both', choices=('pose_detector', 'faces', 'both')),
    ParameterSpec('face_detector', 'full', 'BlazeFace variant of the faces box source: full '
                  '(to about 5 m) or short (about 2 m)', choices=('full', 'short')),
    ParameterSpec('person_search_interval', 5, 'BlazePose, several people: look for new '
                  'people every this many frames while others are tracked', 1, 1000),
    ParameterSpec('track_expiry_s', 1.0, 'how long a person out of sight keeps their ID (s)',
                  0.0, 60.0),
    ParameterSpec('model_path', '', 'lifter checkpoint; empty = the shipped model of the front '
                  'end (models/hpm_keypoints.pt for blazepose, models/hpm_lite.pt for psi_r)'),
    ParameterSpec('backend', 'auto', 'inference backend of Ψ_T (and Ψ_R); auto: onnxruntime '
                  'when the model\'s ONNX files are in export_dir, else torch',
                  choices=('auto', 'torch', 'onnxruntime', 'tensorrt')),
    ParameterSpec('export_dir', '', 'folder of exported ONNX / TensorRT files; empty = the '
                  'checkpoint folder'),
    ParameterSpec('allow_backend_fallback', False,
                  'use torch when the requested backend is unavailable (else fail at start)'),
    ParameterSpec('device', 'cpu', 'torch device: cpu or cuda[:N]'),
    ParameterSpec('threads', 1, 'torch CPU threads (0 = torch default)', 0, 64),
    ParameterSpec('correction_preset', 'aligned', 'self-supervised correction: off, paper, '
                  'official or aligned', dynamic=True,
                  choices=('off', 'paper', 'official', 'aligned')),
    ParameterSpec('correction_max_steps', -1, "gradient steps per frame; -1 = the preset's",
                  -1, 100, dynamic=True),
    ParameterSpec('correction_lr', 0.0, "correction learning rate; 0 = the preset's", 0.0, 10.0,
                  dynamic=True),
    ParameterSpec('correction_tau_mm', 0.0, 'discard the correction when the robust joints '
                  "move more than this (mm); 0 = the preset's", 0.0, 1000.0, dynamic=True),
    ParameterSpec('correction_epsilon_mm', 0.0, 'stop when the robust joints move less than '
                  "this in a step (mm); 0 = the preset's", 0.0, 1000.0, dynamic=True),
    ParameterSpec('crop_policy', 'auto', "psi_r's person crop: auto (roi, else track, else "
                  'full), roi, track or full', choices=('auto', 'roi', 'track', 'full')),
    ParameterSpec('crop_margin', 1.25, "psi_r's square crop side / person extent", 1.0, 3.0),
    ParameterSpec('lost_confidence', 0.08, "psi_r's mean joint confidence below which the "
                  'person is lost (state reset, empty output)', 0.0, 1.0),
    ParameterSpec('joint_confidence', 0.1, 'joint confidence below which a joint is left out '
                  'of tracking, correction and placement', 0.0, 1.0),
    ParameterSpec('state_reset_gap_s', 0.5, 'reset the LSTM state after a gap longer than this',
                  0.01, 60.0),
    ParameterSpec('nominal_depth_m', 3.0, 'root depth used when intrinsics cannot place it',
                  0.1, 50.0),
    ParameterSpec('marker_lifetime_s', 0.3, 'lifetime of the RViz markers (0 = forever)',
                  0.0, 60.0),
    ParameterSpec('publish_debug_image', False, 'publish ~/debug_image with the 2D skeleton'),
    ParameterSpec('diagnostics_period_s', 1.0, 'period of /diagnostics', 0.1, 60.0),
    ParameterSpec('image_transport', 'raw', 'raw: subscribe image (sensor_msgs/Image); '
                  'compressed: image/compressed (sensor_msgs/CompressedImage, JPEG or PNG)',
                  choices=('raw', 'compressed')),
    ParameterSpec('input_timeout_s', 0.5, 'diagnostics WARN when no image arrived for this '
                  'long (at least 3 camera periods)', 0.05, 60.0),
    ParameterSpec('joint_names', list(H36M17.joint_names), 'order of the joints in ~/pose3d',
                  read_only=True),
)
SPECS = {spec.name: spec for spec in PARAMETERS}
CORRECTION_KNOBS = {'correction_max_steps': ('max_steps', -1),
                    'correction_lr': ('lr', 0.0),
                    'correction_tau_mm': ('tau_mm', 0.0),
                    'correction_epsilon_mm': ('epsilon_mm', 0.0)}


def check_value(name: str, value) -> str:
    """'' when ``value`` is acceptable for parameter ``name``, else the reason."""
    spec = SPECS[name]
    if spec.choices and value not in spec.choices:
        return f'{name} must be one of {spec.choices}, got {value!r}'
    if spec.low is not None and not spec.low <= value <= spec.high:
        return f'{name} must be in [{spec.low}, {spec.high}], got {value}'
    return ''


def correction_overrides(values: dict) -> dict:
    """Map the correction_* parameters onto CorrectionConfig overrides (unset ones left out)."""
    return {knob: (int(values[name]) if knob == 'max_steps' else float(values[name]))
            for name, (knob, unset) in CORRECTION_KNOBS.items() if values[name] != unset}


def pipeline_config(values: dict) -> PipelineConfig:
    """Build the pipeline settings from the node's parameter values."""
    return PipelineConfig(
        model_path=values['model_path'], front_end=values['front_end'],
        front_end_runtime=values['front_end_runtime'], front_end_dir=values['front_end_dir'],
        front_end_options={'min_presence': values['person_min_presence'],
                           'min_skeleton_px': values['person_min_skeleton_px'],
                           'min_visible_landmarks': values['person_min_visible_landmarks']},
        backend=values['backend'],
        export_dir=values['export_dir'], device=values['device'], threads=values['threads'],
        allow_backend_fallback=values['allow_backend_fallback'],
        correction_preset=values['correction_preset'],
        correction_overrides=correction_overrides(values), crop_policy=values['crop_policy'],
        crop_margin=values['crop_margin'], lost_confidence=values['lost_confidence'],
        joint_confidence=values['joint_confidence'],
        state_reset_gap_s=values['state_reset_gap_s'], nominal_depth_m=values['nominal_depth_m'],
        max_people=values['max_people'], box_source=values['person_box_source'],
        face_detector=values['face_detector'], search_interval=values['person_search_interval'],
        track_expiry_s=values['track_expiry_s'])
