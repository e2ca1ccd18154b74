"""Files attached to chat messages, and what a turn puts in front of the model from them.

An attachment is a ``files.File`` (uploaded through the Files API or the composer) linked
to the question's ``Message.attachments``. A turn sees the attachments of the question and
of the session's earlier questions, never the organization's collections: nothing of an
attachment is indexed where knowledge search looks (docs/files.md).

- a document small enough (``CHAT_ATTACHMENT_WHOLE_TOKENS``) goes whole into the context;
- a larger one is chunked and its passages ranked against the question (BM25 over the
  chunks, in memory, for this turn only); the best that fit are used and the rest are
  reported as left out;
- a table (CSV, XLSX) gives its data summary, computed over every row, plus the answers
  of the queries the platform builds from the question (``knowledge_base.datasets``);
- an image goes to a vision model as an image part, scaled down to
  ``FILES_IMAGE_MAX_SIDE``; a model without vision refuses before anything is spent.

Each becomes a numbered source, cited like a knowledge passage ([n], ``file_id`` set).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from assistants.catalog.models import AIModel, Capability
from assistants.providers.base import ImagePart
from assistants.providers.local_provider import terms
from assistants.providers.tokens import count_tokens
from chat.conversation import RetrievedSource
from core import errors
from core.access import Caller
from files import selectors as file_selectors
from files import services as file_services
from files.models import File, FileKind, FileStatus
from knowledge_base import chunking, datasets
from knowledge_base.datasets.summary import describe_summary
from knowledge_base.extraction import DocumentError, ExtractedDocument, Section
from knowledge_base.file_processing import extraction_limits

PASSAGE_TOKENS = 300
PASSAGE_OVERLAP = 30
MAX_PASSAGES_PER_FILE = 8
# Attachments of earlier questions in the session the turn still looks at.
MAX_SESSION_ATTACHMENTS = 20


def _error(message: str) -> errors.DomainError:
    # A 400 whose message says what is wrong (the composer shows it as is).
    return errors.DomainError(message, code="invalid_attachment", fields={"attachments": [message]})


def attachments_resolve(*, caller: Caller, file_ids: list, model: AIModel) -> list[File]:
    """The files ``caller`` attaches to a question, read and ready, or a 400 that names
    the problem (unknown file, still unreadable, an image for a model without vision).
    Runs before anything is stored or any provider called."""
    if not file_ids:
        return []
    if len(file_ids) > settings.FILES_MAX_PER_UPLOAD:
        raise _error(f"Attach at most {settings.FILES_MAX_PER_UPLOAD} files to a message.")
    files = []
    for file_id in dict.fromkeys(str(f) for f in file_ids):
        try:
            file = file_selectors.file_get(caller=caller, file_id=file_id)
        except ObjectDoesNotExist:
            raise _error(f"Unknown file {file_id}.") from None
        if file.status == FileStatus.PENDING:
            # Its background task has not run yet: read it now (same code and limits).
            file = file_services.file_process(file_id=file.id) or file
        if file.status == FileStatus.FAILED:
            raise _error(f"{file.name} could not be read: {file.error}")
        files.append(file)
    check_vision(files, model)
    return files


def check_vision(files: list[File], model: AIModel) -> None:
    images = [f.name for f in files if f.kind == FileKind.IMAGE]
    if images and not model.can(Capability.VISION):
        raise _error(
            f"{model.display_name or model.model_id} cannot read images ({', '.join(images)}). "
            "Remove the image or choose an assistant whose model has vision."
        )


def session_attachments(session, before=None) -> list[File]:
    """Non-image files attached to the session's earlier questions, newest first."""
    if session is None:
        return []
    questions = session.messages.filter(role="user")
    if before is not None:
        questions = questions.filter(created_at__lt=before.created_at)
    files = (
        File.objects.filter(id__in=questions.values("attachments"), status=FileStatus.PROCESSED)
        .exclude(kind=FileKind.IMAGE)
        .order_by("-created_at")
    )
    return list(files[:MAX_SESSION_ATTACHMENTS])


@dataclass(frozen=True)
class AttachmentContext:
    sources: tuple[RetrievedSource, ...]
    images: tuple[ImagePart, ...]
    # What did not fit, said rather than silently cut: [{"file_id", "name", "reason"}].
    omitted: tuple[dict, ...]


def _source(index: int, file: File, text: str, section: str = "") -> RetrievedSource:
    return RetrievedSource(
        index=index,
        chunk_id=0,
        document_id="",
        document_title=file.name,
        page=None,
        section=section,
        score=1.0,
        text=text,
        file_id=str(file.id),
    )


def _rank_passages(question: str, passages: list[str]) -> list[int]:
    """Passage positions by BM25 against the question, best first (ties: reading order)."""
    wanted = terms(question)
    bags = [Counter(t for t in terms(p)) for p in passages]
    average = sum(sum(b.values()) for b in bags) / max(len(bags), 1) or 1
    df = {t: sum(1 for b in bags if t in b) for t in wanted}

    def score(bag: Counter) -> float:
        length = sum(bag.values())
        total = 0.0
        for term in wanted:
            if not bag.get(term):
                continue
            idf = math.log(1 + (len(bags) - df[term] + 0.5) / (df[term] + 0.5))
            tf = bag[term]
            total += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average))
        return total

    scores = [score(b) for b in bags]
    return sorted(range(len(passages)), key=lambda i: (-scores[i], i))


def _document_sources(file: File, question: str, allowance: int, first: int):
    text = file.extracted_text
    tokens = count_tokens(text)
    whole_limit = min(settings.CHAT_ATTACHMENT_WHOLE_TOKENS, allowance)
    if tokens <= whole_limit:
        return [_source(first, file, text)], None
    chunks = chunking.chunk_document(
        ExtractedDocument(title=file.name, sections=[Section(text)]),
        chunk_size=PASSAGE_TOKENS,
        overlap=PASSAGE_OVERLAP,
    )
    order = _rank_passages(question, [c.text for c in chunks])
    chosen, used = [], 0
    for position in order[:MAX_PASSAGES_PER_FILE]:
        chunk = chunks[position]
        if used + chunk.token_count > allowance:
            break
        chosen.append(position)
        used += chunk.token_count
    chosen.sort()
    sources = [
        _source(first + n, file, chunks[p].text, section=f"passage {p + 1} of {len(chunks)}")
        for n, p in enumerate(chosen)
    ]
    omitted = {
        "file_id": str(file.id),
        "name": file.name,
        "reason": (
            f"{len(chunks) - len(chosen)} of {len(chunks)} passages left out: the file "
            f"({tokens:,} tokens) is too large for the context, so only the passages most "
            "relevant to the question were used."
        ),
    }
    return sources, omitted


def _table_sources(file: File, question: str, allowance: int, first: int):
    summary = file.data_summary or {}
    lines = []
    specs = datasets.specs_for_question(question, summary)
    if specs:
        try:
            data = file_services.file_read(file=file)
            results = datasets.query_isolated(
                data, file.content_type, specs, limits=extraction_limits()
            )
            lines += [datasets.describe_result(file.name, r) for r in results]
        except DocumentError as exc:
            lines.append(f"The question's computation over {file.name} failed: {exc.message}")
    text = "\n".join([*lines, describe_summary(file.name, summary)])
    omitted = None
    if count_tokens(text) > allowance:
        kept = []
        for line in text.splitlines():
            if count_tokens("\n".join([*kept, line])) > allowance:
                break
            kept.append(line)
        text = "\n".join(kept)
        omitted = {
            "file_id": str(file.id),
            "name": file.name,
            "reason": "Part of the data summary (some columns) did not fit in the context.",
        }
    return [_source(first, file, text, section="data summary, computed over every row")], omitted


def image_part(file: File) -> ImagePart:
    """The image as a vision model gets it, scaled down to FILES_IMAGE_MAX_SIDE."""
    from PIL import Image

    data = file_services.file_read(file=file)
    longest = max(file.metadata.get("width", 0), file.metadata.get("height", 0))
    if longest <= settings.FILES_IMAGE_MAX_SIDE:
        return ImagePart(file.content_type, data)
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((settings.FILES_IMAGE_MAX_SIDE, settings.FILES_IMAGE_MAX_SIDE))
        out = io.BytesIO()
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGBA")
            image.save(out, format="PNG")
            return ImagePart("image/png", out.getvalue())
        image.save(out, format="JPEG", quality=85)
        return ImagePart("image/jpeg", out.getvalue())


def attachments_context(
    *, files: list[File], earlier: list[File], question: str, allowance: int
) -> AttachmentContext:
    """Sources (numbered from 1), images and omissions for the turn, within ``allowance``
    tokens in all (the question's own files first, then the session's earlier ones)."""
    sources: list[RetrievedSource] = []
    images: list[ImagePart] = []
    omitted: list[dict] = []
    seen = {f.id for f in files}
    ordered = [*files, *(f for f in earlier if f.id not in seen)]
    remaining = allowance
    for file in ordered:
        if file.kind == FileKind.IMAGE:
            images.append(image_part(file))
            continue
        if remaining <= 50:
            omitted.append(
                {
                    "file_id": str(file.id),
                    "name": file.name,
                    "reason": "Left out: the context window had no room left for it.",
                }
            )
            continue
        build = _table_sources if file.kind == FileKind.TABLE else _document_sources
        new, note = build(file, question, remaining, len(sources) + 1)
        sources += new
        remaining -= sum(count_tokens(s.text) for s in new)
        if note:
            omitted.append(note)
    return AttachmentContext(tuple(sources), tuple(images), tuple(omitted))
