#!/usr/bin/env bash
# Install hpm_ros into .venv/ at the repository root, with no ROS install needed:
# torch (CPU, pinned), the ROS 2 Kilted wheels from PyPI and the package itself (editable).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
echo "hpm_ros installed in $root/.venv (console scripts: .venv/bin/hpm, .venv/bin/hpm_pose_node)"
