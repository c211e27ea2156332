"""`_links` hrefs point at whatever host the API believes it is (observed: another origin than the one
called). Rebasing keeps their path and query and puts them on the configured API origin, so the API key is
never sent to a host the admin did not choose."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.blocks.errors import BlocksError

_API_PREFIX = "/rest/v1/"


def rebase(href: str, api_url: str) -> str:
    parts = urlsplit(href)
    start = parts.path.find(_API_PREFIX)
    if start < 0:
        raise BlocksError(f"Blocks returned a link outside its API: {parts.path!r}")
    path = parts.path[start:]
    query = f"?{parts.query}" if parts.query else ""
    return api_url.rstrip("/") + path + query


def thread_messages_url(api_url: str, session_id: str, thread_id: str) -> str:
    return f"{api_url.rstrip('/')}/rest/v1/sessions/{session_id}/threads/{thread_id}/messages"


def final_message_url(api_url: str, session_id: str, thread_id: str) -> str:
    return thread_messages_url(api_url, session_id, thread_id) + "?type=final_message&role=assistant"
