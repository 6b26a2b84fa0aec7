"""`hpm evaluate`: the Table 2 style report, the Table 5 variants and the sample picture."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from hpm_ros.checkpoint import save_checkpoint
from hpm_ros.cli import main as hpm
from hpm_ros.evaluation import VARIANTS
from hpm_ros.model import build_machine


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    from conftest import make_tiny_config

    torch.manual_seed(0)
    machine = build_machine(make_tiny_config())
    machine.set_normalisation(torch.full((17, 3), -900.0), torch.full((17, 3), 900.0))
    return save_checkpoint(tmp_path_factory.mktemp('model') / 'tiny.pt', machine)


def _row(report: str, label: str) -> list:
    line = next(line for line in report.splitlines() if line.startswith(f'| {label} |'))
    return [float(cell) for cell in line.strip('|').split('|')[1:]]


@pytest.mark.parametrize('correction', ['off', 'aligned'])
def test_evaluate_writes_the_per_action_tables_and_samples(tiny_model, tmp_path, capsys,
                                                           correction):
    out = tmp_path / 'report'
    assert hpm(['evaluate', '--model', str(tiny_model), '--clips', '4', '--clip-length', '3',
                '--correction', correction, '--output', str(out)]) == 0
    printed = capsys.readouterr().out
    report = (out / 'report.md').read_text()
    assert report in printed
    mpjpe_part = report.split('## P-MPJPE')[0]
    header = next(line for line in mpjpe_part.splitlines() if line.startswith('| Method'))
    assert header.rstrip().endswith('Avg |')
    rows = {name: _row(mpjpe_part, label) for name, label in VARIANTS.items()}
    for values in rows.values():
        assert np.isfinite(values).all() and min(values) > 0
    if correction == 'off':
        assert rows['full'] == rows['no_correction_test'] == rows['gt2d_correction']
    applied = float(re.search(r'correction applied on ([\d.]+) %', report).group(1))
    assert applied == 0.0 if correction == 'off' else 0.0 <= applied <= 100.0
    samples = np.asarray(Image.open(out / 'samples.png'))
    assert samples.ndim == 3 and samples.shape[0] >= 128 and samples.std() > 5
    assert (out / 'per_action_mpjpe.png').stat().st_size > 1000
