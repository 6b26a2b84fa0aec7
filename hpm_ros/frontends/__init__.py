"""2D front ends: one frame in, the people in it out (see :mod:`hpm_ros.frontends.base`).

``blazepose`` (BlazePose GHUM on real images, the default) and ``psi_r`` (the paper's Ψ_R of
an image checkpoint); :func:`create_front_end` builds either, importing its runtime lazily.
"""
from __future__ import annotations

from hpm_ros.frontends.base import FrontEnd, FrontEndOutput, PersonDetection, validate_image

FRONT_ENDS = ('blazepose', 'psi_r')
BLAZEPOSE_RUNTIMES = ('litert', 'onnxruntime', 'tensorrt')

__all__ = ['BLAZEPOSE_RUNTIMES', 'FRONT_ENDS', 'FrontEnd', 'FrontEndOutput', 'PersonDetection',
           'create_front_end', 'validate_image']


def create_front_end(name: str, backend=None, runtime: str = 'litert', model_dir=None,
                     threads: int = 1, device: str = 'cpu', **options) -> FrontEnd:
    """The front end ``name``: 'blazepose' on ``runtime`` ('litert', 'onnxruntime' or
    'tensorrt'; model_dir: folder of its model files, default models/blazepose), or 'psi_r' on
    the image model's ``backend``. options: the front end's own settings (thresholds, crop
    policy). ValueError for an unknown name or runtime."""
    if name == 'blazepose':
        if runtime not in BLAZEPOSE_RUNTIMES:
            raise ValueError(f'BlazePose runtime must be one of {BLAZEPOSE_RUNTIMES}, got '
                             f'{runtime!r}')
        from hpm_ros.frontends.blazepose import BlazePoseFrontEnd
        return BlazePoseFrontEnd(runtime=runtime, model_dir=model_dir, threads=threads,
                                 device=device, **options)
    if name == 'psi_r':
        if backend is None:
            raise ValueError('the psi_r front end runs on the image model\'s backend; pass one')
        from hpm_ros.frontends.psi_r import PsiRFrontEnd
        return PsiRFrontEnd(backend, **options)
    raise ValueError(f'front end must be one of {FRONT_ENDS}, got {name!r}')
