"""The vendored htmx is the pinned release, byte for byte, and it is the one the layout loads."""

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "dalia_site" / "static"
TEMPLATES = Path(__file__).resolve().parents[2] / "dalia_site" / "templates"


def recorded() -> dict[str, str]:
    text = (STATIC / "htmx.VERSION").read_text()
    return {
        "version": re.search(r"^htmx\.org (\S+)$", text, re.M).group(1),
        "file": re.search(r"^file: (\S+)", text, re.M).group(1),
        "sha256": re.search(r"^sha256: ([0-9a-f]{64})$", text, re.M).group(1),
    }


def test_vendored_htmx_matches_recorded_sha256():
    info = recorded()
    digest = hashlib.sha256((STATIC / info["file"]).read_bytes()).hexdigest()
    assert digest == info["sha256"]


def test_vendored_htmx_is_the_2x_line_and_the_layout_loads_it():
    info = recorded()
    assert info["version"].startswith("2.")
    assert info["version"] in info["file"]
    assert f"filename='{info['file']}'" in (TEMPLATES / "base.html").read_text()
    assert len(list(STATIC.glob("htmx*.js"))) == 1
