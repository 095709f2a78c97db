"""``loket serve --demo``: a demo organisation to try Loket with, created once, and the
``/demo`` page (a fictional dealer's website embedding the widget) served only in demo mode."""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import directory
from accounts.models import Organisation, Queue, User, WidgetKey
from api.middlewares import error_response
from privacy import accept_for_fixture

DEMO_ORG = "Demo Autohaus"
ADVISER_EMAIL = "adviser@demo.loket.test"
ADMIN_EMAIL = "admin@demo.loket.test"
ACTOR = "demo"
DEMO_PAGE = "demo.html"


@dataclass(frozen=True, slots=True)
class DemoSetup:
    """What ``ensure_demo`` leaves: the lines to print, and the key the /demo page embeds."""

    summary: str
    widget_key: str


async def ensure_demo(db: AsyncSession, public_url: str, data_dir: Path) -> DemoSetup:
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
    # The demo records calls: its organisation accepts the DPA without a dpo (privacy.dpa).
    await accept_for_fixture(db, org.id, actor=ACTOR)
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
    public = public_url.rstrip("/")
    lines += [
        f"  demo page:    {public}/demo  (a dealer's website with the widget: the visitor's side)",
        f"  console:      {public}/console/  (log in as {ADVISER_EMAIL} with the password above)",
        f"  admin:        {public}/admin/  (log in as {ADMIN_EMAIL})",
    ]
    return DemoSetup(summary="\n".join(lines), widget_key=saved["widget_key"])


def add_demo_page(app: web.Application, *, widget_dir: Path, public_url: str, widget_key: str) -> None:
    """Serve ``GET /demo``: ``widget_dir/pages/demo.html`` with Loket's public URL and the demo
    widget key filled into the embed snippet (exactly the one the admin console hands out)."""
    public = public_url.rstrip("/")
    parts = urlsplit(public)
    loket_origin = f"{parts.scheme}://{parts.netloc}"
    # The page stands for a customer's website: it may load the widget from Loket's public
    # origin and talk to it there, and nothing else runs on it.
    csp = (
        f"default-src 'self'; script-src 'self' {loket_origin}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' {loket_origin} ws: wss:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    template = widget_dir / "pages" / DEMO_PAGE

    async def demo_page(_request: web.Request) -> web.StreamResponse:
        try:
            text = await asyncio.to_thread(template.read_text, "utf-8")
        except OSError:
            return error_response(
                404,
                "page_not_built",
                f"{DEMO_PAGE} is not built: run `make widget` (npm ci && npm run build in widget/)",
            )
        body = text.replace("{{LOKET_URL}}", html.escape(public)).replace(
            "{{WIDGET_KEY}}", html.escape(widget_key)
        )
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": csp,
                "X-Content-Type-Options": "nosniff",
            },
        )

    app.router.add_get("/demo", demo_page)
