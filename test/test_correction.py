"""Test-time self-supervised correction on a controlled problem with a known camera.

The projector of a tiny machine is fitted so that Ψ_P is a known orthographic camera and Ψ_C a
denoiser of noisy 3D poses; p3d then carries a known limb error and p2d is the exact
projection of the true pose.
"""
import dataclasses
import math

import pytest
import torch

from hpm_ros.correction import (PRESETS, CorrectionConfig, Corrector, Loss, bone_incidence,
                                correct_per_frame)
from hpm_ros.correction.functional import (DisposableParameters, projector_backward,
                                           projector_forward)
from hpm_ros.model import LITE, build_machine
from hpm_ros.skeleton import ROBUST_JOINTS

MEAN_POSE_MM = torch.tensor([
    [0, 0, 0], [-130, 0, 0], [-130, 450, 20], [-130, 880, 60], [130, 0, 0], [130, 450, 20],
    [130, 880, 60], [0, -230, -10], [0, -480, -20], [0, -560, -20], [0, -680, -10],
    [170, -460, -20], [200, -200, -20], [210, 40, 0], [-170, -460, -20], [-200, -200, -20],
    [-210, 40, 0]], dtype=torch.float32)
# Orthographic camera tilted by 0.3 rad about x: root-relative mm -> normalised crop coords.
CAMERA = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(0.3), -math.sin(0.3)]]) / 2400.0
LIMBS = [2, 3, 5, 6, 12, 13, 15, 16]
HIDDEN = 128


def random_poses(count: int, generator: torch.Generator) -> torch.Tensor:
    """[count, 17, 3] root-relative mm: the mean pose turned by a random yaw, plus noise."""
    yaw = (torch.rand(count, generator=generator) - 0.5) * 2.0
    cos, sin, zero, one = torch.cos(yaw), torch.sin(yaw), torch.zeros(count), torch.ones(count)
    rotation = torch.stack([cos, zero, sin, zero, one, zero, -sin, zero, cos], -1).view(-1, 3, 3)
    pose = (MEAN_POSE_MM + 40.0 * torch.randn(count, 17, 3, generator=generator))
    pose = pose @ rotation.transpose(1, 2)
    return pose - pose[:, :1]


def project(pose_mm: torch.Tensor) -> torch.Tensor:
    """[..., 17, 3] mm -> [..., 17, 2] normalised crop coordinates."""
    return 0.5 + pose_mm @ CAMERA.T


def _ridge(features: torch.Tensor, target: torch.Tensor, layer: torch.nn.Linear) -> None:
    """Set ``layer`` to the least-squares (ridge 1e-6) map from features to target."""
    design = torch.cat([features, torch.ones(len(features), 1)], 1)
    gram = design.T @ design + 1e-6 * len(design) * torch.eye(design.shape[1])
    solution = torch.linalg.solve(gram, design.T @ target)
    layer.weight.copy_(solution[:-1].T)
    layer.bias.copy_(solution[-1])


def _pairs(layer: torch.nn.Linear, inputs: torch.Tensor) -> None:
    """First 2·D units of ``layer`` = ±standardised inputs, so ReLU keeps them linear."""
    mean, std = inputs.mean(0), inputs.std(0)
    scale = torch.diag(1.0 / std)
    layer.weight[:2 * len(mean)] = torch.cat([scale, -scale])
    layer.bias[:2 * len(mean)] = torch.cat([-mean / std, mean / std])


def _hidden(norm: torch.nn.BatchNorm1d, z: torch.Tensor) -> torch.Tensor:
    """Set the BatchNorm running statistics from z; ReLU of the eval-mode output."""
    norm.running_mean.copy_(z.mean(0))
    norm.running_var.copy_(z.var(0))
    return torch.relu(norm(z))


def fitted_machine(hidden: int = HIDDEN, seed: int = 0, count: int = 2048):
    """A tiny machine whose projector was fitted (Eq. 2 by least squares): Ψ_C denoises
    p3d + 30 mm noise, Ψ_P is the camera :func:`project` on normalised 3D."""
    generator = torch.Generator().manual_seed(seed)
    config = dataclasses.replace(
        LITE, name='tiny', trunk=((4, 4), (8, 8), (8, 8, 8, 8), (16, 16, 8, 8, 8, 8, 8)),
        head_hidden=16, transformer_channels=8, transformer_fc=32, lstm_hidden=32,
        regression_hidden=hidden, projection_hidden=hidden, joint_dropout=0.0)
    torch.manual_seed(seed)
    machine = build_machine(config)
    truth = random_poses(count, generator)
    machine.set_normalisation(truth.amin(0) - 100.0, truth.amax(0) + 100.0)
    noisy = truth + 30.0 * torch.randn(truth.shape, generator=generator)
    wide = truth + 80.0 * torch.randn(truth.shape, generator=generator)
    regression, projection = machine.projector.regression, machine.projector.projection
    with torch.no_grad():
        inputs = machine.normalise_3d(noisy).flatten(1)
        _pairs(regression.fc1, inputs)
        hidden_c = _hidden(regression.bn1, regression.fc1(inputs))
        _ridge(hidden_c, machine.normalise_3d(truth).flatten(1), regression.fc2)
        inputs = torch.cat([machine.normalise_3d(wide).flatten(1), regression(inputs)])
        target = torch.cat([project(wide), project(truth)]).flatten(1)
        _pairs(projection.fc1, inputs)
        x = _hidden(projection.bn1, projection.fc1(inputs))
        projection.bn3.weight.fill_(0.05)
        y = _hidden(projection.bn2, projection.fc2(x))
        y = _hidden(projection.bn3, projection.fc3(y))
        _ridge(x + y, target, projection.fc4)
    return machine


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-offs on a loaded CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def problem(one_thread):
    """(machine, true poses mm [64, 17, 3], p3d with limb errors normalised, exact p2d)."""
    machine = fitted_machine()
    generator = torch.Generator().manual_seed(1)
    truth = random_poses(64, generator)
    error = torch.zeros_like(truth)
    error[:, LIMBS, :2] = 60.0 * torch.randn(64, len(LIMBS), 2, generator=generator)
    return machine, truth, machine.normalise_3d(truth + error), project(truth)


def mpjpe(pose_mm: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean per-joint position error, mm."""
    return float((pose_mm - truth).norm(dim=-1).mean())


def snapshot(machine) -> dict:
    """Copies of every parameter and buffer."""
    return {k: v.clone() for k, v in machine.state_dict().items()}


def test_fitted_projector_knows_the_camera(problem):
    machine, truth, _, p2d = problem
    with torch.no_grad():
        projected = machine.projector.projection(machine.normalise_3d(truth).flatten(1))
    assert float((projected.view(-1, 17, 2) - p2d).norm(dim=-1).mean()) * 2400.0 < 5.0


def test_presets_and_overrides():
    official = CorrectionConfig.from_preset('official')
    assert (official.optimizer, official.lr, official.max_steps) == ('adam', 1.5e-4, 2)
    assert official.adapt == ('regression',) and official.bone_weight > 0
    assert official.tau_mm is None and official.epsilon_mm is None
    paper = CorrectionConfig.from_preset('paper')
    assert paper.adapt == ('regression', 'projection') and paper.optimizer == 'sgd'
    assert (paper.tau_mm, paper.epsilon_mm, paper.max_steps) == (20.0, 5.0, 2)
    assert CorrectionConfig.from_preset('off').max_steps == 0
    custom = CorrectionConfig.from_preset('paper', lr=0.5, adapt=['projection', 'regression'],
                                          optimizer='adam', tau_mm=None)
    assert (custom.lr, custom.adapt, custom.optimizer, custom.tau_mm, custom.preset) == (
        0.5, ('regression', 'projection'), 'adam', None, 'paper')
    aligned = CorrectionConfig.from_preset('aligned')
    assert aligned.align_2d == 'scale' and paper.align_2d == 'none'
    assert (aligned.max_steps, aligned.adapt, aligned.epsilon_mm, aligned.tau_mm) == (
        4, ('regression',), None, 20.0)
    assert set(PRESETS) == {'off', 'paper', 'official', 'aligned'}


@pytest.mark.parametrize('name, overrides', [
    ('fancy', {}), ('paper', {'learning_rate': 0.1}), ('paper', {'optimizer': 'rmsprop'}),
    ('paper', {'lr': 0.0}), ('paper', {'lr': -1.0}), ('paper', {'max_steps': -1}),
    ('paper', {'max_steps': 1.5}), ('paper', {'tau_mm': 0.0}), ('paper', {'epsilon_mm': -5}),
    ('paper', {'adapt': ('projection',)}), ('paper', {'adapt': ('regression', 'lstm')}),
    ('paper', {'bone_weight': -1.0}), ('paper', {'joint_weight': 0.0, 'bone_weight': 0.0}),
    ('paper', {'preset': 'official'}), ('paper', {'lr': float('nan')}),
    ('paper', {'align_2d': 'rotation'}),
])
def test_bad_settings_raise_value_error(name, overrides):
    with pytest.raises(ValueError):
        CorrectionConfig.from_preset(name, **overrides)


def test_objective_by_hand_and_its_gradient():
    target = torch.rand(1, 17, 2)
    projected = target.clone()
    projected[0, 5, 0] += 0.1           # LKnee: child of bone (4, 5), parent of bone (5, 6)
    incidence = bone_incidence()
    weights = torch.ones(1, 17)
    config = CorrectionConfig(joint_weight=1.0, bone_weight=2.0)
    loss, grad = Loss(target, weights, incidence, config)(projected, with_grad=True)
    assert float(loss) == pytest.approx(0.01 / 17 + 2.0 * 2 * 0.01 / 16, rel=1e-5)
    weights = torch.rand(3, 17)
    projected = torch.rand(3, 17, 2, requires_grad=True)
    target = torch.rand(3, 17, 2)
    loss, grad = Loss(target, weights, incidence, config)(projected, with_grad=True)
    expected = torch.autograd.grad(loss.sum(), projected)[0]
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize('align', ['translation', 'scale'])
@pytest.mark.parametrize('bone_weight', [0.0, 1.5])
def test_aligned_objective_ignores_the_box_and_its_gradient_is_exact(align, bone_weight):
    generator = torch.Generator().manual_seed(4)
    config = CorrectionConfig(align_2d=align, bone_weight=bone_weight)
    target = torch.rand(3, 17, 2, generator=generator, dtype=torch.float64)
    weights = torch.rand(3, 17, generator=generator, dtype=torch.float64)
    incidence = bone_incidence().double()
    error = 0.02 * torch.randn(3, 17, 2, generator=generator, dtype=torch.float64)
    scale = 1.3 if align == 'scale' else 1.0
    moved = (target + error) * scale + torch.tensor([0.2, -0.1], dtype=torch.float64)
    loss_moved, _ = Loss(target, weights, incidence, config)(moved)
    loss_in_place, _ = Loss(target, weights, incidence, config)(target + error)
    torch.testing.assert_close(loss_moved, loss_in_place)
    plain, _ = Loss(target, weights, incidence, CorrectionConfig(bone_weight=bone_weight))(
        moved)
    assert (plain > 10 * loss_moved).all()
    projected = moved.clone().requires_grad_(True)
    loss, grad = Loss(target, weights, incidence, config)(projected, with_grad=True)
    expected = torch.autograd.grad(loss.sum(), projected)[0]
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize('align', ['translation', 'scale'])
def test_aligned_gradient_of_a_collapsed_projection_is_exact(align):
    """All joints projected onto one point (no spread to fit a scale to): the gradient still
    equals autograd's."""
    generator = torch.Generator().manual_seed(5)
    config = CorrectionConfig(align_2d=align)
    target = torch.rand(2, 17, 2, generator=generator, dtype=torch.float64)
    weights = torch.rand(2, 17, generator=generator, dtype=torch.float64)
    projected = torch.full((2, 17, 2), 0.4, dtype=torch.float64, requires_grad=True)
    loss, grad = Loss(target, weights, bone_incidence().double(), config)(projected, True)
    expected = torch.autograd.grad(loss.sum(), projected)[0]
    torch.testing.assert_close(grad, expected)


def test_off_returns_the_model_output(problem):
    machine, _, p3d, p2d = problem
    result = Corrector(machine, CorrectionConfig.from_preset('off')).correct(p3d, p2d)
    with torch.no_grad():
        regressed, projected = machine.projector(p3d)
    torch.testing.assert_close(result.pose3d, regressed)
    torch.testing.assert_close(result.uncorrected, regressed)
    torch.testing.assert_close(result.pose3d_mm, machine.denormalise_3d(regressed),
                               atol=1e-3, rtol=1e-5)
    assert result.loss_before.isnan().all() and result.loss_after.isnan().all(), \
        'off runs Ψ_C only: no projection, no 2D loss'
    assert not result.applied.any() and not result.discarded.any()
    assert (result.steps == 0).all()


@pytest.mark.parametrize('preset', ['paper', 'official', 'aligned'])
def test_correction_lowers_2d_loss_and_3d_error(problem, preset):
    machine, truth, p3d, p2d = problem
    result = Corrector(machine, CorrectionConfig.from_preset(preset)).correct(p3d, p2d)
    before, after = mpjpe(machine.denormalise_3d(result.uncorrected), truth), mpjpe(
        result.pose3d_mm, truth)
    # 'aligned' takes smaller steps (lr 0.02) of ω_C alone: a smaller drop of the 2D loss.
    drop = {'paper': 0.8, 'official': 0.8, 'aligned': 0.95}[preset]
    assert float(result.loss_after.mean()) < drop * float(result.loss_before.mean())
    assert after < before - 0.5
    assert result.applied.float().mean() > 0.9


def test_discard_rule_returns_the_uncorrected_pose(problem):
    machine, _, p3d, p2d = problem
    wrong = p2d.clone()
    wrong[:, list(ROBUST_JOINTS), 0] += 0.2    # hips and shoulders 480 mm to the right
    config = CorrectionConfig.from_preset('paper', lr=0.3)
    result = Corrector(machine, config).correct(p3d, wrong)
    assert result.discarded.all() and not result.applied.any()
    assert (result.robust_displacement_mm > config.tau_mm).all()
    assert torch.equal(result.pose3d, result.uncorrected)
    kept = Corrector(machine, config).correct(p3d, p2d)
    assert kept.discarded.float().mean() < 0.5


def test_epsilon_stops_early_and_max_steps_bounds(problem):
    machine, _, p3d, p2d = problem
    early = Corrector(machine, CorrectionConfig.from_preset(
        'paper', max_steps=5, epsilon_mm=1000.0)).correct(p3d, p2d)
    assert (early.steps == 1).all() and early.converged.all() and early.applied.all()
    full = Corrector(machine, CorrectionConfig.from_preset(
        'paper', max_steps=5, epsilon_mm=None, tau_mm=None)).correct(p3d, p2d)
    assert (full.steps == 5).all() and not full.converged.any()


def test_frames_that_stop_stay_frozen_while_others_go_on(problem):
    machine, _, p3d, p2d = problem
    with torch.no_grad():
        _, consistent = machine.projector(p3d[:4])
    pose2d = torch.cat([consistent, p2d[4:8]])    # first 4 frames: zero loss, zero gradient
    config = CorrectionConfig.from_preset('paper', max_steps=4, epsilon_mm=0.5, tau_mm=None,
                                          lr=0.2)
    batched = Corrector(machine, config).correct(p3d[:8], pose2d)
    assert (batched.steps[:4] == 1).all() and batched.converged[:4].all()
    assert (batched.steps[4:] > 1).all()
    torch.testing.assert_close(batched.pose3d[:4], batched.uncorrected[:4])
    looped = correct_per_frame(machine, config, p3d[:8], pose2d)
    assert torch.equal(batched.steps, looped.steps)
    assert torch.equal(batched.converged, looped.converged)
    torch.testing.assert_close(batched.pose3d, looped.pose3d, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('optimizer, lr', [('sgd', 0.1), ('adam', 1e-3)])
def test_a_masked_step_leaves_that_frame_untouched(problem, optimizer, lr):
    machine, _, p3d, p2d = problem
    config = CorrectionConfig.from_preset('paper', optimizer=optimizer, lr=lr)
    params = DisposableParameters(machine.projector, config, 3)
    regressed, projected, cache = projector_forward(params, p3d[:3].flatten(1))
    loss = Loss(p2d[:3], torch.ones(3, 17), bone_incidence(), config)
    projector_backward(params, cache, loss(projected.view(3, 17, 2), with_grad=True)[1].flatten(1))
    params.step(1, torch.tensor([[True], [False], [True]]))
    moved, projected_after, _ = projector_forward(params, p3d[:3].flatten(1))
    assert torch.equal(moved[1], regressed[1]) and torch.equal(projected_after[1], projected[1])
    assert not torch.allclose(moved[[0, 2]], regressed[[0, 2]])


@pytest.mark.parametrize('overrides, some_discarded', [
    ({}, False), ({'optimizer': 'adam', 'lr': 1e-4}, False),
    ({'adapt': ('regression',), 'bone_weight': 1.0}, False),
    ({'optimizer': 'adam', 'lr': 3e-4, 'max_steps': 3, 'epsilon_mm': 2.0}, True),
    ({'lr': 0.3, 'max_steps': 3}, True),
    ({'align_2d': 'scale', 'bone_weight': 0.5}, False),
    ({'align_2d': 'translation', 'optimizer': 'adam', 'lr': 1e-4}, False),
    ({'preset': 'aligned'}, False),
    ({'preset': 'aligned', 'lr': 0.3, 'max_steps': 6, 'tau_mm': 10.0}, True),
    ({'preset': 'aligned', 'align_2d': 'translation', 'epsilon_mm': 1.0}, False),
], ids=['paper', 'adam-cp', 'sgd-c-bones', 'adam-eps', 'sgd-discards', 'sgd-scale-bones',
        'adam-translation', 'aligned', 'aligned-discards', 'aligned-translation-eps'])
def test_batched_equals_per_frame_loop(problem, overrides, some_discarded):
    """Every path of the batched formulation (dense and rank-1 parameters, Ψ_C's fixed-input
    layer, Ψ_P adapted or folded, each alignment and stop rule) equals the autograd loop."""
    machine, _, p3d, p2d = problem
    overrides = dict(overrides)
    config = CorrectionConfig.from_preset(overrides.pop('preset', 'paper'), **overrides)
    weights = torch.rand(16, 17, generator=torch.Generator().manual_seed(2))
    batched = Corrector(machine, config).correct(p3d[:16], p2d[:16], weights)
    looped = correct_per_frame(machine, config, p3d[:16], p2d[:16], weights)
    for name in ('applied', 'discarded', 'converged', 'steps'):
        assert torch.equal(getattr(batched, name), getattr(looped, name)), name
    for name in ('pose3d', 'pose3d_mm', 'uncorrected', 'loss_before', 'loss_after',
                 'robust_displacement_mm'):
        torch.testing.assert_close(getattr(batched, name), getattr(looped, name),
                                   atol=1e-4 if name.endswith('mm') else 1e-5, rtol=1e-4)
    assert bool(batched.discarded.any()) == some_discarded
    assert batched.applied.any()


@pytest.mark.parametrize('preset', ['paper', 'official'])
def test_model_is_never_changed(problem, preset):
    machine, _, p3d, p2d = problem
    before, training = snapshot(machine), machine.training
    Corrector(machine, CorrectionConfig.from_preset(preset)).correct(p3d, p2d)
    correct_per_frame(machine, CorrectionConfig.from_preset(preset), p3d[:2], p2d[:2])
    after = snapshot(machine)
    assert machine.training == training
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_batch_norm_uses_running_statistics_even_in_training_mode(problem):
    machine, _, p3d, p2d = problem
    corrector = Corrector(machine, CorrectionConfig.from_preset('paper'))
    evaluated = corrector.correct(p3d[:4], p2d[:4])
    machine.train()
    try:
        trained = corrector.correct(p3d[:4], p2d[:4])
        assert machine.training
    finally:
        machine.eval()
    assert torch.equal(trained.pose3d, evaluated.pose3d)


def test_official_adapts_only_the_regression(problem):
    machine, _, p3d, p2d = problem
    official = Corrector(machine, CorrectionConfig.from_preset('official', max_steps=4))
    assert official.adapted_names and all(
        n.startswith('regression.') for n in official.adapted_names)
    paper = Corrector(machine, CorrectionConfig.from_preset('paper', epsilon_mm=None))
    assert any(n.startswith('projection.') for n in paper.adapted_names)
    incidence = bone_incidence()
    for corrector, frozen in ((official, True), (paper, False)):
        result = corrector.correct(p3d, p2d)
        with torch.no_grad():       # the trained Ψ_P on the output pose
            projected = machine.projector.projection(result.pose3d.flatten(1)).view(-1, 17, 2)
        loss = Loss(p2d, torch.ones(64, 17), incidence, corrector.config)(projected)[0]
        assert torch.allclose(loss, result.loss_after, rtol=1e-4, atol=1e-9) == frozen


def test_masked_joints_do_not_matter_and_bool_masks_work(problem):
    machine, _, p3d, p2d = problem
    corrector = Corrector(machine, CorrectionConfig.from_preset('paper'))
    mask = torch.ones(8, 17, dtype=torch.bool)
    mask[:, [3, 13]] = False
    wild = p2d[:8].clone()
    wild[:, [3, 13]] = 5.0
    masked = corrector.correct(p3d[:8], wild, mask)
    clean = corrector.correct(p3d[:8], p2d[:8], mask.float())
    torch.testing.assert_close(masked.pose3d, clean.pose3d)
    unmasked = corrector.correct(p3d[:8], wild)
    assert not torch.allclose(unmasked.pose3d, clean.pose3d)


def test_works_under_no_grad_and_inference_mode(problem):
    machine, _, p3d, p2d = problem
    config = CorrectionConfig.from_preset('paper', optimizer='adam', lr=1e-4)
    corrector = Corrector(machine, config)
    plain = corrector.correct(p3d[:4], p2d[:4])
    with torch.no_grad():
        quiet = corrector.correct(p3d[:4], p2d[:4])
    with torch.inference_mode():
        inference = corrector.correct(p3d[:4], p2d[:4])
        looped = correct_per_frame(machine, config, p3d[:4], p2d[:4])
    for other in (quiet, inference, looped):
        torch.testing.assert_close(other.pose3d, plain.pose3d, atol=1e-5, rtol=1e-4)
    assert plain.applied.all() and not plain.pose3d.requires_grad


def test_a_changed_model_is_picked_up(problem):
    """The shared per-projector structure (folded Ψ_P, trained values) follows in-place changes
    of the model's parameters and running statistics."""
    machine, _, p3d, p2d = problem
    config = CorrectionConfig.from_preset('aligned')
    corrector = Corrector(machine, config)
    before = corrector.correct(p3d[:4], p2d[:4])
    layers = machine.projector.projection
    saved = {name: t.clone() for name, t in layers.state_dict().items()}
    try:
        with torch.no_grad():
            layers.fc4.weight.mul_(1.2)
            layers.bn2.running_var.mul_(1.5)
        after = corrector.correct(p3d[:4], p2d[:4])
        fresh = Corrector(machine, config).correct(p3d[:4], p2d[:4])
    finally:
        layers.load_state_dict(saved)
    torch.testing.assert_close(after.loss_before, fresh.loss_before)
    torch.testing.assert_close(after.pose3d, fresh.pose3d)
    assert not torch.allclose(after.loss_before, before.loss_before)
    torch.testing.assert_close(corrector.correct(p3d[:4], p2d[:4]).pose3d, before.pose3d)


def test_chunks_give_the_same_result(problem):
    machine, _, p3d, p2d = problem
    config = CorrectionConfig.from_preset('paper', optimizer='adam', lr=1e-4)
    whole = Corrector(machine, config).correct(p3d[:6], p2d[:6])
    chunked_corrector = Corrector(machine, config, memory_mb=1e-3)
    assert chunked_corrector.frames_per_chunk == 1
    chunked = chunked_corrector.correct(p3d[:6], p2d[:6])
    torch.testing.assert_close(chunked.pose3d, whole.pose3d)
    assert torch.equal(chunked.steps, whole.steps)


def test_bad_inputs(problem):
    machine, _, p3d, p2d = problem
    corrector = Corrector(machine)
    with pytest.raises(ValueError):
        corrector.correct(p3d[:2], p2d[:3])
    with pytest.raises(ValueError):
        corrector.correct(p3d[:2, :16], p2d[:2, :16])
    with pytest.raises(ValueError):
        corrector.correct(p3d[:2], p2d[:2], -torch.ones(2, 17))
    with pytest.raises(ValueError):
        corrector.correct(p3d[:2], p2d[:2], torch.ones(2, 16))
    with pytest.raises(TypeError):
        corrector.correct(p3d[:2].numpy(), p2d[:2])
    with pytest.raises(TypeError):
        Corrector(machine, {'max_steps': 2})
