"""Names of the turn life cycle, in one place.

Phase (the turn's place in its conversation):
    waiting  ── collects replies that arrive while another turn runs (at most one per conversation)
    active   ── holds the conversation: its messages are being worked on (at most one per conversation)
    finished ── history

Step (the work still to do, run by a worker when `next_run_at` is due):
    inbox   waiting turn: put 📥 on each queued reply
    start   👀 on the messages, then the placeholder reply in the thread
    submit  create the Blocks session, or send the follow-up          (spends a Blocks request)
    poll    read the turn's thread until the final message arrives    (spends a Blocks request)
    deliver edit the placeholder into the answer (or a notice), overflow as replies, ✅ on the messages
    close   an interrupted turn: say so in its placeholder
    settle  a finished turn whose thread Slack shows as a working agent session: mark it idle
A stop (turns/stop.py) is a flag on the active turn (`stop_state`), acted on before its next step.
    done    nothing left
"""

from __future__ import annotations

WAITING = "waiting"
ACTIVE = "active"
FINISHED = "finished"

INBOX = "inbox"
START = "start"
SUBMIT = "submit"
POLL = "poll"
DELIVER = "deliver"
CLOSE = "close"
SETTLE = "settle"
DONE = "done"

# A stop's progress (`turns.stop_state`; see turns/stop.py): asked for, then the agent asked where it left
# things (the stop's follow-up is the turn's request).
STOP_REQUESTED = "requested"
STOPPING = "stopping"


def ended(
    outcome: str, now: float, *, step: str = DONE, next_run_at: float | None = None
) -> dict[str, object]:
    """The columns of a turn ended from outside its worker (intake, a press, an uninstall): finished with
    `outcome`, fenced off from any worker that holds it, `step` left to do at `next_run_at` (none)."""
    return {
        "phase": FINISHED,
        "outcome": outcome,
        "step": step,
        "next_run_at": next_run_at,
        "lease_token": None,
        "lease_until": None,
        "finished_at": now,
        "updated_at": now,
    }


# Steps that send a request to Blocks, and so need a token from the key's budget.
BLOCKS_STEPS = (SUBMIT, POLL)
SLACK_ONLY_STEPS = (INBOX, START, DELIVER, CLOSE, SETTLE)

# Outcomes of a finished turn.
ANSWERED = "answered"
FAILED = "failed"
EXPIRED = "expired"
STOPPED = "stopped"  # a person stopped it (the Stop button, Slack's own stop)
WITHDRAWN = "withdrawn"  # a waiting turn whose queued replies were all deleted before they were sent
USAGE = "usage"  # not a request (an empty mention, `help`, a misspelt agent): answered with usage
INTERRUPTED = "interrupted"
UNDELIVERABLE = "undeliverable"
