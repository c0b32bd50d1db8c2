"""`paperboy subscribe`, `paperboy unsubscribe` and `paperboy digest send|preview`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from paperboy.cli.context import EXIT_REJECTED, fail
from paperboy.cli.progress import RichProgress
from paperboy.digest.mailer import DeliveryError
from paperboy.digest.outbox import DigestBusy, DigestSender
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionError, SubscriptionRequest, Topics
from paperboy.search.factory import make_embedder

# The options of `subscribe` named as typed (the checks name the fields, some of them plural).
_OPTIONS = {
    "categories": "--category",
    "keywords": "--keyword",
    "authors": "--author",
    "excluded_keywords": "--exclude",
}

digest_app = typer.Typer(help="Send and preview email digests.", no_args_is_help=True)


def subscribe_command(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's email address."),
    frequency: str = typer.Option("daily", help="daily or weekly."),
    category: list[str] = typer.Option([], "--category", help="An arXiv category (repeatable)."),
    keyword: list[str] = typer.Option([], "--keyword", help="A keyword or saved search (repeatable)."),
    author: list[str] = typer.Option([], "--author", help="An author to follow (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Leave out papers about this (repeatable)."),
    max_papers: int = typer.Option(10, help="Papers per email (1-100)."),
    send_hour: int = typer.Option(7, help="Hour of the day to send (0-23), in --timezone."),
    timezone: str = typer.Option("UTC", help="IANA time zone, like Europe/Paris."),
    confirmed: bool = typer.Option(
        False,
        "--confirmed",
        help="The operator vouches for the address: activate without a confirmation email.",
    ),
) -> None:
    """Subscribe an address to the digest; it gets a confirmation link first (double opt-in)."""
    ctx.obj.require_schema()
    service = DigestService(ctx.obj.settings, ctx.obj.sessions)
    request = SubscriptionRequest(
        email,
        frequency,
        send_hour,
        timezone,
        max_papers,
        Topics(tuple(category), tuple(keyword), tuple(author), tuple(exclude)),
    )
    try:
        if confirmed:
            outcome = service.subscribe_confirmed(request)
            typer.echo(f"{outcome.email}: subscribed to the {frequency} digest (confirmed by the operator)")
            return
        outcome = service.request(request)
    except SubscriptionError as exc:
        fail(
            f"{_OPTIONS.get(exc.field, '--' + exc.field.replace('_', '-'))}: {exc}"
            if exc.field != "email"
            else str(exc)
        )
    except DeliveryError as exc:
        fail(f"the subscription is saved but the confirmation email could not be sent: {exc}")
    if outcome.needs_confirmation:
        typer.echo(
            f"{outcome.email}: confirmation link sent; the {frequency} digest starts once it is clicked"
        )
    else:
        typer.echo(f"{outcome.email}: already subscribed to the {frequency} digest")


def unsubscribe_command(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's email address."),
    frequency: str | None = typer.Option(None, help="Only this frequency (default: all)."),
) -> None:
    """Stop sending digests to an address."""
    ctx.obj.require_schema()
    service = DigestService(ctx.obj.settings, ctx.obj.sessions)
    count = service.unsubscribe_address(email, frequency)
    if count == 0:
        fail(f"no subscription for {email!r}")
    typer.echo(f"{email}: unsubscribed from {count} digest{'s' if count != 1 else ''}")


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        fail(f"--now: expected an ISO date-time like 2026-11-22T08:00, got {value!r}")


@digest_app.command("send")
def send(
    ctx: typer.Context,
    frequency: str = typer.Option(..., help="daily or weekly."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Count what would be sent; send and record nothing."
    ),
    email: list[str] = typer.Option([], "--email", help="Only these subscribers (repeatable)."),
    now: str | None = typer.Option(
        None, "--now", help="Act as if it were this UTC time (ISO), e.g. to catch up."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Send the due digests of one frequency (cron: every hour). Safe to rerun: never sends a period twice."""
    if frequency not in ("daily", "weekly"):
        fail(f"--frequency must be daily or weekly, got {frequency!r}")
    ctx.obj.require_schema()
    settings = ctx.obj.settings
    progress = RichProgress(enabled=not as_json)
    sender = DigestSender(
        settings, ctx.obj.sessions, make_embedder(settings), now=_now(now), progress=progress
    )
    try:
        summary = sender.run(frequency, dry_run=dry_run, emails=list(email) or None)
    except DigestBusy as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        for error in summary.errors[:20]:
            typer.secho(f"  {error}", err=True, fg=typer.colors.YELLOW)
        typer.echo(summary.line())
    if summary.failed:
        raise typer.Exit(EXIT_REJECTED)


@digest_app.command("notify")
def notify(ctx: typer.Context) -> None:
    """Send the pending discussion emails (replies, comments on claimed papers); `serve` does this every
    PAPERBOY_DIGEST_INTERVAL seconds. Safe to rerun: each is sent once."""
    from paperboy.digest.notifications import NotificationSender

    ctx.obj.require_schema()
    typer.echo(NotificationSender(ctx.obj.settings, ctx.obj.sessions).run().line())


@digest_app.command("preview")
def preview(
    ctx: typer.Context,
    email: str = typer.Option(..., help="The subscriber whose next digest to show."),
    out: Path = typer.Option(..., help="Write the HTML here."),
    frequency: str | None = typer.Option(None, help="daily or weekly (when the address has both)."),
) -> None:
    """Write the digest a subscriber would get now to an HTML file (nothing is sent or recorded)."""
    ctx.obj.require_schema()
    settings = ctx.obj.settings
    service = DigestService(settings, ctx.obj.sessions)
    subscription = service.by_email(email, frequency)
    if subscription is None:
        fail(f"no subscription for {email!r}" + (f" ({frequency})" if frequency else ""))
    result = service.preview(subscription.id, make_embedder(settings))
    try:
        out.write_text(result.html, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: {exc.strerror}")
    typer.echo(
        f"{out}: the {subscription.frequency} digest for {subscription.email} ({result.papers} papers, status {subscription.status})"
    )
