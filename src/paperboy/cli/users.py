"""`paperboy users ...`: create accounts and grant the admin role from the command line."""

from __future__ import annotations

import json

import typer
from sqlalchemy import func, select

from paperboy.accounts.users import AccountError, create_user, issue_api_token, make_admin
from paperboy.cli.context import fail
from paperboy.db.engine import transaction
from paperboy.db.models import User

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


@users_app.command("create")
def create(
    ctx: typer.Context,
    email: str = typer.Option(..., help="The account's email address."),
    username: str = typer.Option(..., help="The public username."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given."
    ),
    admin: bool = typer.Option(False, "--admin", help="Give the account the admin role."),
) -> None:
    """Create an account (for example the first admin)."""
    ctx.obj.require_schema()
    try:
        with transaction(ctx.obj.sessions) as session:
            user = create_user(session, email, username, password)
            user.is_admin = admin
    except AccountError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.message}")
    typer.echo(f"created {'admin ' if admin else ''}user {username}")


@users_app.command("make-admin")
def grant_admin(ctx: typer.Context, login: str = typer.Argument(..., help="Username or email.")) -> None:
    """Give an existing account the admin role (hide comments, remove daily entries)."""
    ctx.obj.require_schema()
    try:
        with transaction(ctx.obj.sessions) as session:
            user = make_admin(session, login)
            name = user.username
    except AccountError as exc:
        fail(exc.message)
    typer.echo(f"{name} is now an admin")


@users_app.command("token")
def new_token(ctx: typer.Context, login: str = typer.Argument(..., help="Username or email.")) -> None:
    """Print a new personal API token for the account (the previous one stops working)."""
    ctx.obj.require_schema()
    with transaction(ctx.obj.sessions) as session:
        column = User.email if "@" in login else User.username
        user = session.scalar(select(User).where(func.lower(column) == login.strip().lower()))
        if user is None:
            fail(f"no account {login!r}")
        token = issue_api_token(user)
    typer.echo(token)


@users_app.command("list")
def list_users(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")
) -> None:
    """Every account: username, email, admin or not."""
    ctx.obj.require_schema()
    with ctx.obj.sessions() as session:
        rows = [
            {
                "username": u.username,
                "email": u.email,
                "admin": u.is_admin,
                "created": u.created_at.isoformat(),
            }
            for u in session.scalars(select(User).order_by(User.id))
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['username']:<24} {row['email']:<40} {'admin' if row['admin'] else ''}")
