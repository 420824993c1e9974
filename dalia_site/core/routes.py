"""The home page of each role and the health check."""

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dalia_site.access import ALL_STAFF, public, roles
from dalia_site.extensions import db

bp = Blueprint("core", __name__, template_folder="templates")


@bp.route("/")
@roles(*ALL_STAFF)
def home():
    return render_template("core/home.html")


@bp.route("/healthz")
@public
def healthz():
    """For nginx, systemd and monitoring: 200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        current_app.logger.error("health check: database unreachable: %s", error)
        return jsonify(status="error", database="injoignable"), 503
    return jsonify(status="ok", database="ok")
