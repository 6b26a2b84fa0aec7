"""`hpm train`: render the synthetic bank a config asks for and run Algorithm 1 on it."""
from __future__ import annotations

from pathlib import Path

from hpm_ros.data.mocap_check import find_mocap_root
from hpm_ros.errors import ConfigError
from hpm_ros.data.synthetic_bank import build_bank
from hpm_ros.model import get_config
from hpm_ros.training.config import TrainConfig, load_train_config, model_config
from hpm_ros.training.loop import train


def resolve_mocap_dir(configured: str) -> Path:
    """The configured mocap folder, or the shared one beside the repository ('' = auto);
    None when neither exists (training then uses procedural motion only)."""
    if configured:
        path = Path(configured)
        if not path.is_dir():
            raise FileNotFoundError(f'mocap_dir {path} does not exist')
        return path
    return find_mocap_root()


def keypoint_bank(config: TrainConfig, mocap_dir: Path):
    """The keypoints front end's bank: clips of detections simulated on 3D motion."""
    from hpm_ros.data.keypoint_clips import h36m_motions
    from hpm_ros.data.lifter_clips import build_lifter_bank

    data = config.data
    extra = h36m_motions(data.motion_3d, data.motion_3d_subjects, data.fps) \
        if data.motion_3d else []
    return build_lifter_bank(
        data.train_clips, data.clip_length, seed=data.seed, split='train', fps=data.fps,
        mocap_dir=mocap_dir, mocap_fraction=data.mocap_fraction,
        detectors=data.detectors or None, encoding=model_config(config).input_encoding,
        family_share=data.family_share, extra_motions=extra,
        two_d_only_fraction=data.two_d_only_fraction)


def tune_correction(config: TrainConfig, final: Path, mocap_dir: Path) -> dict:
    """Choose the keypoints model's correction settings on validation banks (one per detector
    model of the recipe) and store them in ``final``; {} when the recipe asks for none."""
    from hpm_ros.data.lifter_clips import DEFAULT_DETECTORS, build_lifter_bank
    from hpm_ros.training.correction_tuning import TuningConfig, tune_checkpoint

    if not config.correction_tuning:
        return {}
    try:
        tuning = TuningConfig(**config.correction_tuning)
    except TypeError as error:
        raise ConfigError(f'correction_tuning: {error}') from error
    data = config.data
    detectors = [name for name, weight in (data.detectors or DEFAULT_DETECTORS).items()
                 if weight > 0]
    encoding = model_config(config).input_encoding

    def bank(detector: str, clips: int, seed: int):
        return build_lifter_bank(clips, data.clip_length, seed=seed, split='val', fps=data.fps,
                                 mocap_dir=mocap_dir, mocap_fraction=data.mocap_fraction,
                                 detectors={detector: 1.0}, encoding=encoding,
                                 family_share=data.family_share)
    return tune_checkpoint(final, tuning, bank, detectors)


def run_training(config: TrainConfig, resume: bool = False, workers: int = 2) -> Path:
    """Build the training bank of ``config`` (rendered clips, or simulated detections for a
    keypoints model) and train; returns the final checkpoint."""
    data = config.data
    mocap_dir = resolve_mocap_dir(data.mocap_dir)
    print(f'motion capture: {mocap_dir or "not found, procedural motion only"}')
    model = get_config(config.model)
    if model.front_end == 'keypoints':
        final = train(config, keypoint_bank(config, mocap_dir), resume=resume)
        tune_correction(config, final, mocap_dir)
        return final
    bank = build_bank(data.train_clips, data.clip_length, model.input_size,
                      seed=data.seed, split='train', fps=data.fps, mocap_dir=mocap_dir,
                      mocap_fraction=data.mocap_fraction,
                      two_d_only_fraction=data.two_d_only_fraction, workers=workers)
    return train(config, bank, resume=resume)


def main(config_path: str, resume: bool, output_dir: str = None, threads: int = None) -> Path:
    """Entry point of `hpm train`."""
    config = load_train_config(config_path)
    if output_dir:
        config.output_dir = output_dir
    if threads:
        config.threads = threads
    final = run_training(config, resume=resume)
    print(f'final checkpoint: {final}')
    return final
