"""Golden files: what a renderer must produce, reviewed by a person.

`UPDATE_GOLDEN=1 pytest tests/unit/dataplane` rewrites them; review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def check(path: Path, text: str) -> None:
    """`text` is what `path` holds (or becomes it, under UPDATE_GOLDEN=1)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text()
