"""htmx support: detect requests that want a fragment, and render a page or just one of its blocks.

A fragment is the very block of the page template, rendered alone, so the markup exists once.
Boosted navigations and history restores want the whole page, so they get it.
"""

from __future__ import annotations

from flask import current_app, make_response, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    return (
        is_htmx()
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_block(template_name: str, block: str, **context) -> str:
    """Render one block of a template alone. Macros used in the block must be imported inside
    it: a template's top-level `{% from … import … %}` does not run when a block renders alone."""
    app = current_app
    app.update_template_context(context)
    template = app.jinja_env.get_or_select_template(template_name)
    block_render = template.blocks[block]
    return "".join(block_render(template.new_context(context)))


def render_page(template_name: str, block: str, **context):
    """The full page, or only `block` of it for an htmx request; responses vary on HX-Request."""
    if wants_fragment():
        body = render_block(template_name, block, **context)
    else:
        body = render_template(template_name, **context)
    response = make_response(body)
    response.vary.add("HX-Request")
    return response
