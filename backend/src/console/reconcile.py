"""Give back to the bot the conversations left paused with no open ticket.

Closing resumes Rasa before it closes the ticket, so a close no longer leaves a chat paused
when Rasa is down. This pass repairs what could still get there (a console of before that
order, a pause lost between two services): a conversation whose last ticket closed lately,
that has no open one, and that Rasa holds paused since before that close. The console runs
it when it starts and then every `reconcile_interval_seconds`; every console process may run
it, a conversation found paused twice at the same instant is only resumed twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from console.clients import ConsoleBackend, RasaApi, Refused, Unavailable

log = logging.getLogger(__name__)


async def reconcile_once(
    backend: ConsoleBackend, rasa: RasaApi, *, within_seconds: int
) -> list[str]:
    """One pass; the conversations given back. Unavailable when the backend or Rasa is down
    (what was done so far stays done; the next pass does the rest)."""
    resumed: list[str] = []
    for item in await backend.closed_conversations(within_seconds):
        conversation = str(item["conversation_id"])
        closed_at = datetime.fromisoformat(str(item["closed_at"])).timestamp()
        paused_at = await rasa.paused_since(conversation)
        # A pause after the close belongs to a new handoff, opened since the list was read.
        if paused_at is None or paused_at > closed_at:
            continue
        goodbye = await rasa.response_text("utter_handoff_ended")
        await rasa.resume(conversation)
        await rasa.say(conversation, goodbye)
        log.info(
            "conversation %s was paused without an open ticket: back with the bot", conversation
        )
        resumed.append(conversation)
    return resumed


async def run_periodically(
    backend: ConsoleBackend, rasa: RasaApi, *, interval: float, within_seconds: int
) -> None:
    """Forever (the console cancels it on shutdown); a failed pass is logged and retried."""
    while True:
        try:
            await reconcile_once(backend, rasa, within_seconds=within_seconds)
        except (Unavailable, Refused) as error:
            log.warning("reconcile pass not finished: %s", error)
        except Exception:
            log.exception("reconcile pass failed")  # keep the loop alive for the next pass
        await asyncio.sleep(interval)
