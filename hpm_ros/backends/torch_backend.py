"""The torch backend: Ψ_R and Ψ_T of the PoseMachine itself, eval mode, inference mode."""
from __future__ import annotations

import torch

from hpm_ros.backends.base import Backend
from hpm_ros.errors import BackendUnavailableError
from hpm_ros.model.machine import PoseMachine


class TorchBackend(Backend):
    """Eager torch on CPU or CUDA.

    The machine is put in eval mode and moved to ``device`` (in place, so the correction,
    which uses the same machine's Ψ_C and Ψ_P, runs on the same device). Outputs are cloned
    out of inference mode, so autograd (the correction) may use them.
    """

    name = 'torch'

    def __init__(self, machine: PoseMachine, device: torch.device = 'cpu') -> None:
        device = torch.device(device)
        if device.type == 'cuda' and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f'torch backend on {device} needs a CUDA GPU, and torch sees none '
                f'(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None})')
        super().__init__(machine.config, device)
        self.machine = machine.to(self.device).eval()

    def run_pose2d(self, images: torch.Tensor) -> tuple:
        """Ψ_R, see :meth:`Backend.run_pose2d`."""
        images = self.check_images(images)
        with torch.inference_mode():
            outputs = self.machine.pose2d(images)
        return tuple(output.clone() for output in outputs)

    def run_transformer_step(self, features: torch.Tensor, state: tuple) -> tuple:
        """One Ψ_T step, see :meth:`Backend.run_transformer_step`."""
        features, state = self.check_state(features, state)
        with torch.inference_mode():
            pose3d, (h, c) = self.machine.transformer.step(features, state)
        return pose3d.clone(), (h.clone(), c.clone())
