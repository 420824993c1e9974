"""gunicorn's access log without secrets: the private tokens in referral-form and calendar-feed
paths are masked (the log format already leaves query strings out)."""

import re

from gunicorn.glogging import Logger

TOKEN_PATHS = re.compile(r"^(/adressage/|/agenda/)[^/]+?(\.ics)?$")


def mask(path: str) -> str:
    return TOKEN_PATHS.sub(lambda m: f"{m.group(1)}…{m.group(2) or ''}", path)


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = mask(value) if key == "U" else " ".join(mask(part) for part in value.split(" "))
        return atoms
