"""Extensions of the web app, created once here and bound to each app in create_app.

`db` (the models' base, with the SQLite pragmas) lives in dalia_site.database, which needs no web
layer; it is re-exported here for the app's code.
"""

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from dalia_site.database import NAMING_CONVENTION, db

__all__ = ["NAMING_CONVENTION", "csrf", "db", "login_manager", "migrate"]

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
