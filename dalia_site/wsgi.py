"""WSGI entry point for gunicorn: DALIA_SITE names the site folder to serve (or DALIA_SITES several
folders, separated by spaces, that one process serves: dalia_site.region)."""

import os
import sys

from flask import Flask

from dalia_site import create_app
from dalia_site.config import SiteConfigError
from dalia_site.region import Region, create_region_app

app: Flask | Region
try:
    if os.environ.get("DALIA_SITES"):
        app = create_region_app(os.environ["DALIA_SITES"].split())
    else:
        app = create_app(os.environ["DALIA_SITE"])
except KeyError:
    sys.exit("DALIA_SITE n'est pas défini : indiquez le dossier du site (ex. instances/aveyron).")
except SiteConfigError as error:
    sys.exit(f"Configuration du site invalide : {error}")
