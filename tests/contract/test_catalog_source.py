"""The checked-in catalog is exactly what scripts/build_catalog.py makes of the research notes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESEARCH = ROOT.parent / "shared" / "neuron" / "catalog.yaml"
CHECKED_IN = ROOT / "operator" / "neuron_operator" / "sizing" / "data" / "catalog.json"


@pytest.mark.skipif(not RESEARCH.exists(), reason="research notes (../shared) not beside the repo")
def test_catalog_is_regenerated_from_the_research_notes(tmp_path: Path) -> None:
    out = tmp_path / "catalog.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_catalog.py"), str(RESEARCH), str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == CHECKED_IN.read_text(), "run `make catalog` and commit the result"
