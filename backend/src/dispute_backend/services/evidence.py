"""R5: evidence files. Type is checked from the bytes, not the name; size is capped."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import errors, rules
from ..enums import ActorType, Party
from ..models import Dispute, Evidence, Message
from . import events

# content type -> (extension, magic bytes test)
ALLOWED_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "video/mp4": ".mp4",
}


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4"
    return None


@dataclass(frozen=True)
class StagedFile:
    path: Path
    size: int
    sha256: str
    content_type: str


def stage_upload(source: BinaryIO, *, directory: Path, max_bytes: int) -> StagedFile:
    """Copy the upload to a temp file in `directory`, checking type and size as it streams."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            head = source.read(16)
            content_type = sniff(head)
            if content_type is None:
                raise errors.EvidenceTypeNotAllowed(
                    "Allowed files: JPEG, PNG, GIF, PDF and MP4.", allowed=sorted(ALLOWED_TYPES)
                )
            for chunk in _chunks(source, head):
                size += len(chunk)
                if size > max_bytes:
                    raise errors.EvidenceTooLarge(
                        f"Each file must be at most {max_bytes // (1024 * 1024)} MB.",
                        max_bytes=max_bytes,
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StagedFile(path=path, size=size, sha256=digest.hexdigest(), content_type=content_type)


def _chunks(source: BinaryIO, head: bytes) -> Iterator[bytes]:
    yield head
    while chunk := source.read(1024 * 1024):
        yield chunk


def add_evidence(
    session: Session,
    *,
    dispute: Dispute,
    party: Party,
    author_id: str,
    staged: StagedFile,
    filename: str,
    description: str,
    evidence_dir: Path,
    max_files: int,
    now: datetime,
) -> Evidence:
    if not rules.can_add_evidence(dispute.state):
        raise errors.TransitionNotAllowed("Evidence can be added only while the dispute is open.")
    # Lock the dispute first (PostgreSQL; SQLite has one writer anyway): two uploads at the
    # last free slot would otherwise both count one file too few, and both be stored.
    session.execute(select(Dispute.id).where(Dispute.id == dispute.id).with_for_update())
    existing = session.scalar(
        select(func.count(Evidence.id)).where(Evidence.dispute_id == dispute.id)
    )
    if int(existing or 0) >= max_files:
        raise errors.EvidenceLimitReached(f"A dispute holds at most {max_files} files.")
    folder = evidence_dir / dispute.public_id
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / (staged.sha256 + ALLOWED_TYPES[staged.content_type])
    os.replace(staged.path, final)
    evidence = Evidence(
        dispute_id=dispute.id,
        party=party,
        author_id=author_id,
        filename=Path(filename).name[:255] or "upload",
        content_type=staged.content_type,
        size_bytes=staged.size,
        sha256=staged.sha256,
        storage_path=str(final.relative_to(evidence_dir)),
        description=description,
        created_at=now,
    )
    session.add(evidence)
    session.flush()
    events.on_dispute(
        session,
        dispute,
        "evidence.added",
        actor=events.Actor(ActorType(party.value), author_id),
        now=now,
        data={"evidence_id": evidence.id, "sha256": staged.sha256, "size": staged.size},
    )
    return evidence


def list_evidence(session: Session, *, dispute: Dispute) -> Sequence[Evidence]:
    stmt = select(Evidence).where(Evidence.dispute_id == dispute.id).order_by(Evidence.id)
    return session.scalars(stmt).all()


def add_message(
    session: Session, *, dispute: Dispute, party: Party, author_id: str, body: str, now: datetime
) -> Message:
    message = Message(
        dispute_id=dispute.id, party=party, author_id=author_id, body=body, created_at=now
    )
    session.add(message)
    session.flush()
    actor_type = ActorType(party.value) if party is not Party.platform else ActorType.operator
    events.on_dispute(
        session,
        dispute,
        "message.posted",
        actor=events.Actor(actor_type, author_id),
        now=now,
        data={"message_id": message.id},
    )
    return message


def list_messages(session: Session, *, dispute: Dispute) -> Sequence[Message]:
    stmt = select(Message).where(Message.dispute_id == dispute.id).order_by(Message.id)
    return session.scalars(stmt).all()
