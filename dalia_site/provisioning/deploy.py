"""Render a site's deploy files (nginx server block, systemd units) from the kit's deploy/ templates."""

from __future__ import annotations

from pathlib import Path

import jinja2

from dalia_site.kit import bin_dir, deploy_folder

DEPLOY_TEMPLATES = deploy_folder()
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
RENDERED = {
    "nginx-http.conf.j2": "nginx-http.conf",
    "nginx-https.conf.j2": "nginx-https.conf",
    "dalia@.service.j2": "dalia@.service",
    "dalia-backup@.service.j2": "dalia-backup@.service",
    "dalia-backup@.timer.j2": "dalia-backup@.timer",
    "dalia-mail@.service.j2": "dalia-mail@.service",
    "dalia-mail@.timer.j2": "dalia-mail@.timer",
    "dalia-reminders@.service.j2": "dalia-reminders@.service",
    "dalia-reminders@.timer.j2": "dalia-reminders@.timer",
    "dalia-retention@.service.j2": "dalia-retention@.service",
    "dalia-retention@.timer.j2": "dalia-retention@.timer",
    "dalia-open-half-days@.service.j2": "dalia-open-half-days@.service",
    "dalia-open-half-days@.timer.j2": "dalia-open-half-days@.timer",
}
# Config files (nginx, systemd), not HTML: no HTML escaping.
_jinja = jinja2.Environment(  # noqa: S701  # nosec B701
    loader=jinja2.FileSystemLoader(DEPLOY_TEMPLATES),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def server_name(site: dict) -> str:
    return site["domain"] or f"{site['slug']}.localhost"


def render_deploy(
    folder: Path,
    site: dict,
    instances_dir: Path,
    bin_path: Path | None = None,
    certificate: str | None = None,
    certificate_key: str | None = None,
    user: str = "dalia",
    group: str = "www-data",
) -> list[Path]:
    """Write folder/deploy/*: what an operator links into /etc/nginx and /etc/systemd.

    `folder` may be the site folder under construction; the files name its final place.
    Commands run from `bin_path`, by default the bin/ of the environment running this code
    (the venv the kit is installed in), never a path guessed from a checkout.
    """
    name = server_name(site)
    values = {
        "slug": site["slug"],
        "name": site["name"],
        "server_name": name,
        "site_dir": instances_dir / site["slug"],
        "instances_dir": instances_dir,
        "bin_dir": bin_path or bin_dir(),
        "deploy_dir": DEPLOY_TEMPLATES,
        "static_dir": STATIC_DIR,
        "user": user,
        "group": group,
        "certificate": certificate or f"/etc/letsencrypt/live/{name}/fullchain.pem",
        "certificate_key": certificate_key or f"/etc/letsencrypt/live/{name}/privkey.pem",
    }
    target = folder / "deploy"
    target.mkdir(exist_ok=True)
    written = []
    for template, filename in RENDERED.items():
        path = target / filename
        path.write_text(_jinja.get_template(template).render(values), encoding="utf-8")
        written.append(path)
    return written
