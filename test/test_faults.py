"""A short subset of the fault campaign (bench/faults.py) against real node processes."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'bench'))
from faults import run_cases  # noqa: E402

pytestmark = pytest.mark.ros
SUBSET = ('start_errors', 'offline_tools', 'camera_info_mismatch', 'error_kinds_logged_apart',
          'future_stamp')


@pytest.mark.parametrize('index, case', list(enumerate(SUBSET)))
def test_campaign_case(index, case):
    rows = run_cases((case,), domain_id=70 + 10 * index)
    failed = [row for row in rows if not row[3]]
    assert rows and not failed, failed


def test_stale_or_damaged_exports_fall_back_to_torch():
    rows = run_cases(('stale_or_damaged_exports',), domain_id=196)
    failed = [row for row in rows if not row[3]]
    assert len(rows) == 2 and not failed, failed
