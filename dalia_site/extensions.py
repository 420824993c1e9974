"""Extensions of the web app, created once here and bound to each app in create_app.

`db` (the models' base, with the SQLite pragmas) lives in dalia_site.database, which needs no web
layer; it is re-exported here for the app's code. Flask-Migrate is not among them: it and
Alembic (12 MB) are for a developer's `flask db …` only (`create_dev_app`), never in a served site.
"""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from dalia_site.database import NAMING_CONVENTION, db

__all__ = ["NAMING_CONVENTION", "csrf", "db", "login_manager"]

login_manager = LoginManager()
csrf = CSRFProtect()
