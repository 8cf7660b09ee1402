"""How the Forge shows an answer: Markdown rendered and sanitized on the server, the critic's
assessment as a card, provider ids as their display names.

Model output is untrusted text: Markdown is rendered with raw HTML off, then nh3 (the Ammonia
sanitizer) keeps only harmless tags, so nothing a model writes runs in the page.
"""

from __future__ import annotations

from typing import Any

import nh3
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from providers import registry

from .catalog import AGENTS

_MARKDOWN = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> SafeString:
    """`text` as sanitized HTML (links get rel="noopener noreferrer")."""
    html = _MARKDOWN.render(text or "")
    clean = nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"})
    return mark_safe(clean)


def answer_html(agent_name: str, text: str) -> SafeString:
    """The answer as the page shows it: the critic's card when the text is an assessment, else Markdown."""
    agent = AGENTS.get(agent_name)
    parse = getattr(agent, "parse", None)
    assessment = parse(text) if parse and text else None
    if assessment is not None:
        return mark_safe(render_to_string("agents/_assessment.html", {"a": assessment}))
    return render_markdown(text)


def provider_display(provider: str) -> str:
    """A provider's display name ("AI Gateway (service account)"), or the id if unregistered."""
    try:
        return registry.get(provider).name if provider else ""
    except KeyError:
        return provider


def agent_display(name: str) -> str:
    agent = AGENTS.get(name)
    return agent.title if agent else name


def fallback_rows(fallbacks: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The providers that failed before the one that answered, with display names."""
    return [
        {
            "name": provider_display(str(f.get("provider", ""))),
            "model": str(f.get("model", "")),
            "reason": str(f.get("reason", "")),
        }
        for f in fallbacks or []
        if isinstance(f, dict)
    ]
