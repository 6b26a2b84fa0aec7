"""Model configurations: ``paper`` (the published sizes), ``lite`` (2-core CPU sized) and
``keypoints`` (2D joints from any detector in place of the image front end Ψ_R)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from hpm_ros.errors import ConfigError

FRONT_ENDS = ('image', 'keypoints')
TRANSFORMER_INPUTS = ('features', 'heatmaps')
INPUT_ENCODINGS = ('crop', 'rays')


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of every sub-network; a checkpoint stores this to rebuild the model.

    ``trunk`` lists the Ψ_R convolution widths per stage (3×3, stride 1); a 2×2/2 max-pool
    separates consecutive stages, so the features have ``input_size / 2**(stages-1)`` cells.

    ``front_end`` 'image' (Ψ_R on S×S crops) or 'keypoints' (:mod:`hpm_ros.model.keypoints`:
    features rendered from given 2D joints). For 'keypoints' ``trunk`` is empty,
    ``input_size`` is the side F of the feature maps (one Gaussian heatmap per joint, standard
    deviation ``keypoint_sigma`` cells), ``keypoint_channels`` learned channels are appended
    and ``head_hidden`` is the width of the small network that computes them.
    ``input_encoding`` (keypoints front end): 'crop' (pixels in the crop box) or 'rays'
    (intrinsics-aware: :mod:`hpm_ros.data.keypoint_input`); checkpoints written before it
    existed are 'crop'.

    ``transformer_input`` (image front end): what Ψ_T reads as the 2D pose-aware features f2d,
    'features' (the last trunk convolution, C channels) or 'heatmaps' (Ψ_R's K joint maps as
    peak-normalised probabilities exp(β·(h − max h)) in (0, 1], the maps whose soft-argmax is
    the 2D pose). Measured on the lite trunk: Ψ_T stalls at the mean pose on the unnormalised
    trunk activations (mean 2.2, max 40) for 6000 steps and learns from the joint maps within
    a few hundred (models/MODEL_CARD.md).
    """

    name: str
    input_size: int
    trunk: tuple
    head_hidden: int
    transformer_channels: int
    transformer_fc: int
    lstm_hidden: int
    lstm_layers: int
    regression_hidden: int
    projection_hidden: int
    num_joints: int = 17
    joint_dropout: float = 0.3
    softargmax_beta: float = 1.0
    front_end: str = 'image'
    keypoint_channels: int = 0
    keypoint_sigma: float = 1.0
    transformer_input: str = 'features'
    input_encoding: str = 'crop'

    def __post_init__(self) -> None:
        if self.input_encoding not in INPUT_ENCODINGS:
            raise ConfigError(f'input_encoding must be one of {INPUT_ENCODINGS}, got '
                              f'{self.input_encoding!r}')
        object.__setattr__(self, 'trunk', tuple(tuple(int(c) for c in s) for s in self.trunk))
        if self.front_end not in FRONT_ENDS:
            raise ConfigError(f'front_end must be one of {FRONT_ENDS}, got {self.front_end!r}')
        if (self.front_end == 'keypoints') == bool(self.trunk):
            raise ConfigError('the image front end needs a trunk; the keypoints front end has '
                              f'none (trunk must be empty), got front_end={self.front_end!r} '
                              f'with {len(self.trunk)} trunk stages')
        if self.transformer_input not in TRANSFORMER_INPUTS:
            raise ConfigError(f'transformer_input must be one of {TRANSFORMER_INPUTS}, got '
                              f'{self.transformer_input!r}')
        if self.front_end == 'keypoints' and self.transformer_input != 'features':
            raise ConfigError('the keypoints front end\'s features are already joint maps: '
                              'transformer_input must be \'features\'')
        if self.keypoint_channels < 0 or not self.keypoint_sigma > 0:
            raise ConfigError('keypoint_channels must be >= 0 and keypoint_sigma > 0, got '
                              f'{self.keypoint_channels} and {self.keypoint_sigma}')
        if self.input_size % self.stride != 0:
            raise ConfigError(f'input_size {self.input_size} must be a multiple of the trunk '
                              f'stride {self.stride}')
        if transformer_output_cells(self.feature_size) < 1:
            raise ConfigError(
                f'feature maps of {self.feature_size} cells are too small for Ψ_T '
                '(two 5×5/2 convolutions each followed by a 2×2 max-pool)')
        if not 0.0 <= self.joint_dropout < 1.0:
            raise ConfigError(f'joint_dropout must be in [0, 1), got {self.joint_dropout}')

    @property
    def stride(self) -> int:
        """Total down-sampling of Ψ_R (8 for the Table 1 trunk; 1 for the keypoints front end)."""
        if self.front_end == 'keypoints':
            return 1
        return 2 ** (len(self.trunk) - 1)

    @property
    def feature_size(self) -> int:
        """Side F of the square 2D pose-aware feature maps f2d."""
        return self.input_size // self.stride

    @property
    def feature_channels(self) -> int:
        """Channels C of f2d (the last trunk convolution, or K joint maps; for the keypoints
        front end K joint maps + learned channels)."""
        if self.front_end == 'keypoints':
            return self.num_joints + self.keypoint_channels
        if self.transformer_input == 'heatmaps':
            return self.num_joints
        return self.trunk[-1][-1]

    def to_dict(self) -> dict:
        """Plain-data form for checkpoints and YAML."""
        data = asdict(self)
        data['trunk'] = [list(stage) for stage in self.trunk]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> 'ModelConfig':
        """Build from plain data; unknown or missing keys raise ConfigError. Keys added after
        the first release (front_end, keypoint_*, transformer_input, input_encoding) take
        their defaults when absent."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f'unknown model config keys: {unknown}')
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f'incomplete model config: {error}') from error


def transformer_output_cells(feature_size: int) -> int:
    """Side of Ψ_T's last pooled map for F×F input: (conv 5×5/2 pad 2, max-pool 2×2/2) twice."""
    size = feature_size
    for _ in range(2):
        size = (size + 2 * 2 - 5) // 2 + 1
        size //= 2
    return size


PAPER = ModelConfig(
    name='paper',
    input_size=368,
    trunk=((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 256, 256, 256, 256, 128)),
    head_hidden=512,
    transformer_channels=128,
    transformer_fc=1024,
    lstm_hidden=1024,
    lstm_layers=2,
    regression_hidden=1024,
    projection_hidden=1024,
)

# 'lite': a small Table 1 trunk for CPUs, 32×32 features; Ψ_T reads Ψ_R's joint maps (see
# transformer_input) and Ψ_C/Ψ_P train with δ = 0.1 (see KEYPOINTS below).
LITE = ModelConfig(
    name='lite',
    input_size=128,
    trunk=((16, 16), (32, 32), (48, 48, 48, 48, 48, 48, 48, 48, 32)),
    head_hidden=128,
    transformer_channels=64,
    transformer_fc=256,
    lstm_hidden=256,
    lstm_layers=2,
    regression_hidden=256,
    projection_hidden=256,
    joint_dropout=0.1,
    transformer_input='heatmaps',
)

# The keypoints front end: 17 heatmaps of 16×16 cells (σ = 1 cell), no learned channels, the
# Ψ_T / Ψ_C / Ψ_P sizes of 'lite'. Measured on held-out motion (models/KEYPOINTS_MODEL_CARD.md):
# 32×32 maps or 32 learned channels cost 2-3× the training time per step for no gain within a
# 20-minute budget; δ = 0.1 instead of the paper's 0.3, which left Ψ_C's output 7 mm worse.
KEYPOINTS = ModelConfig(
    name='keypoints',
    front_end='keypoints',
    input_size=16,
    trunk=(),
    head_hidden=128,
    transformer_channels=64,
    transformer_fc=256,
    lstm_hidden=256,
    lstm_layers=2,
    regression_hidden=256,
    projection_hidden=256,
    joint_dropout=0.1,
    keypoint_channels=0,
    keypoint_sigma=1.0,
)

CONFIGS = {'paper': PAPER, 'lite': LITE, 'keypoints': KEYPOINTS}


def get_config(name: str) -> ModelConfig:
    """The named built-in configuration ('paper', 'lite' or 'keypoints')."""
    try:
        return CONFIGS[name]
    except KeyError as error:
        raise ConfigError(
            f'unknown model config {name!r}; choose from {sorted(CONFIGS)}') from error
