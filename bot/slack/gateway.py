"""The Slack Web API calls the worker makes, with Slack's errors sorted into what the worker must do
(`errors.py` draws the tree).

Reactions are made idempotent here: adding one that is there, or removing one that is not, is success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import metrics
from bot.slack.documented_errors import DOCUMENTED_CODES
from bot.slack.errors import (
    SlackAuthError,
    SlackError,
    SlackRateLimited,
    SlackTransient,
    from_api_error,
)
from bot.slack.pacing import SlackPacer
from bot.storable import storable_tree

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadMessage:
    ts: str
    user_id: str | None
    text: str
    is_bot: bool
    team_id: str | None = None  # the author's workspace (set in shared channels)


@dataclass(frozen=True)
class SlackUser:
    name: str
    enterprise_id: str | None = None  # the author's Enterprise Grid organization, if any
    is_guest: bool = False  # a multi- or single-channel guest (`is_restricted`)
    is_admin: bool = False  # a workspace admin or owner
    known: bool = True  # False: Slack could not say (the name is the id, the flags are guesses)
    fetched_at: float = 0.0
    error: str | None = None  # why Slack could not say
    may_pass: bool = False  # that error may pass (Slack's 5xx, a rate limit, the network)


# User facts (a guest, an admin) can change: they are asked again after this long.
USER_CACHE_SECONDS = 600.0


class SlackGateway:
    def __init__(
        self, client: WebClient, *, pacer: SlackPacer | None = None, bot_user_id: str | None = None
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.bot_user_id = bot_user_id
        self._users: OrderedDict[str, SlackUser] = OrderedDict()
        self._names_lock = threading.Lock()
        self._held = threading.local()  # per worker thread: the method a reserved token is held for

    @contextmanager
    def holding(self, method: str | None) -> Iterator[None]:
        """Run a step that holds a token reserved earlier for `method` (`SlackRateLimited.reserved`):
        its first call of that method spends it instead of asking the pacer again."""
        self._held.method = method
        try:
            yield
        finally:
            self._held.method = None

    # -- messages -----------------------------------------------------------------------------------

    def post_ephemeral(self, *, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """A message only `user` sees (an explanation of why the bot will not do what they asked)."""
        self._pace("chat.postEphemeral", channel, essential=True)
        self._call(
            "chat.postEphemeral",
            self.client.chat_postEphemeral,
            channel=channel,
            user=user,
            text=text,
            thread_ts=thread_ts,
        )

    def post_notice(self, *, channel: str, text: str, thread_ts: str | None = None) -> str:
        """A short message for everyone in a channel (or a thread), from the bot: never a ping."""
        self._pace("chat.postMessage", channel, essential=True)
        response = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The members of a user group (`usergroups.users.list`)."""
        users = self._call("usergroups.users.list", self.client.usergroups_users_list, usergroup=group_id)
        return frozenset(str(u) for u in users.get("users") or [])

    def post(
        self,
        *,
        channel: str,
        thread_ts: str,
        text: str,
        markdown: str | None = None,
        metadata: dict[str, Any] | None = None,
        actions: Sequence[dict[str, Any]] = (),
    ) -> str:
        """Post in a thread; `actions`: blocks (buttons) shown under the markdown."""
        self._pace("chat.postMessage", channel, essential=True)
        response = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=_blocks(markdown, actions),
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    def update(
        self,
        *,
        channel: str,
        ts: str,
        text: str,
        markdown: str | None = None,
        essential: bool = True,
        actions: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """Edit a message (its blocks are replaced: without `actions`, buttons it had are gone); a
        non-essential edit (progress) is dropped when Slack's budget is short."""
        if not self._pace("chat.update", channel, essential=essential):
            return False
        try:
            self._call(
                "chat.update",
                self.client.chat_update,
                channel=channel,
                ts=ts,
                text=text,
                blocks=_blocks(markdown, actions) or [],
            )
        except SlackRateLimited:
            if essential:
                raise
            return False  # Slack's own limit: a progress edit is dropped like one our budget refuses
        return True

    def set_agent_status(
        self,
        *,
        channel: str,
        thread_ts: str,
        status: str,
        title: str | None = None,
        initiator: str | None = None,
    ) -> None:
        """Slack's agent session of the thread: `processing` (Slack shows it working, with its stop control)
        or `active` (idle)."""
        self._call(
            "agents.sessions.setStatus",
            self.client.agents_sessions_setStatus,
            channel_id=channel,
            thread_ts=thread_ts,
            status=status,
            title=title,
            initiator_user_id=initiator,
        )

    def set_suggested_prompts(
        self, *, channel: str, prompts: Sequence[dict[str, str]], title: str | None = None
    ) -> None:
        """The prompts a person sees in the bot's DM (up to four `{title, message}`). Without `thread_ts`:
        an app with Slack's agent messaging experience (`agent_view`) must not send one, or the call
        fails silently."""
        method = "assistant.threads.setSuggestedPrompts"
        self._pace(method, channel, essential=True)
        self._call(
            method,
            self.client.assistant_threads_setSuggestedPrompts,
            channel_id=channel,
            prompts=[{"title": p["title"], "message": p["message"]} for p in prompts],
            title=title,
        )

    def set_thread_title(self, *, channel: str, thread_ts: str, title: str) -> None:
        """The title of a DM thread, shown in the history of the person's DM with the bot."""
        method = "assistant.threads.setTitle"
        self._pace(method, channel, essential=True)
        self._call(
            method,
            self.client.assistant_threads_setTitle,
            channel_id=channel,
            thread_ts=thread_ts,
            title=title,
        )

    def upload_markdown(
        self, *, channel: str, thread_ts: str, filename: str, title: str, content: str
    ) -> str:
        """Share `content` as a markdown file in the thread (files_upload_v2: an upload URL, the bytes,
        then the share); the file's id."""
        response = self._call(
            "files.completeUploadExternal",
            self.client.files_upload_v2,
            channel=channel,
            thread_ts=thread_ts,
            filename=filename,
            title=title,
            content=content,
            snippet_type="markdown",
        )
        shared = response.get("files") or [response.get("file") or {}]
        return str(shared[0].get("id", ""))

    def shared_file(self, *, channel: str, thread_ts: str, filename: str) -> str | None:
        """The id of a file named `filename` the bot shared in the thread (after a crash mid-upload)."""
        response = self._call(
            "conversations.replies",
            self.client.conversations_replies,
            channel=channel,
            ts=thread_ts,
            limit=200,
        )
        for item in response.get("messages") or []:
            for found in item.get("files") or []:
                if isinstance(found, dict) and found.get("name") == filename:
                    return str(found.get("id"))
        return None

    def add_reaction(self, *, channel: str, ts: str, name: str, essential: bool = True) -> None:
        if not self._pace("reactions.add", channel, essential=essential):
            return
        try:
            self._call("reactions.add", self.client.reactions_add, channel=channel, timestamp=ts, name=name)
        except SlackRateLimited:
            if essential:
                raise
        except SlackError as exc:
            # Already there, or the message was deleted since: either way nothing left to do.
            if exc.error not in ("already_reacted", "message_not_found"):
                raise

    def remove_reaction(self, *, channel: str, ts: str, name: str) -> None:
        """Always best effort: a 👀 left beside the ✅ is better than a delayed answer."""
        if not self._pace("reactions.remove", channel, essential=False):
            return
        try:
            self._call(
                "reactions.remove", self.client.reactions_remove, channel=channel, timestamp=ts, name=name
            )
        except SlackRateLimited:
            return
        except SlackError as exc:
            if exc.error not in ("no_reaction", "message_not_found"):
                raise

    def thread_messages(self, *, channel: str, thread_ts: str, limit: int = 100) -> list[ThreadMessage]:
        """One `conversations.replies` call (some apps get 15 messages, once a minute: call it once)."""
        response = self._call(
            "conversations.replies",
            self.client.conversations_replies,
            channel=channel,
            ts=thread_ts,
            limit=limit,
        )
        messages = []
        for item in response.get("messages") or []:
            messages.append(
                ThreadMessage(
                    ts=str(item.get("ts", "")),
                    user_id=item.get("user"),
                    text=str(item.get("text", "")),
                    is_bot=bool(item.get("bot_id")) or item.get("subtype") == "bot_message",
                    team_id=item.get("user_team") or item.get("source_team") or item.get("team"),
                )
            )
        return messages

    def find_marked_reply(
        self, *, channel: str, thread_ts: str, event_type: str, payload: dict[str, Any], oldest: float
    ) -> str | None:
        """The ts of this app's reply in the thread whose metadata matches, posted after `oldest`."""
        response = self._call(
            "conversations.replies",
            self.client.conversations_replies,
            channel=channel,
            ts=thread_ts,
            oldest=f"{oldest:.6f}",
            include_all_metadata=True,
            limit=200,
        )
        for item in response.get("messages") or []:
            metadata = item.get("metadata") or {}
            if metadata.get("event_type") == event_type and metadata.get("event_payload") == payload:
                return str(item["ts"])
        return None

    def channel_is_private(self, channel: str) -> bool:
        response = self._call("conversations.info", self.client.conversations_info, channel=channel)
        info = response.get("channel") or {}
        return bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))

    def user_name(self, user_id: str) -> str:
        """Display name for `@name`, cached; falls back to the id when Slack cannot tell."""
        return self.user(user_id).name

    def forget_users(self) -> None:
        """Ask Slack again about everyone (tests; an admin changed someone's role)."""
        with self._names_lock:
            self._users.clear()

    def user(self, user_id: str) -> SlackUser:
        """Who a user is (`users.info`), cached; the id as name when Slack cannot tell."""
        now = time.monotonic()
        with self._names_lock:
            cached = self._users.get(user_id)
            if cached is not None and now - cached.fetched_at < USER_CACHE_SECONDS:
                self._users.move_to_end(user_id)
                return cached
        try:
            user = self._call("users.info", self.client.users_info, user=user_id).get("user") or {}
        except SlackError as exc:
            logger.info("users.info for %s failed (%s); using the id", user_id, exc.error)
            may_pass = isinstance(exc, SlackTransient | SlackRateLimited | SlackAuthError) and not (
                isinstance(exc, SlackTransient) and exc.unknown
            )
            return SlackUser(name=user_id, known=False, error=exc.error, may_pass=may_pass)
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
        enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
        found = SlackUser(
            name=str(name),
            enterprise_id=str(enterprise) if enterprise else None,
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            is_admin=bool(user.get("is_admin") or user.get("is_owner")),
            fetched_at=now,
        )
        with self._names_lock:
            self._users[user_id] = found
            if len(self._users) > 5000:
                self._users.popitem(last=False)
        return found

    # -- plumbing -----------------------------------------------------------------------------------

    def _pace(self, method: str, channel: str, *, essential: bool) -> bool:
        """True when the call may go now; False when a non-essential call is dropped."""
        if getattr(self._held, "method", None) == method:
            self._held.method = None
            return True
        if self.pacer is None:
            return True
        wait = self.pacer.acquire(method, channel, essential=essential)
        if wait <= 0:
            return True
        if essential:
            raise SlackRateLimited(method, wait, reserved=True)
        logger.debug("%s dropped: Slack budget for it is short", method)
        return False

    def _call(self, method: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        params = {key: value for key, value in kwargs.items() if value is not None}
        try:
            response = function(**params)
        except SlackApiError as exc:
            error = from_api_error(method, exc, DOCUMENTED_CODES.get(method, frozenset()))
            metrics.count_slack_call(method, error.error)
            if isinstance(error, SlackRateLimited) and self.pacer is not None:
                self.pacer.rate_limited(method, str(params.get("channel", "")), error.retry_after)
            raise error from None
        except SlackClientError as exc:
            metrics.count_slack_call(method, "client_error")
            raise SlackTransient(method, f"client error: {type(exc).__name__}") from None
        except OSError as exc:
            metrics.count_slack_call(method, "network_error")
            raise SlackTransient(method, f"network error: {type(exc).__name__}") from None
        metrics.count_slack_call(method, None)
        # Names and thread texts go into the database and to Blocks: cleaned where they come in.
        return storable_tree(response.data) if isinstance(response.data, dict) else response


def _blocks(markdown: str | None, actions: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]] | None:
    if markdown is None:
        return None
    return [{"type": "markdown", "text": markdown}, *actions]
