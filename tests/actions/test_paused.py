"""While paused, Rasa handles "never mind" and a restart, and only logs everything else."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import ConversationPaused, ConversationResumed, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.paused import should_handle_message


def tracker_after(intent: str, *, paused: bool) -> DialogueStateTracker:
    tracker = DialogueStateTracker("buyer-1", slots=[])
    tracker.update(ConversationPaused())
    if not paused:
        tracker.update(ConversationResumed())
    tracker.update(UserUttered("...", intent={"name": intent, "confidence": 0.9}))
    return tracker


@pytest.mark.parametrize("intent", ["stop", "restart"])
def test_while_paused_never_mind_and_restart_are_handled(intent: str) -> None:
    assert should_handle_message(tracker_after(intent, paused=True))


@pytest.mark.parametrize("intent", ["greet", "check_dispute_status", "affirm", "deny"])
def test_while_paused_other_messages_are_only_logged(intent: str) -> None:
    assert not should_handle_message(tracker_after(intent, paused=True))


@pytest.mark.parametrize("intent", ["stop", "greet", "check_dispute_status"])
def test_a_conversation_with_the_bot_handles_everything(intent: str) -> None:
    assert should_handle_message(tracker_after(intent, paused=False))
