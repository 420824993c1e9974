"""The vendored axe-core is the one recorded in vendor/README.md."""

import hashlib
from pathlib import Path

VENDOR = Path(__file__).parent / "vendor"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"


def test_vendored_axe_core_is_the_pinned_release():
    data = (VENDOR / "axe.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256
    assert data.startswith(b"/*! axe v4.14.1")
    assert (VENDOR / "axe-core.LICENSE").read_text().startswith("Mozilla Public License")
