"""The correction exported to ONNX: the same results on ONNX Runtime, files bound to their
model and setting, the lifting core's choice between the two runtimes."""
import pytest
import torch

from conftest import make_tiny_config
from hpm_ros.backends.torch_backend import TorchBackend
from hpm_ros.correction import CorrectionConfig, Corrector
from hpm_ros.correction.exported import (OnnxCorrector, correction_path, export_correction,
                                         export_corrections)
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.lifting import LiftingCore
from hpm_ros.model import build_machine

SETTINGS = {   # both discard some of the frames of inputs(6, 6) by τ
    'aligned': CorrectionConfig.from_preset('aligned', lr=0.005, tau_mm=8.0),  # Ψ_P folded
    'paper': CorrectionConfig.from_preset('paper', lr=0.005, max_steps=4, tau_mm=30.0,
                                          epsilon_mm=1.0),                    # ω_P adapted
}


@pytest.fixture(scope='module')
def machine():
    torch.manual_seed(0)
    model = build_machine(make_tiny_config()).eval()
    model.set_normalisation(torch.full((17, 3), -900.0), torch.full((17, 3), 900.0))
    return model


@pytest.fixture(scope='module')
def folder(machine, tmp_path_factory):
    """The graphs of SETTINGS, exported once."""
    folder = tmp_path_factory.mktemp('corrections')
    for config in SETTINGS.values():
        export_correction(machine, config, folder)
    return folder


def inputs(batch: int, seed: int) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    pose3d = 0.5 + 0.05 * torch.randn(batch, 17, 3, generator=generator)
    pose2d = torch.rand(batch, 17, 2, generator=generator)
    weights = (torch.rand(batch, 17, generator=generator) > 0.2).float()
    return pose3d, pose2d, weights


@pytest.mark.parametrize('setting', sorted(SETTINGS))
@pytest.mark.parametrize('batch', [1, 6])
def test_onnxruntime_gives_the_torch_result(machine, folder, setting, batch):
    torch_corrector = Corrector(machine, SETTINGS[setting])
    onnx_corrector = OnnxCorrector(torch_corrector, folder)
    pose3d, pose2d, weights = inputs(batch, seed=batch)
    want = torch_corrector.correct(pose3d, pose2d, weights)
    got = onnx_corrector.correct(pose3d, pose2d, weights)
    for name in ('applied', 'discarded', 'converged', 'steps'):
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    for name in ('pose3d', 'uncorrected', 'loss_before', 'loss_after'):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), atol=1e-5,
                                   rtol=1e-4)
    for name in ('pose3d_mm', 'robust_displacement_mm'):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), atol=1e-2,
                                   rtol=1e-4)
    assert (want.steps > 1).any()
    if batch > 1:
        assert want.applied.any() and want.discarded.any(), 'τ must act on some frames'


def test_a_file_serves_only_its_model_and_setting(machine, folder, tmp_path):
    other = CorrectionConfig.from_preset('aligned', tau_mm=8.0, lr=0.05)
    assert correction_path(folder, machine, other) != correction_path(
        folder, machine, SETTINGS['aligned'])
    with pytest.raises(BackendUnavailableError, match='hpm export'):
        OnnxCorrector(Corrector(machine, other), folder)
    stolen = correction_path(tmp_path, machine, other)
    stolen.write_bytes(correction_path(folder, machine, SETTINGS['aligned']).read_bytes())
    with pytest.raises(CheckpointError, match='another model or setting'):
        OnnxCorrector(Corrector(machine, other), tmp_path)
    broken = correction_path(tmp_path, machine, SETTINGS['paper'])
    broken.write_bytes(b'not an onnx file')
    with pytest.raises(CheckpointError, match='not a readable ONNX model'):
        OnnxCorrector(Corrector(machine, SETTINGS['paper']), tmp_path)
    with pytest.raises(ValueError, match='nothing to export'):
        export_correction(machine, CorrectionConfig.from_preset('off'), tmp_path)


def test_the_lifting_core_runs_exported_settings_on_onnxruntime(machine, tmp_path):
    tuned = {'preset': 'aligned', 'overrides': {'max_steps': 2},
             'per_joint_set': {'coco17': {'overrides': {'max_steps': 0}},
                               'mpii16': {'overrides': {'lr': 0.05}}}}
    written = export_corrections(machine, tuned, tmp_path)
    assert len(written) == 2        # shared and mpii16; coco17 has no steps to export
    core = LiftingCore(machine, TorchBackend(machine), tuned_correction=tuned,
                       correction_dir=tmp_path)
    assert core.correction_runtimes == {'shared': 'onnxruntime', 'coco17': 'torch',
                                        'mpii16': 'onnxruntime'}
    pose3d, pose2d, weights = inputs(4, seed=9)
    mixed = core.correct(pose3d, pose2d, weights, ['mpii16', 'coco17', 'h36m17', 'mpii16'])
    plain = LiftingCore(machine, TorchBackend(machine), tuned_correction=tuned)
    assert set(plain.correction_runtimes.values()) == {'torch'}
    want = plain.correct(pose3d, pose2d, weights, ['mpii16', 'coco17', 'h36m17', 'mpii16'])
    torch.testing.assert_close(mixed.pose3d, want.pose3d, atol=1e-5, rtol=1e-4)
    core.set_correction('aligned', lr=0.01)         # a knob: no graph for it, torch
    assert set(core.correction_runtimes.values()) == {'torch'}
    written[0].write_bytes(b'truncated')            # a damaged file: torch, with a warning
    with pytest.warns(RuntimeWarning, match='correction on torch'):
        core.set_correction('aligned')
    assert core.correction_runtimes == {'shared': 'torch', 'coco17': 'torch',
                                        'mpii16': 'onnxruntime'}
