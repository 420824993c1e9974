"""Packaging: everything is in pyproject.toml but the mapping below, which its tables cannot express
together with package discovery.

instance_templates/ and deploy/ stay at the top of the repository, where URPS staff read and edit
them; the wheel ships them as the data packages dalia_site.instance_templates and
dalia_site.deploy_templates (read with importlib.resources, see dalia_site/kit.py).
"""

from setuptools import find_namespace_packages, setup

KIT_DATA = {
    "dalia_site.instance_templates": "instance_templates",
    "dalia_site.deploy_templates": "deploy",
}

setup(
    packages=[*find_namespace_packages(include=["dalia_site", "dalia_site.*"]), *KIT_DATA],
    package_dir=KIT_DATA,
)
