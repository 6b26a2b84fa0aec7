"""Pose metrics against hand-computed values, their invariances, masks and the action table."""
import math

import numpy as np
import pytest

from hpm_ros.metrics import (
    ActionTable, format_table, mpjpe, mpjve, n_mpjpe, p_mpjpe, per_action_table)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def twisted_square() -> tuple:
    """Return a square in the xy plane and the same square with z = +1, -1, +1, -1.

    The best similarity keeps the orientation and scales by 8 / 12, so each joint is off by
    sqrt(2 (1/3)^2 + (2/3)^2) = sqrt(6) / 3; the best rigid transform is the identity (error 1).
    """
    target = np.array([[[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]]])
    predicted = target + np.array([0.0, 0.0, 1.0]) * np.array([1.0, -1.0, 1.0, -1.0])[:, None]
    return predicted, target


def test_mpjpe_two_joints_by_hand():
    predicted = np.array([[[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]])
    target = np.zeros((2, 2, 3))
    np.testing.assert_allclose(mpjpe(predicted, target), [2.5, 1.5])
    np.testing.assert_allclose(mpjpe(predicted, target, mask=np.array([False, True])), [5.0, 2.0])
    per_sample = np.array([[True, False], [False, False]])
    result = mpjpe(predicted, target, mask=per_sample)
    assert result[0] == 0.0 and math.isnan(result[1])
    np.testing.assert_array_equal(mpjpe(target, target), [0.0, 0.0])


def test_masked_out_joints_may_be_nan():
    predicted = np.array([[[np.nan, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]])
    mask = np.array([False, True, True])
    np.testing.assert_allclose(mpjpe(predicted, np.zeros((1, 3, 3)), mask), [2.5])


def test_p_mpjpe_and_n_mpjpe_by_hand():
    predicted, target = twisted_square()
    np.testing.assert_allclose(p_mpjpe(predicted, target), [math.sqrt(6) / 3])
    np.testing.assert_allclose(n_mpjpe(predicted, target), [math.sqrt(6) / 3])
    np.testing.assert_allclose(mpjpe(predicted, target), [1.0])


def test_p_mpjpe_invariances():
    rng = np.random.default_rng(11)
    target = rng.normal(scale=300.0, size=(4, 17, 3))
    predicted = target + rng.normal(scale=40.0, size=target.shape)
    reference = p_mpjpe(predicted, target)
    assert np.all(reference > 0)
    moved = np.stack([
        scale * pose @ random_rotation(rng) + shift
        for pose, scale, shift in zip(predicted, (0.3, 1.0, 2.0, 7.0), rng.normal(size=(4, 3)))])
    np.testing.assert_allclose(p_mpjpe(moved, target), reference, rtol=1e-9)
    np.testing.assert_allclose(p_mpjpe(2.0 * target + 5.0, target), [0.0] * 4, atol=1e-9)


def test_p_mpjpe_fixes_reflections():
    rng = np.random.default_rng(12)
    target = rng.normal(scale=300.0, size=(2, 17, 3))
    mirrored = target * np.array([1.0, 1.0, -1.0])
    assert np.all(p_mpjpe(mirrored, target) > 10.0)


def test_p_mpjpe_mask_fits_selected_joints_only():
    rng = np.random.default_rng(13)
    target = rng.normal(size=(1, 17, 3))
    predicted = 3.0 * target @ random_rotation(rng) - 2.0
    predicted[0, 16] += 50.0
    mask = np.arange(17) < 16
    np.testing.assert_allclose(p_mpjpe(predicted, target, mask), [0.0], atol=1e-9)
    assert p_mpjpe(predicted, target)[0] > 0.1


def test_n_mpjpe_scale_invariant_not_translation_invariant():
    rng = np.random.default_rng(14)
    target = rng.normal(scale=300.0, size=(3, 17, 3))
    predicted = target + rng.normal(scale=40.0, size=target.shape)
    reference = n_mpjpe(predicted, target)
    np.testing.assert_allclose(n_mpjpe(0.25 * predicted, target), reference, rtol=1e-9)
    np.testing.assert_allclose(n_mpjpe(2.0 * target, target), [0.0] * 3, atol=1e-9)
    assert np.all(n_mpjpe(predicted + 500.0, target) > reference)


def test_mpjve_by_hand_and_offset_invariance():
    target = np.zeros((3, 2, 3))
    predicted = target.copy()
    predicted[1:, 0] = [3.0, 4.0, 0.0]
    np.testing.assert_allclose(mpjve(predicted, target), [2.5, 0.0])
    np.testing.assert_allclose(mpjve(target + 7.0, target), [0.0, 0.0])
    mask = np.array([[True, True], [True, False], [True, True]])
    np.testing.assert_allclose(mpjve(predicted, target, mask), [5.0, 0.0])
    with pytest.raises(ValueError, match='2 frames'):
        mpjve(predicted[:1], target[:1])


@pytest.mark.parametrize('metric', [mpjpe, p_mpjpe, n_mpjpe, mpjve])
def test_shape_checks(metric):
    with pytest.raises(ValueError):
        metric(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError):
        metric(np.zeros((17, 3)), np.zeros((17, 3)))
    with pytest.raises(ValueError):
        metric(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), np.ones(16, dtype=bool))


def test_per_action_table_from_arrays_and_dict():
    errors = np.array([10.0, 20.0, 30.0, 40.0, np.nan])
    actions = np.array(['Walk', 'Walk', 'Sit', 'Walk', 'Sit'])
    table = per_action_table(errors, actions)
    assert table.actions == ('Walk', 'Sit')
    np.testing.assert_allclose(table.means, [70.0 / 3, 30.0])
    assert table.counts == (3, 1)
    assert table.average == pytest.approx((70.0 / 3 + 30.0) / 2)
    assert table.overall == pytest.approx(25.0)
    same = per_action_table({'Walk': [10.0, 20.0, 40.0], 'Sit': np.array([[30.0]])})
    assert same == table


def test_per_action_table_order_and_errors():
    table = per_action_table({'Walk': [1.0], 'Sit': [3.0]}, order=['Sit', 'Eat', 'Walk'])
    assert table.actions == ('Sit', 'Eat', 'Walk')
    assert table.counts == (1, 0, 1) and math.isnan(table.means[1])
    assert math.isnan(table.average) and table.overall == 2.0
    with pytest.raises(ValueError, match='missing'):
        per_action_table({'Walk': [1.0], 'Sit': [3.0]}, order=['Sit'])
    with pytest.raises(ValueError):
        per_action_table(np.zeros(3), ['a', 'b'])
    with pytest.raises(ValueError):
        per_action_table(np.zeros(3))


def test_format_table_markdown():
    ours = ActionTable(actions=('Walk', 'Sit'), means=(41.48, 85.86), counts=(10, 10))
    theirs = ActionTable(actions=('Walk',), means=(50.6,), counts=(4,))
    text = format_table({'Ours': ours, 'Lin | CVPR': theirs})
    assert text == (
        '| Method | Walk | Sit | Avg |\n'
        '|---|---:|---:|---:|\n'
        '| Ours | 41.48 | 85.86 | 63.67 |\n'
        '| Lin \\| CVPR | 50.60 | - | - |\n')
    assert format_table(ours, decimals=1).splitlines()[2] == '| Error | 41.5 | 85.9 | 63.7 |'
    with pytest.raises(ValueError):
        format_table({})
