"""Every sentence the bot writes in Slack, in one place (markdown, rendered in a `markdown` block).

Some sentences carry text the bot did not write: the agent's latest message, an error detail from Blocks,
a session URL. That text is untrusted; it goes in through `neutralize_inline` (one line, no pings, no
links, no markdown that could break out of the sentence) or `safe_url`, here, so that no caller can forget.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack.neutralize import neutralize_inline, safe_url

EYES = "eyes"
INBOX = "inbox_tray"
DONE = "white_check_mark"
WARNING = "warning"
STOPPED = "black_square_for_stop"
FAILED = "x"
GAVE_UP = "stopwatch"
# How the reactions look, for the terminal views of a thread (`chat`, `demo`).
GLYPHS = {EYES: "👀", INBOX: "📥", DONE: "✅", WARNING: "⚠️", STOPPED: "⏹️", FAILED: "❌", GAVE_UP: "⏱️"}


def session_link(session_url: str | None) -> str:
    url = safe_url(session_url)
    return f"[View session]({url})" if url else ""


def working(agent: str, session_url: str | None, notes: list[str], progress: str | None = None) -> str:
    lines = [f"⏳ *{agent}* is working on it…"]
    if progress:
        lines.append(progress)
    link = session_link(session_url)
    if link:
        lines.append(link)
    lines.extend(notes)
    return "\n".join(lines)


def still_working(agent: str, deadline_minutes: int, session_url: str | None, notes: list[str]) -> str:
    lines = [
        f"⏳ *{agent}* is still working after {deadline_minutes} minutes. "
        "I will post the answer here when it arrives.",
    ]
    link = session_link(session_url)
    if link:
        lines.append(link)
    lines.extend(notes)
    return "\n".join(lines)


# -- usage ------------------------------------------------------------------------------------------


def _agent_list(agents: Sequence[str]) -> str:
    return ", ".join(f"`/{agent}`" for agent in agents)


def usage(agents: Sequence[str], default_agent: str) -> str:
    return (
        "👋 Mention me with what you want done, and a Blocks coding agent works on it right here: "
        "`@blocks why does the nightly build fail?`. Every reply in the thread continues the same "
        "session, and the answer arrives in the thread. Start with an agent's name to pick it: "
        f"{_agent_list(agents)} (otherwise `{default_agent}`); other `/words` are Blocks skills. "
        "Nothing was sent to the agent."
    )


def unknown_agent(word: str, meant: str, agents: Sequence[str]) -> str:
    shown = neutralize_inline(word.replace("`", "'"), 40)
    return (
        f"🤔 `{shown}` is not an agent: did you mean `/{meant}`? The agents are {_agent_list(agents)}. "
        "Nothing was sent to the agent: send your message again with the right name."
    )


# -- stop -------------------------------------------------------------------------------------------

STOP_LINE_LIMIT = 300  # characters of the agent's one line on where it left things


def stop_prompt(user_name: str) -> str:
    """The interrupting follow-up a stop sends: Blocks has no cancel, and a follow-up interrupts."""
    return (
        f"@{user_name} pressed Stop in Slack. Stop working on the previous request now and do not start "
        "anything new. Reply with one line only: the state you left things in (what is done, what is not, "
        "and anything half-finished, such as uncommitted edits or a branch already pushed)."
    )


def stopping(agent: str, user_id: str, session_url: str | None) -> str:
    lines = [f"⏹️ <@{user_id}> stopped it. Asking *{agent}* where it left things…"]
    link = session_link(session_url)
    if link:
        lines.append(link)
    return "\n".join(lines)


def stopped(agent: str, user_id: str, said: str | None, session_url: str | None) -> str:
    """The placeholder once a stop is done: who stopped it, the agent's line, the session."""
    lines = [f"⏹️ Stopped by <@{user_id}>."]
    line = neutralize_inline(" ".join((said or "").split()), STOP_LINE_LIMIT) if said else ""
    if line:
        lines.append(f"*{agent}:* {line}")
    else:
        lines.append("The agent did not say where it left things: the session shows what it did.")
    link = session_link(session_url)
    if link:
        lines.append(link)
    return "\n".join(lines)


def stopped_early(user_id: str) -> str:
    return f"⏹️ Stopped by <@{user_id}> before the agent started on it: nothing was sent to Blocks."


RETRY_BUSY = "The agent is busy with this thread right now: press Retry again when it has answered."


def control_refused(reason: str) -> str:
    return f"You cannot use this thread's buttons: {reason}."


FILES_NOT_FORWARDED = (
    "📎 Files are not forwarded to the agent (Blocks has no upload): it got their names and links only."
)
PRIVATE_SESSION = (
    "🔒 This session is private in Blocks, so the link may not open for you: it is visible to the owner "
    "of the API key only."
)


def interrupted(sent_now_by: str | None = None) -> str:
    if sent_now_by is not None:
        return (
            f"⏹️ Interrupted: <@{sent_now_by}> sent the queued replies now; the agent is answering them "
            "instead."
        )
    return "⏹️ Interrupted: a newer message in this thread went to the agent, which is answering that instead."


EDIT_TOO_LATE = (
    "✏️ The agent already has your message as it was: edits do not reach it. Reply in the thread with "
    "what changed instead."
)
QUEUED = "📥 Queued: replies sent while the agent works go to it when it finishes."
QUEUED_SENT = "📥 The queued replies went to the agent."
QUEUED_WITHDRAWN = "📥 The queued replies were deleted: nothing more goes to the agent."


def bad_key(status: int | None) -> str:
    return (
        f"⚠️ Blocks rejected the bot's API key ({status}). An admin needs to check `BLOCKS_API_KEY`; "
        "reply here to try again once it is fixed."
    )


def rejected(detail: str, status: int | None) -> str:
    return f"⚠️ Blocks rejected the request ({status}): {neutralize_inline(detail)}"


def session_gone(session_url: str | None) -> str:
    text = (
        "⚠️ The Blocks session of this thread no longer exists (404). "
        "Start a new thread to begin a new session."
    )
    link = session_link(session_url)
    return f"{text}\n{link}" if link else text


def unconfirmed_create(detail: str) -> str:
    return (
        f"⚠️ Blocks did not confirm that the session was created ({neutralize_inline(detail)}). "
        "To avoid starting the work twice I did not retry: check your Blocks sessions, "
        "or reply here to try again."
    )


def unconfirmed_follow_up(detail: str, session_url: str | None) -> str:
    text = (
        f"⚠️ Blocks did not confirm that your message arrived ({neutralize_inline(detail)}), "
        "and I could not find it in the session. Check the session before replying here to try again."
    )
    link = session_link(session_url)
    return f"{text}\n{link}" if link else text


def unavailable(detail: str, attempts: int) -> str:
    return (
        f"⚠️ Blocks was unavailable ({neutralize_inline(detail)}); "
        f"I could not send your message after {attempts} attempts. Reply here to try again."
    )


def not_connected(session_url: str | None = None) -> str:
    text = (
        "⚠️ No Blocks key is connected for this workspace, so I cannot reach the agent. A workspace admin "
        "can connect one (`blocks-slack workspaces set-key`, or the bot's App Home); reply here to try "
        "again once it is."
    )
    link = session_link(session_url)
    return f"{text}\n{link}" if link else text


def refused(reason: str) -> str:
    """Ephemeral (only its author sees it): why the bot did not send their message to the agent."""
    return f"⛔ I did not send this to the agent: {reason}."


def bot_failed(reason: str) -> str:
    return (
        f"⚠️ Something went wrong on my side and I could not finish this ({neutralize_inline(reason)}). "
        "Reply here to try again."
    )


def undeliverable(reason: str, session_url: str | None) -> str:
    """Plain text (Slack refused the markdown answer): the reason, and where the answer can be read."""
    url = safe_url(session_url)
    where = f" It is in the Blocks session: {url}" if url else ""
    return f"⚠️ Slack would not take this answer ({neutralize_inline(reason)}).{where}"


def gave_up(hours: float, session_url: str | None) -> str:
    text = f"⌛ No answer from the agent after {hours:g} h, so I stopped waiting here."
    link = session_link(session_url)
    return f"{text} {link}" if link else text


def empty_answer(session_url: str | None) -> str:
    text = "✅ The agent finished without writing an answer."
    link = session_link(session_url)
    return f"{text} {link}" if link else text


def late_answer(user_id: str) -> str:
    return f"<@{user_id}> the answer is ready (above)."


def answer_footer(
    session_url: str | None, *, private: bool, agent: str, seconds: float, steps: str = ""
) -> str:
    """The result card's last line: agent · time taken · steps · View session (and the private note)."""
    took = f"{max(1, round(seconds))} s" if seconds < 60 else duration(seconds)
    parts = [neutralize_inline(agent, 40), took, steps, session_link(session_url)]
    line = " · ".join(part for part in parts if part)
    return f"\n\n{line}\n{PRIVATE_SESSION}" if private and session_link(session_url) else f"\n\n{line}"


SUMMARY_NOTE = "✂️ This channel shows answers in short: the whole answer is in the session."


def long_answer_note(characters: int) -> str:
    return (
        f"📄 The answer is long ({characters:,} characters): its start is above, and all of it is attached "
        "below as a file (and in the session)."
    )


def duration(seconds: float) -> str:
    """Whole minutes (`4 min`, `1 h 5 min`); under a minute, nothing."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return ""
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def steps(count: int, *, at_least: bool = False) -> str:
    if not count:
        return ""
    plus = "+" if at_least else ""
    return f"{count}{plus} step{'' if count == 1 and not plus else 's'}"
