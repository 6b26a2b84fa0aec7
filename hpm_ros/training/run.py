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


def run_training(config: TrainConfig, resume: bool = False, workers: int = 2) -> Path:
    """Render the training bank of ``config`` and train; returns the final checkpoint."""
    data = config.data
    mocap_dir = resolve_mocap_dir(data.mocap_dir)
    print(f'motion capture: {mocap_dir or "not found, procedural motion only"}')
    bank = build_bank(data.train_clips, data.clip_length, get_config(config.model).input_size,
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
