"""Files attached to questions: what the turn puts in front of the model, and how the
answer cites them. Real files, the real extraction sandbox, the real extractive responder
and, for images, the real OpenAI SDK against the local wire-level server."""

import csv
import io
import random
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from chat.models import ChatSession, Message
from files.tests.samples import pdf, png
from knowledge_base.datasets.summary import plain
from knowledge_base.models import DocumentChunk
from tests.factories import make_assistant, upload_files
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def _sales_csv(rows: int) -> tuple[bytes, Decimal]:
    rng = random.Random(20)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order", "region", "amount"])
    total = Decimal(0)
    for n in range(rows):
        amount = Decimal(rng.randint(100, 99999)) / 100
        total += amount
        writer.writerow([n + 1, rng.choice(["North", "South"]), f"{amount:.2f}"])
    return out.getvalue().encode(), total


def _ask(client, assistant, message, attachments, **extra):
    payload = {
        "assistant": str(assistant.id),
        "message": message,
        "attachments": [str(f.id) for f in attachments],
        "stream": False,
        **extra,
    }
    return client.post("/api/v1/chat", payload, format="json")


def test_a_total_over_5000_rows_is_computed_from_every_row_and_cites_the_file(org_a, client_for):
    assistant = make_assistant(org_a)  # extractive, offline; knowledge = the handbook
    data, total = _sales_csv(5000)
    member = org_a.user("member")
    [file] = upload_files(org_a, [("sales.csv", data)], user=member)
    response = _ask(
        client_for(org_a, "member"),
        assistant,
        "What is the total amount over all rows?",
        [file],
    )
    assert response.status_code == 200, response.json()
    answer = response.json()["message"]
    # The exact sum, written without trailing zeros (2,498,876.6).
    assert f"{Decimal(plain(total)):,}" in answer["content"]
    assert "all 5,000 rows" in answer["content"]
    cited = [s for s in answer["sources"] if s["cited"]]
    assert cited and cited[0]["file_id"] == str(file.id)
    assert cited[0]["document_title"] == "sales.csv"
    with schema_context(org_a.slug):
        question = Message.objects.get(pk=answer["reply_to"])
        assert list(question.attachments.all()) == [file]


def test_a_pdf_attachment_is_answered_from_and_never_reaches_the_organizations_search(
    org_a, client_for
):
    assistant = make_assistant(org_a)
    text = "The Zephyr valve must be torqued to 42 newton metres before the pressure test."
    [file] = upload_files(org_a, [("manual.pdf", pdf(text))], user=org_a.user("member"))
    with schema_context(org_a.slug):
        chunks_before = DocumentChunk.objects.count()
    client = client_for(org_a, "member")
    answer = _ask(client, assistant, "What torque for the Zephyr valve?", [file]).json()["message"]
    assert "42 newton metres" in answer["content"]
    assert any(s["cited"] and s["file_id"] == str(file.id) for s in answer["sources"])
    with schema_context(org_a.slug):
        assert DocumentChunk.objects.count() == chunks_before
    collections = [str(c.id) for c in assistant.collections.all()]
    search = client.post(
        "/api/v1/search",
        {"query": "Zephyr valve torque", "collections": collections},
        format="json",
    )
    assert search.status_code == 200
    assert "Zephyr" not in search.content.decode()


def test_later_questions_of_the_session_still_see_the_attachment(org_a, client_for):
    assistant = make_assistant(org_a, with_knowledge=False)
    [file] = upload_files(
        org_a,
        [("notes.txt", b"The launch is planned for the ninth of March.")],
        user=org_a.user("member"),
    )
    client = client_for(org_a, "member")
    first = _ask(client, assistant, "Summarize the notes", [file]).json()
    second = _ask(
        client, assistant, "When is the launch planned?", [], session=first["session_id"]
    ).json()["message"]
    assert "ninth of March" in second["content"]


def test_a_large_file_is_chunked_ranked_and_what_was_left_out_is_said(org_a, client_for, settings):
    settings.CHAT_ATTACHMENT_WHOLE_TOKENS = 200
    assistant = make_assistant(org_a, with_knowledge=False)
    filler = [
        f"Chapter {n} discusses routine maintenance of pumps and filters." for n in range(300)
    ]
    filler[211] = "The emergency shutdown code is ORCHID-7 and only supervisors may use it."
    [file] = upload_files(
        org_a, [("handbook.txt", "\n\n".join(filler).encode())], user=org_a.user("member")
    )
    answer = _ask(
        client_for(org_a, "member"), assistant, "What is the emergency shutdown code?", [file]
    ).json()["message"]
    assert "ORCHID-7" in answer["content"]
    [omitted] = answer["context_omitted"]
    assert omitted["file_id"] == str(file.id) and "passages left out" in omitted["reason"]
    assert all(s["section"].startswith("passage ") for s in answer["sources"])


def test_an_image_for_a_text_only_model_is_refused_before_anything_is_stored(org_a, client_for):
    assistant = make_assistant(org_a, with_knowledge=False)  # the extractive responder
    [image] = upload_files(org_a, [("photo.png", png())], user=org_a.user("member"))
    with schema_context(org_a.slug):
        sessions, messages = ChatSession.objects.count(), Message.objects.count()
    response = _ask(client_for(org_a, "member"), assistant, "What is in the photo?", [image])
    error = assert_error(response, 400)
    assert "cannot read images" in error["fields"]["attachments"][0]
    with schema_context(org_a.slug):
        assert (ChatSession.objects.count(), Message.objects.count()) == (sessions, messages)


def test_an_image_goes_to_a_vision_model_as_an_image_part(
    org_a, client_for, openai_assistant, provider_server
):
    [image] = upload_files(org_a, [("photo.png", png(64, 48))], user=org_a.user("member"))
    answer = _ask(client_for(org_a, "member"), openai_assistant, "Describe it", [image]).json()
    assert "I see 1 image(s): image/png" in answer["message"]["content"]
    last = provider_server.last.body["messages"][-1]
    assert last["content"][0] == {"type": "text", "text": "Describe it"}
    assert last["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_large_images_are_scaled_down_before_they_are_sent(
    org_a, client_for, openai_assistant, provider_server, settings
):
    from assistants.tests.providers.fake_server import request_images

    settings.FILES_IMAGE_MAX_SIDE = 32
    [image] = upload_files(org_a, [("wide.png", png(200, 100))], user=org_a.user("member"))
    _ask(client_for(org_a, "member"), openai_assistant, "Describe it", [image])
    [(media_type, data)] = request_images("openai", provider_server.last.body)
    from PIL import Image

    assert Image.open(io.BytesIO(data)).size == (32, 16)
    assert media_type == "image/jpeg"


def test_files_of_others_cannot_be_attached(org_a, org_b, client_for):
    assistant = make_assistant(org_a, with_knowledge=False)
    [admins] = upload_files(org_a, [("admin.txt", b"admin only")])
    [betas] = upload_files(org_b, [("beta.txt", b"beta only")])
    member = client_for(org_a, "member")
    for file in (admins, betas):
        error = assert_error(_ask(member, assistant, "Read it", [file]), 400)
        assert "Unknown file" in error["fields"]["attachments"][0]


def test_attachments_are_listed_with_the_messages_and_in_the_export(org_a, client_for):
    assistant = make_assistant(org_a, with_knowledge=False)
    file, extra = upload_files(
        org_a,
        [("notes.txt", b"Budget is 300."), ("extra.txt", b"Spare")],
        user=org_a.user("member"),
    )
    client = client_for(org_a, "member")
    session_id = _ask(client, assistant, "What is the budget?", [file, extra]).json()["session_id"]
    messages = client.get(f"/api/v1/chat/sessions/{session_id}/messages").json()["results"]
    # In the order they were attached.
    assert [a["name"] for a in messages[0]["attachments"]] == ["notes.txt", "extra.txt"]
    export = client.get(f"/api/v1/chat/sessions/{session_id}/export?type=markdown")
    assert "Attached: notes.txt, extra.txt" in export.content.decode()
    exported = client.get(f"/api/v1/chat/sessions/{session_id}/export?type=json").json()
    [question] = [m for m in exported["messages"] if m["role"] == "user"]
    assert question["attachments"] == [
        {"id": str(file.id), "name": "notes.txt", "content_type": "text/plain", "size": 14},
        {"id": str(extra.id), "name": "extra.txt", "content_type": "text/plain", "size": 5},
    ]
    [answer] = [m for m in exported["messages"] if m["role"] == "assistant"]
    assert answer["sources"][0]["file_id"] == str(file.id)


def test_an_xlsx_question_is_answered_from_every_row_of_its_first_sheet(org_a, client_for):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Stock"
    sheet.append(["item", "warehouse", "quantity"])
    for n in range(1, 2001):
        sheet.append([f"part {n}", "Leeds" if n % 3 else "York", n])
    out = io.BytesIO()
    workbook.save(out)
    assistant = make_assistant(org_a, with_knowledge=False)
    [file] = upload_files(org_a, [("stock.xlsx", out.getvalue())], user=org_a.user("member"))
    client = client_for(org_a, "member")
    stored = client.get(f"/api/v1/files/{file.id}").json()
    assert stored["kind"] == "table" and stored["data_summary"]["sheet"] == "Stock"
    assert stored["data_summary"]["row_count"] == 2000
    answer = _ask(client, assistant, "What is the total quantity?", [file]).json()["message"]
    assert f"{sum(range(1, 2001)):,}" in answer["content"]  # 2,001,000: every row
    assert "all 2,000 rows" in answer["content"]
    york = sum(n for n in range(1, 2001) if n % 3 == 0)
    answer = _ask(client, assistant, "What is the total quantity in York?", [file]).json()
    assert f"{york:,}" in answer["message"]["content"]
