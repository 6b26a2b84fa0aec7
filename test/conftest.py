"""Shared fixtures: tiny model configs and deterministic seeds."""
import dataclasses
import random

import numpy as np
import pytest
import torch

from hpm_ros.model.config import LITE

# Tiny models, and other processes (ROS nodes) share the 2 cores: one torch thread avoids the
# oversubscription that makes multi-threaded CPU kernels many times slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def fixed_seeds():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def make_tiny_config():
    """A lite-structured config small enough for sub-second tests."""
    return dataclasses.replace(
        LITE, name='tiny', input_size=128,
        trunk=((4, 4), (8, 8), (8, 8, 8, 8), (16, 16, 8, 8, 8, 8, 8)), head_hidden=16,
        transformer_channels=8, transformer_fc=32, lstm_hidden=32, regression_hidden=32,
        projection_hidden=32)


@pytest.fixture
def tiny_config():
    """A lite-structured config small enough for sub-second tests."""
    return make_tiny_config()


@pytest.fixture
def model(tiny_config, tmp_path):
    """A checkpoint of a random tiny image model (psi_r front end)."""
    from hpm_ros.checkpoint import save_checkpoint
    from hpm_ros.model import build_machine

    return save_checkpoint(tmp_path / 'tiny.pt', build_machine(tiny_config))


def make_pipeline(model):
    """The psi_r pipeline of a tiny image model that reports every frame (no thresholds)."""
    from hpm_ros.pipeline import PipelineConfig, PosePipeline

    return PosePipeline(PipelineConfig(model_path=str(model), front_end='psi_r',
                                       lost_confidence=0.0, joint_confidence=0.0, threads=1))
