"""Direct gunicorn (issue 19): with proxy_hops = 1, X-Forwarded-* is believed only from the proxy —
gunicorn's unix socket or an address of [security] trusted_proxies — never from whoever reaches
gunicorn's port directly (who could otherwise choose the address the login throttle counts)."""

from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import AuditEvent
from tests.conftest import ADMIN_EMAIL, PASSWORD, csrf_from, login_code
from tests.web.test_headers_sessions import make_app  # noqa: F401  (the fixture)

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def login_ip(app, peer: str) -> tuple[str, bool]:
    """The address audited for a login from `peer` carrying nginx's headers, and whether HSTS came."""
    client = app.test_client()
    environ = {"REMOTE_ADDR": peer}
    # Gunicorn hears plain http from nginx (the test client would default to https here).
    page = client.get("/connexion", base_url="http://localhost", headers=FORWARDED, environ_base=environ)
    client.post(
        "/connexion",
        base_url="http://localhost",
        headers=FORWARDED | {"Referer": "https://localhost/connexion"},
        environ_base=environ,
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": ADMIN_EMAIL,
            "password": PASSWORD,
            "code": login_code(app, ADMIN_EMAIL),  # the same admin logs in several times
        },
    )
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc())
        ).first()
    return (event.ip if event else ""), "Strict-Transport-Security" in page.headers


def test_forwarded_headers_from_a_stranger_reaching_gunicorn_are_dropped(make_app):  # noqa: F811
    app = make_app(https=True, proxy_hops=1)
    assert login_ip(app, "192.0.2.50") == ("192.0.2.50", False)


def test_forwarded_headers_from_nginx_are_read(make_app):  # noqa: F811
    app = make_app(https=True, proxy_hops=1)
    assert login_ip(app, "127.0.0.1") == ("203.0.113.9", True)


def test_the_unix_socket_counts_as_nginx(make_app):  # noqa: F811
    """gunicorn on a unix socket gives no peer address: only what opens the socket (nginx) is there."""
    app = make_app(https=True, proxy_hops=1)
    assert login_ip(app, "") == ("203.0.113.9", True)


def test_a_proxy_on_another_host_is_trusted_once_listed(make_app):  # noqa: F811
    app = make_app(https=True, proxy_hops=1, trusted_proxies=["10.0.0.0/24"])
    assert login_ip(app, "10.0.0.7") == ("203.0.113.9", True)
    assert login_ip(app, "127.0.0.1")[0] == "127.0.0.1"
