"""The home page of each role and the health check."""

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dalia_site.access import ALL_STAFF, current_staff, public, roles
from dalia_site.desk.page import render_desk
from dalia_site.extensions import db
from dalia_site.models.vocabulary import Role

bp = Blueprint("core", __name__, template_folder="templates")


@bp.route("/")
@roles(*ALL_STAFF)
def home():
    """Reporting's home page; for everyone else, today's desk (`?jour=` for another day)."""
    if current_staff().role == Role.REPORTING:
        return render_template("core/home.html")
    return render_desk()


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
