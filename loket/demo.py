"""``loket serve --demo``: a demo organisation to try Loket with, created once."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signaling import directory
from signaling.models import Organisation, Queue, User, WidgetKey

DEMO_ORG = "Demo Autohaus"
ADVISER_EMAIL = "adviser@demo.loket.test"
ADMIN_EMAIL = "admin@demo.loket.test"
ACTOR = "demo"


async def ensure_demo(db: AsyncSession, public_url: str, data_dir: Path) -> str:
    """Create the demo data if it is not there yet; return what to print for the operator.

    The generated passwords are kept in ``data/demo.json`` (readable by the owner only) so
    they can be printed at every start; they are demo accounts, never production ones.
    """
    credentials_file = data_dir / "demo.json"
    # Small local file I/O, once, before the server starts: no need for a thread here.
    org = await db.scalar(select(Organisation).where(Organisation.name == DEMO_ORG))
    if org is None or not credentials_file.exists():
        org = org or await directory.create_org(db, name=DEMO_ORG, actor=ACTOR)
        queue = await db.scalar(select(Queue).where(Queue.org_id == org.id))
        if queue is None:
            queue = await directory.create_queue(
                db,
                org_id=org.id,
                actor=ACTOR,
                name="Showroom",
                languages=["nl", "en", "de", "fr"],
                recording_policy="ask",
            )
        passwords = {}
        for email, role, name in ((ADVISER_EMAIL, "adviser", "Sanne"), (ADMIN_EMAIL, "admin", "Admin")):
            password = secrets.token_urlsafe(12)
            existing = await db.scalar(select(User).where(User.email == email))
            if existing is None:
                await directory.create_user(
                    db,
                    org_id=org.id,
                    email=email,
                    role=role,
                    password=password,
                    actor=ACTOR,
                    display_name=name,
                )
            else:
                await directory.change_user(db, existing, actor=ACTOR, changes={"password": password})
            passwords[email] = password
        origins = sorted({public_url.rstrip("/"), "http://127.0.0.1:8080", "http://localhost:8080"})
        key = await directory.create_widget_key(db, org_id=org.id, origins=origins, actor=ACTOR)
        data_dir.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps({"passwords": passwords, "widget_key": key.key}))
        os.chmod(credentials_file, 0o600)
    saved = json.loads(credentials_file.read_text())
    key_row = await db.scalar(select(WidgetKey).where(WidgetKey.key == saved["widget_key"]))
    queue_row = await db.scalar(select(Queue).where(Queue.org_id == org.id))
    lines = [
        "Loket demo",
        f"  organisation: {org.id}",
        f"  queue:        {queue_row.id if queue_row else '-'}",
        f"  widget key:   {saved['widget_key']} (origins: {', '.join(key_row.origins) if key_row else '-'})",
    ]
    lines += [f"  {email}  password: {password}" for email, password in saved["passwords"].items()]
    return "\n".join(lines)
