"""`loket user reset-two-factor` through the real console script, on SQLite and PostgreSQL: an installation
whose admin lost phone and recovery codes (or used the grace login without enrolling) gets them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.credential_models import RecoveryCode, TwoFactorState
from accounts.models import User
from db import utcnow
from db.audit import AuditEvent
from tests.loket.test_cli import PASSWORD, Cli, assert_one_line_error, make_cli, unique_email


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(request.param, tmp_path)


@pytest.mark.timeout(240)  # four runs of the console script, each importing the whole app
def test_reset_two_factor_removes_the_secret_and_codes_and_gives_a_new_grace_login(cli: Cli) -> None:
    org = cli.created("org", "create", "Garage")
    email = unique_email()
    user_id = uuid.UUID(
        cli.created(
            "user", "create", "--org", org, "--email", email, "--role", "admin", "--password-stdin",
            stdin=PASSWORD,
        )
    )  # fmt: skip

    async def enrolled(db: AsyncSession) -> None:
        user = await db.get(User, user_id)
        assert user is not None
        user.totp_secret = "v1:sealed-elsewhere"
        db.add(TwoFactorState(user_id=user_id, grace_used_at=utcnow(), confirmed_at=utcnow()))
        db.add(RecoveryCode(user_id=user_id, code_hash="0" * 64))

    cli.query(enrolled)
    result = cli.run("user", "reset-two-factor", "--email", email.upper())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(user_id)

    async def state(db: AsyncSession) -> tuple[str | None, object, int, list[str]]:
        user = await db.get(User, user_id)
        row = await db.get(TwoFactorState, user_id)
        codes = await db.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
        )
        actors = list(
            await db.scalars(
                select(AuditEvent.actor).where(
                    AuditEvent.action == "auth.2fa_reset", AuditEvent.target == f"user:{user_id}"
                )
            )
        )
        assert user is not None and row is not None
        return user.totp_secret, row.grace_used_at, int(codes or 0), actors

    assert cli.query(state) == (None, None, 0, ["cli"])


@pytest.mark.timeout(120)
def test_reset_two_factor_of_an_unknown_address_is_one_line(cli: Cli) -> None:
    assert_one_line_error(cli.run("user", "reset-two-factor", "--email", unique_email()), "no staff member")
