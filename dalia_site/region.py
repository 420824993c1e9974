"""Several sites served by one process: a region's small sites on one small server.

Each site keeps its folder, database, secret key, session cookie and configuration: it is its own
Flask app (`create_app`), exactly as when it runs alone. The process only picks the app by the
request's host name — the site's `domain` in site.toml, which nginx passes on in `Host` — and an
unknown host gets a 404. What the sites share is the code and its memory (one interpreter, one copy
of Flask, SQLAlchemy and the app's modules): a site costs a few megabytes more, not a process.
Never data, sessions or keys. `DALIA_SITES` (folders separated by spaces) makes dalia_site.wsgi
serve them; see deploy/README.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flask import Flask

from dalia_site.config import SiteConfigError


class Region:
    """A WSGI app that hands each request to the site of its host name."""

    def __init__(self, sites: dict[str, Flask]) -> None:
        self.sites = sites

    def site_for(self, environ: dict) -> Flask | None:
        host = environ.get("HTTP_HOST", "").lower()
        if not host.startswith("["):  # "host:port" (an IPv6 address is never a site's domain)
            host = host.split(":", 1)[0]
        return self.sites.get(host)

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        site = self.site_for(environ)
        if site is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Site inconnu\n"]
        return site(environ, start_response)


def create_region_app(folders: Iterable[str | Path]) -> Region:
    """One app per site folder, each reached by its own domain (two sites may not share one)."""
    from dalia_site import create_app

    sites: dict[str, Flask] = {}
    for folder in folders:
        app = create_app(folder)
        domain = str(app.config["SITE"]["domain"]).lower()
        if not domain:
            raise SiteConfigError(
                f"{folder} : [site] domain est vide ; un site servi avec d'autres a son domaine"
            )
        if domain in sites:
            raise SiteConfigError(f"{folder} : le domaine {domain} est déjà celui d'un autre site")
        sites[domain] = app
    if not sites:
        raise SiteConfigError("DALIA_SITES ne nomme aucun dossier de site")
    return Region(sites)
