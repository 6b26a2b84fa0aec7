"""Backends: one interface, torch == ONNX Runtime over a streaming rollout, factory errors.

Parity tolerance (ONNX Runtime CPU vs torch eager, fp32): every output and the carried LSTM
state agree within ``PARITY_RTOL`` of the output's largest magnitude (plus ``PARITY_ATOL``)
over a 50-frame rollout; measured differences are about 1e-7 relative.
"""
import pytest
import torch

from hpm_ros.backends import available_backends, canonical_name, create_backend
from hpm_ros.backends.export import build_tensorrt_engine, export_onnx, import_tensorrt
from hpm_ros.backends.onnx_backend import OrtSettings
from hpm_ros.errors import BackendUnavailableError, CheckpointError
from hpm_ros.model import LITE, PAPER, build_machine

PARITY_RTOL = 1e-4
PARITY_ATOL = 1e-6
ROLLOUT_FRAMES = 50
FIELDS = ('features', 'heatmaps', 'pose2d', 'confidence', 'pose3d')


def tensorrt_missing() -> str:
    """Why the TensorRT tests cannot run here ('' when they can)."""
    try:
        import_tensorrt()
    except BackendUnavailableError as error:
        return str(error)
    return '' if torch.cuda.is_available() else 'no CUDA GPU'


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    """Torch eager with one thread: on a shared 2-core CPU, two OpenMP threads stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def lite_export(tmp_path_factory):
    """(lite machine, folder of its exported ONNX files), shared by the module."""
    torch.manual_seed(3)
    machine = build_machine(LITE)
    folder = tmp_path_factory.mktemp('lite_models')
    export_onnx(machine, folder)
    return machine, folder


def assert_parity(mine: torch.Tensor, reference: torch.Tensor, what: str,
                  rtol: float = PARITY_RTOL) -> None:
    scale = float(reference.abs().max())
    assert scale > 0, f'{what} is all zeros: the comparison would prove nothing'
    error = float((mine - reference).abs().max())
    assert error <= rtol * scale + PARITY_ATOL, f'{what}: {error} vs scale {scale}'


def rollout_parity(backend, reference, batch: int, size: int, rtol: float = PARITY_RTOL,
                   frames: int = ROLLOUT_FRAMES) -> None:
    """Stream ``frames`` random frames through both, comparing outputs and state."""
    backend.reset_state(batch)
    reference.reset_state(batch)
    generator = torch.Generator().manual_seed(4)
    for frame in range(frames):
        images = torch.rand(batch, 3, size, size, generator=generator)
        mine, theirs = backend.step(images), reference.step(images)
        for field in FIELDS:
            assert_parity(getattr(mine, field).cpu(), getattr(theirs, field).cpu(),
                          f'{field} at frame {frame}', rtol)
        for name, ours, ref in zip('hc', backend.state, reference.state):
            assert_parity(ours.cpu(), ref.cpu(), f'state {name} at frame {frame}', rtol)


def test_torch_backend_equals_machine_step(tiny_config):
    machine = build_machine(tiny_config)
    backend = create_backend('torch', machine)
    images = torch.rand(2, 3, 128, 128)
    out = backend.step(images)
    with torch.no_grad():
        expected, state = machine.step(images)
    for field in FIELDS:
        assert torch.equal(getattr(out, field), getattr(expected, field))
    assert torch.equal(backend.state[0], state[0]) and torch.equal(backend.state[1], state[1])


def test_state_is_carried_and_reset(tiny_config):
    backend = create_backend('torch', build_machine(tiny_config))
    first, second = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    backend.step(first)
    carried = backend.step(second).pose3d
    backend.reset_state()
    fresh = backend.step(second).pose3d
    assert not torch.allclose(carried, fresh)
    backend.step(torch.rand(3, 3, 128, 128))
    assert backend.state[0].shape == (tiny_config.lstm_layers, 3, tiny_config.lstm_hidden)


@pytest.mark.parametrize('batch, frames', [(1, ROLLOUT_FRAMES), (3, 10)])
def test_lite_onnxruntime_matches_torch_over_rollout(lite_export, batch, frames):
    machine, folder = lite_export
    backend = create_backend('onnxruntime', machine, folder)
    assert backend.name == 'onnxruntime' and backend.providers == ['CPUExecutionProvider']
    rollout_parity(backend, create_backend('torch', machine), batch, LITE.input_size,
                   frames=frames)


def test_session_settings_are_applied(lite_export):
    machine, folder = lite_export
    settings = {'intra_op_threads': 1, 'optimization': 'basic', 'allow_spinning': False}
    backend = create_backend('onnx', machine, folder, **settings)
    assert backend.settings == OrtSettings(**settings) and backend.threads == 1
    images = torch.rand(1, 3, 128, 128)
    torch.testing.assert_close(backend.run_pose2d(images)[2],
                               create_backend('torch', machine).run_pose2d(images)[2])
    with pytest.raises(ValueError, match='optimization'):
        OrtSettings(optimization='max')
    with pytest.raises(TypeError):
        create_backend('onnxruntime', machine, folder, bogus=1)


@pytest.mark.parametrize('name', ['torch', 'onnxruntime'])
def test_outputs_feed_autograd(lite_export, name):
    """The correction differentiates through Ψ_C/Ψ_P with backend outputs as inputs."""
    machine, folder = lite_export
    out = create_backend(name, machine, folder).step(torch.rand(1, 3, 128, 128))
    weight = torch.ones(1, requires_grad=True)
    loss = ((weight * out.pose3d).sum() + (weight * out.pose2d).sum())
    loss.backward()
    assert float(weight.grad) == pytest.approx(float(out.pose3d.sum() + out.pose2d.sum()),
                                               rel=1e-5)


def test_inputs_are_validated(lite_export):
    machine, folder = lite_export
    for backend in (create_backend('torch', machine), create_backend('ort', machine, folder)):
        with pytest.raises(ValueError, match=r'\[B, 3, 128, 128\]'):
            backend.run_pose2d(torch.rand(1, 3, 64, 64))
        with pytest.raises(TypeError, match='float32'):
            backend.run_pose2d(torch.zeros(1, 3, 128, 128, dtype=torch.uint8))
        features = backend.run_pose2d(torch.rand(2, 3, 128, 128))[0]
        with pytest.raises(ValueError, match='state'):
            backend.run_transformer_step(features, backend.initial_state(1))


def test_factory_names_and_errors(lite_export):
    machine, folder = lite_export
    assert [canonical_name(n) for n in ('ORT', 'onnx', 'trt', 'torch')] == [
        'onnxruntime', 'onnxruntime', 'tensorrt', 'torch']
    with pytest.raises(ValueError, match='unknown backend'):
        create_backend('openvino', machine, folder)
    with pytest.raises(ValueError, match='model_dir'):
        create_backend('onnxruntime', machine)
    with pytest.raises(TypeError, match='machine_or_checkpoint'):
        create_backend('torch', 42)
    assert available_backends()['torch'] is None
    assert available_backends()['onnxruntime'] is None


def test_auto_takes_onnxruntime_when_the_export_is_there(lite_export, tmp_path):
    machine, folder = lite_export
    chosen = create_backend('auto', machine, folder, intra_op_threads=1)
    assert chosen.name == 'onnxruntime' and chosen.selection.startswith('auto: onnxruntime')
    assert chosen.settings.intra_op_threads == 1
    rollout_parity(chosen, create_backend('torch', machine), batch=1, size=LITE.input_size,
                   frames=5)
    missing = create_backend('auto', machine, tmp_path, intra_op_threads=1)
    assert missing.name == 'torch' and 'not found' in missing.selection
    assert create_backend('auto', machine).selection == 'auto: torch (no model_dir of exported ' \
        'files)'
    for name in ('lite.pose2d.onnx', 'lite.transformer.onnx'):
        (tmp_path / name).write_bytes(b'not an onnx file')
    with pytest.warns(RuntimeWarning, match='not using the ONNX files'):
        corrupt = create_backend('auto', machine, tmp_path)
    assert corrupt.name == 'torch' and 'corrupt' in corrupt.selection


@pytest.mark.skipif(not tensorrt_missing(), reason='tensorrt and a GPU are present')
def test_tensorrt_unavailable_is_explained(lite_export):
    machine, folder = lite_export
    with pytest.raises(BackendUnavailableError, match='tensorrt|CUDA|GPU'):
        create_backend('tensorrt', machine, folder)
    with pytest.warns(RuntimeWarning, match='instead of tensorrt'):
        backend = create_backend('tensorrt', machine, folder, allow_fallback=True)
    assert backend.name == 'torch' and backend.fallback_reason.startswith('tensorrt unavailable')
    assert backend.device == torch.device('cpu')


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is present')
def test_cuda_without_gpu_is_unavailable(lite_export):
    machine, folder = lite_export
    for name in ('torch', 'onnxruntime'):
        with pytest.raises(BackendUnavailableError, match='CUDA|GPU'):
            create_backend(name, machine, folder, device='cuda')


@pytest.mark.slow
def test_paper_parity_with_onnxruntime(tmp_path):
    torch.manual_seed(6)
    machine = build_machine(PAPER)
    export_onnx(machine, tmp_path)
    rollout_parity(create_backend('onnxruntime', machine, tmp_path),
                   create_backend('torch', machine), batch=1, size=PAPER.input_size)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA GPU')
def test_onnxruntime_cuda_matches_torch(lite_export):
    machine, folder = lite_export
    try:
        backend = create_backend('onnxruntime', machine, folder, device='cuda')
    except BackendUnavailableError as error:
        pytest.skip(str(error))
    assert backend.step(torch.rand(1, 3, 128, 128)).pose3d.device.type == 'cuda'
    rollout_parity(backend, create_backend('torch', machine), batch=2, size=128)


@pytest.mark.gpu
@pytest.mark.skipif(bool(tensorrt_missing()), reason=f'TensorRT tests: {tensorrt_missing()}')
@pytest.mark.parametrize('precision, tolerance', [('fp32', 1e-3), ('fp16', 3e-2)])
def test_tensorrt_matches_torch(lite_export, tmp_path, precision, tolerance):
    import shutil
    machine, folder = lite_export
    models = tmp_path / 'models'
    shutil.copytree(folder, models)
    with pytest.raises(BackendUnavailableError, match='hpm export .*--format tensorrt'):
        create_backend('tensorrt', machine, models, device='cuda', precision=precision)
    for part in ('pose2d', 'transformer'):
        build_tensorrt_engine(models / f'lite.{part}.onnx', precision, workspace_mb=256,
                              max_batch=4)
    backend = create_backend('tensorrt', machine, models, device='cuda', precision=precision)
    reference = create_backend('torch', machine)
    rollout_parity(backend, reference, batch=2, size=128, rtol=tolerance)
    with pytest.raises(ValueError, match='max 4'):
        backend.run_pose2d(torch.rand(5, 3, 128, 128, device='cuda'))


@pytest.mark.gpu
@pytest.mark.skipif(bool(tensorrt_missing()), reason=f'TensorRT tests: {tensorrt_missing()}')
def test_tensorrt_refuses_stale_or_corrupt_engines(lite_export, tmp_path):
    import json
    import shutil
    machine, folder = lite_export
    models = tmp_path / 'models'
    shutil.copytree(folder, models)
    engines = [build_tensorrt_engine(models / f'lite.{part}.onnx', 'fp32', 256, 2)
               for part in ('pose2d', 'transformer')]
    sidecar = engines[0].with_name(engines[0].name + '.json')
    original = sidecar.read_text()
    sidecar.write_text(json.dumps(dict(json.loads(original), tensorrt_version='0.0')))
    with pytest.raises(BackendUnavailableError, match='stale.*TensorRT 0.0'):
        create_backend('tensorrt', machine, models, device='cuda', precision='fp32')
    sidecar.write_text(original)
    engines[1].write_bytes(engines[1].read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='truncated or modified'):
        create_backend('tensorrt', machine, models, device='cuda', precision='fp32')
