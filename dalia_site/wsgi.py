"""WSGI entry point for gunicorn: DALIA_SITE names the site folder to serve."""

import os
import sys

from dalia_site import create_app
from dalia_site.config import SiteConfigError

try:
    app = create_app(os.environ["DALIA_SITE"])
except KeyError:
    sys.exit("DALIA_SITE n'est pas défini : indiquez le dossier du site (ex. instances/aveyron).")
except SiteConfigError as error:
    sys.exit(f"Configuration du site invalide : {error}")
