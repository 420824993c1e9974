"""Where the kit's data folders are: territory templates and deploy templates.

The repository keeps them at its top (instance_templates/, deploy/), where URPS staff read and edit
them; the wheel ships them as the data packages dalia_site.instance_templates and
dalia_site.deploy_templates (see setup.py). They are read with importlib.resources; an editable
install of a checkout, whose import finder does not map them, reads the checkout's folders.
"""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# One file each folder always has: data packages without __init__.py are namespace packages,
# whose importlib.resources root is not a path of its own, but whose files are.
_KIT_FOLDERS = {
    "instance_templates": ("instance_templates", "_common"),
    "deploy_templates": ("deploy", "gunicorn.conf.py"),
}


def kit_folder(package: str) -> Path:
    """The folder of dalia_site.<package>: in the installed wheel, or in the checkout."""
    checkout_name, marker = _KIT_FOLDERS[package]
    try:
        resource = importlib.resources.files(f"dalia_site.{package}").joinpath(marker)
    except ModuleNotFoundError:
        return CHECKOUT / checkout_name
    return Path(str(resource)).parent


def templates_folder() -> Path:
    return kit_folder("instance_templates")


def deploy_folder() -> Path:
    return kit_folder("deploy_templates")


def bin_dir() -> Path:
    """The bin/ of the environment running the kit (its venv): where `dalia` and `gunicorn` are."""
    return Path(sys.prefix) / "bin"
