"""French error pages. An htmx request gets just the message, to be shown where it was aimed."""

from flask import Flask, g
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from dalia_site import unit_of_work
from dalia_site.extensions import login_manager
from dalia_site.htmx import render_page

MESSAGES = {
    400: ("Requête invalide", "La demande envoyée n'est pas valide."),
    401: ("Connexion nécessaire", "Connectez-vous pour accéder à cette page."),
    403: (
        "Accès refusé",
        "Votre rôle ne permet pas d'accéder à cette page. "
        "Adressez-vous à l'administrateur du site si vous pensez que c'est une erreur.",
    ),
    404: ("Page introuvable", "Cette page n'existe pas ou plus."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible de cette façon."),
    413: ("Envoi trop volumineux", "Le fichier ou le formulaire envoyé est trop volumineux."),
    429: ("Trop de demandes", "Trop de demandes en peu de temps. Patientez puis réessayez."),
    503: (
        "Service momentanément indisponible",
        "La base de données du site ne répond pas. "
        "Réessayez dans quelques instants ; si cela dure, prévenez l'administrateur du site.",
    ),
    500: (
        "Erreur du serveur",
        "Une erreur inattendue s'est produite. Elle a été enregistrée ; "
        "réessayez dans un instant et, si elle persiste, prévenez l'administrateur du site.",
    ),
}
CSRF_MESSAGE = "Le formulaire a expiré ou n'a pas pu être vérifié. Rechargez la page et renvoyez-le."


def _error_page(status: int, message: str | None = None):
    title, default = MESSAGES.get(status, (f"Erreur {status}", ""))
    return render_page(
        "errors/error.html", "message", status=status, title=title, message=message or default
    ), status


def _http_error(error: HTTPException):
    # A message given by the app itself (abort(400, description=…)) says what was wrong.
    own = error.description if error.description != type(error).description else None
    return _error_page(error.code or 500, own)


def _csrf_error(error: CSRFError):
    return _error_page(400, CSRF_MESSAGE)


def server_error(error: Exception):
    unit_of_work.abandon()  # nothing half-written survives an unexpected failure
    return _error_page(500)


def database_unavailable(error: Exception | None = None):
    """The database does not answer: a French 503, rendered without touching it again."""
    unit_of_work.abandon()
    g._login_user = login_manager.anonymous_user()  # the layout must not load the user
    return _error_page(503)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, server_error)
    app.register_error_handler(OperationalError, database_unavailable)
