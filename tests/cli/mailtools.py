"""What the email tests read: the SMTP server's inbox and the site's outbox (the fixtures that
start the server are in tests/cli/conftest.py)."""

from email import message_from_bytes, policy

from sqlalchemy import select

from dalia_site import create_app
from dalia_site.extensions import db
from dalia_site.models import OutboundEmail


class Inbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def outbox(site_dir) -> list[OutboundEmail]:
    app = create_app(site_dir)
    with app.app_context():
        rows = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()
        db.session.expunge_all()
        db.engine.dispose()
    return rows
