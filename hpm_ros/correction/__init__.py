"""Test-time self-supervised correction of the 3D pose (paper section 3.3, Eq. 3-4).

For every frame t, disposable copies ω_C^t, ω_P^t of the trained projector parameters take a
few gradient steps on ‖p2d − Ψ_P(Ψ_C(p3d; ω_C^t); ω_P^t)‖², and p̂3d* = Ψ_C(p3d; ω_C^t) is
returned; the model itself is never changed. The robust joints (Hip, LHip, RHip, LShoulder,
RShoulder) stop the steps once they move less than ε mm in a step and discard the correction
when they move more than τ mm from the start.

All frames of a batch are corrected at once, each with its own parameters, by a batched
functional formulation of Ψ_C and Ψ_P with an explicit backward pass (BatchNorm in eval mode).
SGD keeps each adapted weight matrix as the shared trained matrix plus one rank-1 term per
step and frame, which is exact for SGD and never materialises B copies of a 1024×1024 layer;
Adam keeps dense per-frame copies with per-frame moments. Frames that stop keep their
parameters frozen while the others go on. :func:`correct_per_frame` is the plain per-frame
reference (a deepcopy of the projector and a torch.optim optimiser per frame); the batched
result equals it to float tolerance.
"""
from hpm_ros.correction.batched import Corrector, check_projector, prepare_inputs
from hpm_ros.correction.config import PRESETS, CorrectionConfig, CorrectionResult
from hpm_ros.correction.loss import Loss, bone_incidence
from hpm_ros.correction.reference import correct_per_frame

__all__ = ['PRESETS', 'CorrectionConfig', 'CorrectionResult', 'Corrector', 'Loss',
           'bone_incidence', 'check_projector', 'correct_per_frame', 'prepare_inputs']
