"""Shared test setup. Tests marked `cluster` need the local control plane (issue 3)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository root, so tests can import calibration/ (not part of the installed package)
# and tests.helpers.
sys.path.insert(0, str(ROOT))
