"""SMS through the site's provider: Brevo's transactional SMS API, as documented.

`POST {api_url}/transactionalSMS/send` with the `api-key` header and a JSON body {sender,
recipient (international, without «+»), content, type: transactional}; 201 with {messageId}.
Errors come back as {code, message}: 400 a bad request (that message alone fails), 401 a wrong
key and 402 no credits left (nothing can leave: the run stops, no attempt is counted), 5xx or no
answer (retried later). The outbox (domain/mail.py) claims, sends, and records each answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_API_URL = "https://api.brevo.com/v3"
MAX_LENGTH = 459  # three SMS of 153 characters: a reminder must fit


class SmsError(Exception):
    """One message could not be sent; `stop_run` when no other message can be either (wrong key,
    no credits): the run stops and the messages wait, their attempts untouched."""

    def __init__(self, message: str, *, stop_run: bool = False):
        super().__init__(message)
        self.stop_run = stop_run


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> str: ...

    def probe(self) -> str: ...


def sender_from(settings: Mapping[str, Any]) -> BrevoSms | None:
    """The site's SMS sender from its [sms] settings (config.flask_config's "SMS"), or None when
    SMS is not set up (provider, sender or key missing): the site then reminds by email only."""
    if settings.get("provider") != "brevo" or not settings.get("sender") or not settings.get("api_key"):
        return None
    return BrevoSms(
        api_key=str(settings["api_key"]),
        sender=str(settings["sender"]),
        api_url=str(settings.get("api_url") or DEFAULT_API_URL),
        timeout=float(settings.get("timeout_seconds") or 10),
    )


def missing(settings: Mapping[str, Any]) -> list[str]:
    """What [sms] lacks for SMS to leave, in French (`dalia check`); [] when SMS is not chosen."""
    if not settings.get("provider"):
        return []
    lacks = []
    if not settings.get("sender"):
        lacks.append("site.toml : [sms] sender (nom d'expéditeur des SMS) absent")
    if not settings.get("api_key"):
        lacks.append("sms_api_key : clé d'API du fournisseur SMS absente (fichier 0600 à côté de site.toml)")
    return lacks


@dataclass(frozen=True)
class BrevoSms:
    api_key: str
    sender: str
    api_url: str = DEFAULT_API_URL
    timeout: float = 10.0

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 — the URL is site.toml's https (or a test's)
            f"{self.api_url.rstrip('/')}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "api-key": self.api_key,
                "accept": "application/json",
                "content-type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                answer = response.read()
        except urllib.error.HTTPError as error:
            raise _error(error.code, error.read()) from None
        except TimeoutError:
            raise SmsError("fournisseur SMS : pas de réponse (délai dépassé)") from None
        except (urllib.error.URLError, OSError) as error:
            raise SmsError(f"fournisseur SMS injoignable : {getattr(error, 'reason', error)}") from None
        try:
            return dict(json.loads(answer or b"{}"))
        except (ValueError, TypeError):
            return {}

    def send(self, to: str, text: str) -> str:
        """Send `text` to the E.164 number `to`; the provider's message id."""
        answer = self._request(
            "POST",
            "/transactionalSMS/send",
            {
                "sender": self.sender,
                "recipient": to.lstrip("+"),
                "content": text[:MAX_LENGTH],
                "type": "transactional",
            },
        )
        return str(answer.get("messageId", ""))

    def probe(self) -> str:
        """Check the key with the account endpoint (`dalia check`); SmsError if refused."""
        answer = self._request("GET", "/account")
        return str(answer.get("email") or answer.get("companyName") or "compte Brevo")


def _error(status: int, raw: bytes) -> SmsError:
    try:
        answer = json.loads(raw or b"{}")
        detail = f"{answer.get('code', '')} {answer.get('message', '')}".strip()
    except (ValueError, AttributeError):
        detail = ""
    detail = f" ({detail})" if detail else ""
    if status in (401, 403):
        return SmsError(f"fournisseur SMS : clé d'API refusée{detail}", stop_run=True)
    if status == 402:
        return SmsError(f"fournisseur SMS : plus de crédits SMS{detail}", stop_run=True)
    if status >= 500:
        return SmsError(f"fournisseur SMS : erreur du serveur {status}{detail}")
    return SmsError(f"fournisseur SMS : envoi refusé ({status}){detail}")
