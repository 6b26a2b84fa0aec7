"""`hpm train`: render the synthetic bank a config asks for and run Algorithm 1 on it."""
from __future__ import annotations

from pathlib import Path

from hpm_ros.data.mocap_check import find_mocap_root
from hpm_ros.data.synthetic_bank import build_bank
from hpm_ros.model import get_config
from hpm_ros.training.config import TrainConfig, load_train_config
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
    from hpm_ros.data.keypoint_clips import build_keypoint_bank, h36m_motions
    from hpm_ros.data.keypoint_noise import KeypointNoise

    data = config.data
    extra = h36m_motions(data.motion_3d, data.motion_3d_subjects, data.fps) \
        if data.motion_3d else []
    return build_keypoint_bank(
        data.train_clips, data.clip_length, seed=data.seed, split='train', fps=data.fps,
        mocap_dir=mocap_dir, mocap_fraction=data.mocap_fraction,
        noise=KeypointNoise.from_dict(data.keypoint_noise),
        joint_sets=data.input_joint_sets or None, extra_motions=extra,
        two_d_only_fraction=data.two_d_only_fraction)


def run_training(config: TrainConfig, resume: bool = False, workers: int = 2) -> Path:
    """Build the training bank of ``config`` (rendered clips, or simulated detections for a
    keypoints model) and train; returns the final checkpoint."""
    data = config.data
    mocap_dir = resolve_mocap_dir(data.mocap_dir)
    print(f'motion capture: {mocap_dir or "not found, procedural motion only"}')
    model = get_config(config.model)
    if model.front_end == 'keypoints':
        return train(config, keypoint_bank(config, mocap_dir), resume=resume)
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
