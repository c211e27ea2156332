"""The worker pool: a fixed number of threads that claim due turns and run their steps.

Everything a worker knows comes from the database, so any replica can continue any turn: a restart, a
deploy or a crashed replica loses nothing (its leases expire and another worker claims the turns). Errors
never make a worker sleep: the turn is rescheduled (`next_run_at`) and the lease released.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from functools import partial

from sqlalchemy import Connection

from bot.blocks.budget import Budget
from bot.blocks.errors import BlocksError, BlocksRateLimited
from bot.db.engine import database_unavailable
from bot.logs import Throttle, log_context
from bot.slack import messages as text
from bot.slack.errors import SlackAuthError, SlackError, SlackRateLimited
from bot.slack.gateway import SlackGateway
from bot.slack.home import HomeTab
from bot.tenancy import roomiest
from bot.turns import backlog, feedback, home_refresh, native, outbox, retention, states, stop
from bot.turns.acknowledge import run_close, run_inbox, run_start
from bot.turns.best_effort import Decorations, best_effort
from bot.turns.context import Runtime, TurnView, load
from bot.turns.deliver import body_of, run_deliver
from bot.turns.finish import finish, show_notice
from bot.turns.lease import Candidate, Claimed, Lease, LeaseLost, blocks_backlog, claim_next, next_due_at
from bot.turns.poll import run_poll
from bot.turns.retry import GiveUp, Retry, decide, retries_end_at
from bot.turns.submit import run_submit

logger = logging.getLogger(__name__)

STEPS = {
    states.INBOX: run_inbox,
    states.START: run_start,
    states.SUBMIT: run_submit,
    states.POLL: run_poll,
    states.DELIVER: run_deliver,
    states.CLOSE: run_close,
    states.SETTLE: native.run_settle,
}
# A claimed turn runs its next steps at once while they are due (start → submit, poll → deliver), up to:
MAX_CHAINED_STEPS = 6
MIN_IDLE_SECONDS = 0.01
# While the database fails, each thread waits this long at most before trying it again.
MAX_ERROR_PAUSE = 10.0
DATABASE = "database"
BUG = "bug"
RETENTION = "retention"
HOME = "home"
OUTBOX_IDLE_SECONDS = 0.5  # how often to look for queued messages, when there are none


class Worker:
    def __init__(self, rt: Runtime, *, threads: int) -> None:
        self.rt = rt
        self.threads = threads
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pool: list[threading.Thread] = []
        self._errors = Throttle(logger)
        self._new_sessions = itertools.count()  # keys with room to spare take new sessions in turn
        # Keys whose budget row is known to exist (committed): the claim's hot path need not insert it.
        self._budgets_made: set[str] = set()

    def start(self) -> None:
        with self.rt.engine.begin() as conn:
            for budget in self._budgets():
                budget.ensure(conn, self.rt.clock())
        self._budgets_made.update(budget.key_hash for budget in self._budgets())
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"worker-{index}", daemon=True)
            thread.start()
            self._pool.append(thread)
        watch = threading.Thread(target=self._watch_backlog, name="backlog-watch", daemon=True)
        watch.start()
        self._pool.append(watch)
        hints = threading.Thread(target=self._send_outbox, name="outbox", daemon=True)
        hints.start()
        self._pool.append(hints)
        homes = threading.Thread(target=self._refresh_homes, name="home", daemon=True)
        homes.start()
        self._pool.append(homes)
        if self.rt.settings.retention_days > 0:  # 0 keeps the texts: nothing to purge, ever
            purge = threading.Thread(target=self._purge_periodically, name="retention", daemon=True)
            purge.start()
            self._pool.append(purge)

    def wake(self) -> None:
        """New work was recorded in this process: look now instead of at the next idle poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; each thread finishes the step it is in (steps are short) and exits."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._pool:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def alive(self) -> bool:
        """Every thread it started is running (False before start, after stop, or when one has died)."""
        return bool(self._pool) and not self._stopping.is_set() and all(t.is_alive() for t in self._pool)

    def run_once(self) -> bool:
        """Claim and run one due turn; False when nothing was due (used by tests and the demo)."""
        claimed = claim_next(
            self.rt.engine,
            self._pay,
            now=self.rt.clock(),
            lease_seconds=self.rt.settings.lease_seconds,
            poll_policy=self.rt.settings.poll_policy,
        )
        if claimed is None:
            return False
        if claimed.key_hash is not None:
            self._budgets_made.add(claimed.key_hash)  # it paid from that budget: the row is committed
        self._run(claimed)
        return True

    # -----------------------------------------------------------------------------------------------

    def _budgets(self) -> list[Budget]:
        tenancy = self.rt.tenancy
        return [a.budget for a in tenancy.all_accounts()] if tenancy is not None else [self.rt.budget]

    def _pay(self, conn: Connection, candidate: Candidate, now: float) -> tuple[str, Budget] | None:
        """Who pays for a Blocks step: its session's key; a new session's, the workspace's key with the
        most room (a session whose key is gone continues on the workspace's keys)."""
        tenancy = self.rt.tenancy
        if tenancy is None:
            return self.rt.budget.key_hash, self.rt.budget
        wanted = candidate.key_hash
        account = tenancy.account(wanted) if wanted else None
        if account is None:
            usable = tenancy.accounts(candidate.team_id, candidate.enterprise_id)  # loads them
            account = tenancy.account(wanted) if wanted else None
            account = account or roomiest(conn, usable, now, turn=next(self._new_sessions))
        if account is None:
            return None
        if account.key_hash not in self._budgets_made:
            account.budget.ensure(conn, now)  # a workspace key used for the first time: its budget, full
        return account.key_hash, account.budget

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:
                # The database is away: every thread meets it, so it is logged once a minute, and the
                # threads back off instead of asking it again at once. Anything else is a bug in claiming
                # or in handling a turn's error; it is logged (as such) the same way.
                key = DATABASE if database_unavailable(exc) else BUG
                message = "worker: cannot use the database; retrying" if key == DATABASE else "worker: bug"
                self._errors.failed(key, message, exc)
                self._wake.wait(min(MAX_ERROR_PAUSE, 0.5 * 2 ** min(self._errors.failing(key), 5)))
                self._wake.clear()
                continue
            self._errors.recovered(DATABASE, "worker: the database is back")
            self._errors.recovered(BUG, "worker: working again")
            if not worked:
                self._wake.wait(self._idle_seconds())
                self._wake.clear()

    def _idle_seconds(self) -> float:
        """Nothing could be claimed: sleep until the earliest scheduled step is due (a poll a few seconds
        away must not wait for the idle poll), or a Blocks token is back, at most `idle_poll_seconds`
        (work recorded by another process is found by then)."""
        idle = self.rt.settings.idle_poll_seconds
        try:
            now = self.rt.clock()
            with self.rt.engine.begin() as conn:
                due = next_due_at(conn, now)
                if due is None:
                    return idle
                if due > now:
                    return min(idle, due - now)
                # Due and free, yet not claimed: a Blocks step waiting for a token (of some key).
                wait = min(budget.wait(conn, now) for budget in self._budgets())
                return min(idle, max(MIN_IDLE_SECONDS, wait))
        except Exception as exc:
            self._errors.failed(DATABASE, "worker: cannot use the database; retrying", exc)
            return idle

    def _watch_backlog(self) -> None:
        """About once a minute: is the Blocks key saturated? (see `backlog`)."""
        settings = self.rt.settings
        watch = backlog.BacklogWatch(
            late_after=settings.poll_max_seconds,
            requests_per_minute=settings.blocks_rate_limit_per_minute
            * (1 - settings.blocks_rate_headroom)
            * len(self._budgets()),
            repeat_seconds=backlog.REPEAT_SECONDS / settings.time_scale,
        )
        while not self._stopping.wait(backlog.CHECK_SECONDS / settings.time_scale):
            try:
                with self.rt.engine.begin() as conn:
                    found = blocks_backlog(conn, self.rt.clock())
                watch.observe(found, self.rt.clock())
            except Exception as exc:
                self._errors.failed(DATABASE, "worker: cannot use the database; retrying", exc)

    def _send_outbox(self) -> None:
        """Messages queued by the listener (see `outbox`): sent as they come; and feedback presses,
        checked as they come (see `feedback`)."""
        tenancy = self.rt.tenancy

        def clients(team: str, enterprise: str | None) -> SlackGateway | None:
            return tenancy.slack(team, enterprise) if tenancy is not None else self.rt.slack

        while not self._stopping.is_set():
            try:
                now = self.rt.clock()
                sent = outbox.send_next(self.rt.engine, clients, now)
                sent = feedback.check_next(self.rt.engine, self.rt, now) or sent
            except Exception as exc:
                self._errors.failed(DATABASE, "worker: cannot use the database; retrying", exc)
                sent = False
            if not sent:
                self._stopping.wait(OUTBOX_IDLE_SECONDS / self.rt.settings.time_scale)

    def _refresh_homes(self) -> None:
        """App Homes of people whose turns changed state, drawn again (see `home_refresh`)."""
        tenancy = self.rt.tenancy
        tab = HomeTab.of(self.rt.settings, self.rt.engine, tenancy, clock=self.rt.clock)

        def publish(due: home_refresh.Due) -> home_refresh.Outcome:
            slack = tenancy.slack(due.team_id, due.enterprise_id) if tenancy is not None else self.rt.slack
            return tab.refresh(slack, due)

        while not self._stopping.is_set():
            try:
                published = home_refresh.refresh_next(self.rt.engine, publish, self.rt.clock)
            except Exception as exc:
                if database_unavailable(exc):
                    self._errors.failed(DATABASE, "worker: cannot use the database; retrying", exc)
                else:
                    self._errors.failed(HOME, "worker: an App Home refresh failed", exc)
                published = False
            if not published:
                self._stopping.wait(home_refresh.IDLE_SECONDS / self.rt.settings.time_scale)

    def _purge_periodically(self) -> None:
        """Every few minutes, the texts of turns that ended RETENTION_DAYS ago go (see `retention`)."""
        scale = self.rt.settings.time_scale
        wait = retention.FIRST_SECONDS / scale
        while not self._stopping.wait(wait):
            self.purge_texts()
            wait = retention.EVERY_SECONDS / scale

    def purge_texts(self) -> int:
        """One purge, batch after batch until nothing is left; the rows cleared (0 while another replica
        purges). Errors are logged here: the next run tries again."""
        days = self.rt.settings.retention_days
        if days <= 0:
            return 0
        try:
            cleared = retention.purge(
                self.rt.engine,
                self.rt.clock(),
                days * retention.DAY_SECONDS,
                keep_going=lambda: not self.stopping,
            )
        except Exception as exc:
            if database_unavailable(exc):
                self._errors.failed(DATABASE, "worker: cannot use the database; retrying", exc)
            else:
                self._errors.failed(RETENTION, "worker: the retention purge failed", exc)
            return 0
        self._errors.recovered(RETENTION, "worker: the retention purge works again")
        if cleared:
            logger.info(
                "retention: cleared the texts of %d rows (turns that ended over %g days ago, their messages)",
                cleared,
                days,
            )
        return cleared

    def _run(self, claimed: Claimed) -> None:
        lease = claimed.lease
        # The claim paid one Blocks token if it claimed a Blocks step. A later Blocks step (a start chains
        # into its create) goes back to the claim instead, which decides whose turn the next token is
        # (fair shares) and records it: taking it here would let every new turn jump the queue.
        # A turn claimed for its stop took none: the stop acts first, and what follows it goes back to the
        # claim.
        paid = claimed.paid and claimed.step in states.BLOCKS_STEPS
        key_hash = claimed.key_hash
        for _ in range(MAX_CHAINED_STEPS):
            view = load(self.rt.engine, lease.turn_id)
            turn = view.turn
            if turn.lease_token != lease.token:
                return  # the step released the turn (or lost it)
            due = turn.next_run_at is not None and turn.next_run_at <= self.rt.clock()
            stopping = turn.stop_state == stop.REQUESTED
            unpaid = turn.step in states.BLOCKS_STEPS and not paid
            if self._stopping.is_set() or not due or (unpaid and not stopping):
                self._release(lease, turn.next_run_at)
                return
            rt = self.rt.for_turn(view, key_hash)
            held = turn.slack_reserved
            if held:
                lease.save(self.rt.clock(), slack_reserved=None)  # spent by this run, or lost with it
            conversation = view.conversation
            ids = log_context(
                turn_id=turn.id,
                session_id=conversation.session_id,
                team=conversation.team_id,
                channel=view.channel,
            )
            try:
                with ids, rt.slack.holding(held):
                    if stopping and stop.run_stop(rt, lease, view):
                        continue  # the stop changed the turn: its next step (a token paid stays paid)
                    if unpaid:  # the stop left this Blocks step to run, and it needs its token: the claim
                        self._release(lease, turn.next_run_at)
                        return
                    if turn.step in states.BLOCKS_STEPS:
                        paid = False
                    STEPS[turn.step](rt, lease, view)
            except LeaseLost:
                logger.info("turn %s: lease lost; another worker has it", turn.id)
                return
            except Exception as exc:
                if database_unavailable(exc):
                    # Not this turn's failure, and nothing could record one: the loop logs the outage
                    # once, and the turn is claimed again when its lease expires.
                    raise
                with log_context(turn_id=turn.id, team=conversation.team_id, channel=view.channel):
                    self._handle_error(rt, lease, view, exc)
                return
        self._release(lease, self.rt.clock())

    def _release(self, lease: Lease, next_run_at: float | None) -> None:
        with contextlib.suppress(LeaseLost):
            lease.release(self.rt.clock(), next_run_at=next_run_at)

    def _handle_error(self, rt: Runtime, lease: Lease, view: TurnView, exc: Exception) -> None:
        """`rt`: the turn's (its key's budget is the one Blocks limited)."""
        turn, now = view.turn, rt.clock()
        _log_failure(view, exc)
        if isinstance(exc, BlocksRateLimited):
            with rt.engine.begin() as conn:
                rt.budget.rate_limited(conn, now, exc.retry_after)
        horizon_at = retries_end_at(turn.requested_at, self.rt.settings.turn_horizon_seconds)
        decision = decide(exc, failures=turn.failures, now=now, horizon_at=horizon_at)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            if isinstance(decision, Retry):
                values: dict[str, object] = {"failures": decision.failures}
                if not isinstance(exc, SlackRateLimited):
                    values["last_error"] = error
                lease.release(now, next_run_at=decision.at, slack_reserved=decision.slack_reserved, **values)
            else:
                logger.warning(
                    "turn %s: %s failed for good (%s); the turn ends", turn.id, turn.step, decision.reason
                )
                self._give_up(rt, lease, view, decision, error, now)
        except LeaseLost:
            pass

    def _give_up(
        self, rt: Runtime, lease: Lease, view: TurnView, decision: GiveUp, error: str, now: float
    ) -> None:
        """End the turn in the state its step leaves it. Whatever goes wrong here, the turn still ends:
        a turn that cannot end is stuck, and every later reply of its thread waits behind it."""
        try:
            self._end(rt, lease, view, decision, error, now)
        except LeaseLost:
            raise
        except Exception as exc:
            if database_unavailable(exc):
                raise
            logger.exception("turn %s: cannot end it as planned; it ends as failed", view.turn.id)
            finish(lease, view.conversation.id, now, states.FAILED, last_error=f"{error}; {exc}"[:2000])

    def _end(
        self, rt: Runtime, lease: Lease, view: TurnView, decision: GiveUp, error: str, now: float
    ) -> None:
        turn = view.turn
        if turn.phase != states.ACTIVE:
            # A queued turn's 📥 or an interrupted turn's note: nothing else depends on it.
            step = states.DONE if turn.phase == states.FINISHED else turn.step
            lease.release(now, next_run_at=None, step=step, last_error=error)
        elif decision.tell and turn.step != states.DELIVER and turn.notice_text is None:
            show_notice(lease, now, text.bot_failed(decision.reason), states.FAILED, last_error=error)
            lease.release(now, next_run_at=now)  # the notice goes out now, not when the lease expires
        elif turn.step == states.DELIVER and turn.delivered_offset >= len(body_of(view, rt.settings)):
            # The answer is in the thread; only its ✅ or the mention after it could not be made.
            finish(lease, view.conversation.id, now, turn.outcome or states.ANSWERED, delivered_at=now)
        else:
            if turn.step == states.DELIVER:
                self._last_word(rt, view, decision)
            outcome = states.FAILED if decision.tell else states.UNDELIVERABLE
            finish(lease, view.conversation.id, now, outcome, last_error=error)

    def _last_word(self, rt: Runtime, view: TurnView, decision: GiveUp) -> None:
        """Slack would not take the answer (or the notice): one short plain reply and ⚠️ instead of 👀, each
        tried once, so that the thread does not look busy for ever. Slack may refuse these too."""
        decorations = Decorations(rt, view)
        try:
            best_effort(
                view,
                "the undeliverable notice",
                partial(
                    rt.slack.post,
                    channel=view.channel,
                    thread_ts=view.thread_ts,
                    text=text.undeliverable(decision.reason, view.conversation.session_url),
                    markdown=None,
                ),
            )
            for message in view.messages:
                decorations.unreact(message.ts, text.EYES)
                decorations.react(message.ts, text.WARNING)
        except SlackError as exc:
            logger.info("turn %s: the undeliverable notice was dropped (%s)", view.turn.id, exc.error)


def _log_failure(view: TurnView, exc: Exception) -> None:
    turn = view.turn
    if isinstance(exc, SlackRateLimited):
        reason = "its turn at the budget" if exc.reserved else "Slack's rate limit"
        logger.info("turn %s: %s waits %.1fs (%s)", turn.id, exc.method, exc.retry_after, reason)
    elif isinstance(exc, BlocksRateLimited):
        logger.info("turn %s: %s waits for Blocks' rate limit", turn.id, turn.step)
    elif isinstance(exc, SlackAuthError):
        logger.error("turn %s: Slack refused the bot token (%s); check SLACK_BOT_TOKEN", turn.id, exc.error)
    elif isinstance(exc, SlackError):
        logger.warning("turn %s: %s failed: %s", turn.id, turn.step, exc)
    elif isinstance(exc, BlocksError):
        # Its kind and status only: Blocks' error text may quote the request (the thread shows it).
        status = f" ({exc.status})" if exc.status is not None else ""
        logger.warning("turn %s: %s failed: %s%s", turn.id, turn.step, type(exc).__name__, status)
    else:
        logger.exception("turn %s: %s failed unexpectedly", turn.id, turn.step)
