"""DALIA site: the application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class BoundedInt(IntegerConverter):
    def __init__(self, url_map, fixed_digits=0, min=1, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(site_dir: str | Path, overrides: dict | None = None) -> Flask:
    """The app serving one site folder (site.toml + secret_key + its database)."""
    from dalia_site import access, filters, security_headers, unit_of_work
    from dalia_site.activity.routes import bp as activity_bp
    from dalia_site.admin.routes import bp as admin_bp
    from dalia_site.answers.routes import bp as answers_bp
    from dalia_site.auth.routes import bp as auth_bp
    from dalia_site.booking.routes import bp as booking_bp
    from dalia_site.config import flask_config
    from dalia_site.core.routes import bp as core_bp
    from dalia_site.desk.routes import bp as desk_bp
    from dalia_site.errors import register_error_handlers
    from dalia_site.extensions import csrf, db, login_manager
    from dalia_site.forms import refuse_nul_characters
    from dalia_site.partners.routes import bp as partners_bp
    from dalia_site.patients.routes import bp as patients_bp
    from dalia_site.proxy import TrustedProxyFix
    from dalia_site.referrals.routes import bp as referrals_bp
    from dalia_site.rights.routes import bp as rights_bp
    from dalia_site.roster.routes import bp as roster_bp
    from dalia_site.worklists.routes import bp as worklists_bp

    app = Flask(__name__)
    # Ids in URLs fit the database's integer: a longer number is a 404, not an overflow.
    app.url_map.converters["int"] = BoundedInt
    app.config.update(flask_config(site_dir))
    app.config.update(overrides or {})

    if app.config["PROXY_HOPS"]:
        app.wsgi_app = TrustedProxyFix(  # type: ignore[method-assign]  # Flask documents wrapping wsgi_app
            app.wsgi_app, app.config["PROXY_HOPS"], app.config["TRUSTED_PROXIES"]
        )

    db.init_app(app)
    login_manager.init_app(app)
    # The role guard runs before the CSRF check: a refused user hears "refused", not "form expired".
    app.before_request(access.guard)
    app.before_request(refuse_nul_characters)
    csrf.init_app(app)

    for blueprint in (
        core_bp,
        auth_bp,
        referrals_bp,
        patients_bp,
        booking_bp,
        desk_bp,
        roster_bp,
        partners_bp,
        activity_bp,
        admin_bp,
        answers_bp,
        rights_bp,
        worklists_bp,
    ):
        app.register_blueprint(blueprint)

    security_headers.init_app(app)
    # Registered after the security headers so that it runs before them (Flask runs after_request
    # hooks in reverse): an error page replacing a failed commit gets the headers too.
    unit_of_work.init_app(app)
    filters.init_app(app)
    register_error_handlers(app)
    return app


def create_dev_app(site_dir: str | Path) -> Flask:
    """`create_app` with Flask-Migrate's `flask db …`, for a developer writing a migration:
    `FLASK_APP="dalia_site:create_dev_app('instances/demo')" flask db migrate -m "…"`. A served
    site never loads Flask-Migrate nor Alembic (12 MB of every process)."""
    from flask_migrate import Migrate

    from dalia_site.extensions import db

    app = create_app(site_dir)
    Migrate(app, db, directory=str(MIGRATIONS_DIR))
    return app
