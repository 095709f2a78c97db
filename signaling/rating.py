"""The visitor's rating of its own call: 1-5 stars on the widget's ended screen.

The call is found by the visitor token alone (its random subject is ``calls.visitor_id``, one
call per token), so a visitor can rate no call but its own. Only an answered call that has
ended can be rated (status ``ended``; an abandoned call had nobody to rate). The visitor may
change its mind while its token is valid (``LOKET_VISITOR_TOKEN_MINUTES``); the last rating
counts. The rating is call metadata, not personal data: it lives and is erased with the row.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import VisitorClaims
from signaling.errors import Conflict, NotFound
from signaling.models import Call, CallStatus

logger = logging.getLogger(__name__)


async def rate_call(db: AsyncSession, visitor: VisitorClaims, rating: int) -> Call:
    """Store ``rating`` on ``visitor``'s ended call (the caller commits); raise NotFound when the
    token has no call, Conflict when the call is not (or never was) answered and ended."""
    mine = (Call.org_id == visitor.org_id) & (Call.visitor_id == visitor.visitor_id)
    # One conditional UPDATE: a call that ends meanwhile is never rated while still active.
    done = await db.execute(
        update(Call).where(mine, Call.status == CallStatus.ENDED.value).values(rating=rating)
    )
    call = await db.scalar(select(Call).where(mine).order_by(Call.created_at.desc()).limit(1))
    if call is None:
        raise NotFound("this visitor session has no call", code="call_not_found")
    if done.rowcount == 0:  # type: ignore[attr-defined]
        if call.status == CallStatus.ABANDONED:
            raise Conflict("nobody answered this call, so it cannot be rated", code="call_not_answered")
        raise Conflict("a call can be rated once it has ended", code="call_not_ended")
    logger.info("call %s rated", call.id)
    return call
