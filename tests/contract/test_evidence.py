"""Evidence files (R5): type, size and count limits, and disputes that ended."""

from __future__ import annotations

from actions.backend_client import Conflict, Credential, EvidenceFile, NotFound, Refused
from tests.contract.helpers import assert_refused, buyer_and_dispute, cancel, key, open_on
from tests.contract.worlds import World

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 60


def photo(size: int = len(JPEG), name: str = "crack.jpg") -> EvidenceFile:
    return EvidenceFile(name, JPEG[:4] + b"\1" * (size - 4), "image/jpeg")


def add(
    world: World, buyer: Credential, dispute_id: str, file: EvidenceFile, idempotency_key: str = ""
) -> None:
    world.backend.add_evidence(
        buyer, dispute_id, file, description="the crack", idempotency_key=idempotency_key or key()
    )


def test_files_up_to_the_count_then_refused(world: World) -> None:
    buyer, dispute = buyer_and_dispute(world)
    first_key = key()
    add(world, buyer, dispute.id, photo(name="0.jpg"), first_key)
    add(world, buyer, dispute.id, photo(name="0.jpg"), first_key)  # a replay adds nothing
    for n in range(1, world.max_evidence_files):
        add(world, buyer, dispute.id, photo(name=f"{n}.jpg"))
    error = assert_refused(
        lambda: add(world, buyer, dispute.id, photo(name="last.jpg")),
        Conflict,
        "evidence-limit-reached",
        409,
    )
    assert isinstance(error, Refused)


def test_a_file_over_the_size_is_refused_and_one_at_it_is_not(world: World) -> None:
    buyer, dispute = buyer_and_dispute(world)
    add(world, buyer, dispute.id, photo(world.max_evidence_bytes))
    assert_refused(
        lambda: add(world, buyer, dispute.id, photo(world.max_evidence_bytes + 1)),
        Refused,
        "evidence-too-large",
        413,
    )


def test_a_file_that_is_no_picture_document_or_video_is_refused(world: World) -> None:
    buyer, dispute = buyer_and_dispute(world)
    text = EvidenceFile("notes.jpg", b"just some words, named like a photo", "image/jpeg")
    assert_refused(
        lambda: add(world, buyer, dispute.id, text), Refused, "evidence-type-not-allowed", 415
    )


def test_no_evidence_once_the_dispute_ended(world: World) -> None:
    buyer, dispute = buyer_and_dispute(world)
    cancel(world, buyer, dispute.id, dispute.version)
    assert_refused(
        lambda: add(world, buyer, dispute.id, photo()), Conflict, "transition-not-allowed", 409
    )


def test_no_evidence_on_someone_elses_dispute(world: World) -> None:
    buyer, other = world.buyer(), world.buyer()
    theirs = open_on(world, other)
    assert_refused(
        lambda: add(world, buyer, theirs.id, photo()), NotFound, "dispute-not-found", 404
    )
