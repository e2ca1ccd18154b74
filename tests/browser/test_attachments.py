"""Attach and ask in the dashboard: a 5,000-row CSV answered from every row, a PDF
answered from and kept out of knowledge search, an image refused by a text-only model."""

import csv
import io
import random
from decimal import Decimal

from playwright.sync_api import expect

from files.tests.samples import pdf, png
from knowledge_base.datasets.summary import plain
from tests.browser.conftest import login, snap


def _sales() -> tuple[bytes, Decimal]:
    rng = random.Random(5000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order", "region", "amount"])
    total = Decimal(0)
    for n in range(5000):
        amount = Decimal(rng.randint(100, 99999)) / 100
        total += amount
        writer.writerow([n + 1, rng.choice(["North", "South", "East"]), f"{amount:.2f}"])
    return out.getvalue().encode(), total


def _attach(page, name: str, mime: str, data: bytes) -> None:
    page.get_by_test_id("attach-input").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def _ask(page, question: str):
    page.get_by_test_id("chat-input").fill(question)
    page.get_by_role("button", name="Send").click()
    answer = page.get_by_test_id("chat-answer").last
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=60_000)
    return answer


def test_a_csv_question_over_every_row_is_answered_right_and_cites_the_file(page, globex):
    data, total = _sales()
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    expect(page.get_by_role("heading", name="Ask Help Center")).to_be_visible()
    _attach(page, "sales.csv", "text/csv", data)
    chip = page.get_by_test_id("attach-chip")
    expect(chip).to_contain_text("sales.csv")
    # Uploaded, then read by the worker (its data summary over every row).
    expect(chip).to_have_attribute("data-status", "processed", timeout=60_000)
    snap(page, "attach-csv-ready")
    answer = _ask(page, "What is the total amount over all rows?")
    expect(answer).to_contain_text(f"{Decimal(plain(total)):,}")
    expect(answer).to_contain_text("all 5,000 rows")
    expect(page.get_by_test_id("message-attachments")).to_contain_text("sales.csv")
    expect(page.get_by_test_id("attach-tray")).to_have_count(0)  # sent: the tray is empty
    page.get_by_role("button", name="[1] sales.csv").click()
    expect(page.get_by_test_id("source-document")).to_contain_text("sales.csv")
    expect(page.get_by_test_id("source-panel")).to_contain_text("attached file")
    snap(page, "attach-csv-answer")


def test_a_pdf_is_answered_from_and_stays_out_of_knowledge_search(page, globex):
    text = "The Quokka gateway restarts itself every night at 03:15 local time."
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    _attach(page, "gateway.pdf", "application/pdf", pdf(text))
    expect(page.get_by_test_id("attach-chip")).to_have_attribute(
        "data-status", "processed", timeout=60_000
    )
    answer = _ask(page, "When does the Quokka gateway restart?")
    expect(answer).to_contain_text("03:15")
    # The organization's search (what assistants retrieve from) never sees it.
    found = page.evaluate(
        """async () => {
          const collections = (await (await fetch('/api/v1/collections')).json()).results.map(c => c.id);
          const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken='))?.split('=')[1] ?? '';
          const response = await fetch('/api/v1/search', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
            body: JSON.stringify({query: 'Quokka gateway restart', collections})});
          return await response.text();
        }"""
    )
    assert "Quokka" not in found


def test_an_image_for_a_text_only_model_is_refused_with_a_clear_message(page, globex):
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    _attach(page, "diagram.png", "image/png", png(120, 80))
    expect(page.get_by_test_id("attach-chip")).to_have_attribute(
        "data-status", "processed", timeout=60_000
    )
    page.watch.expect_refusal(400)
    page.get_by_test_id("chat-input").fill("What does the diagram show?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-error").last).to_contain_text("cannot read images")
    # The refused question's image goes back into the tray, so it can be removed.
    chip = page.get_by_test_id("attach-chip")
    expect(chip).to_contain_text("diagram.png")
    expect(page.get_by_test_id("chat-input")).to_have_value("What does the diagram show?")
    snap(page, "attach-image-refused")
    page.get_by_role("button", name="Remove diagram.png").click()
    expect(chip).to_have_count(0)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-answer").last).not_to_have_attribute(
        "aria-busy", "true", timeout=60_000
    )
    expect(page.get_by_test_id("message-attachments")).to_have_count(0)


# Files handed to the page as the browser hands them to a drop or a paste.
_DISPATCH = """([kind, files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, text] of files) transfer.items.add(new File([text], name, {type}));
  if (kind === 'drop') {
    const target = document.querySelector('form.composer');
    for (const type of ['dragenter', 'dragover', 'drop'])
      target.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  } else {
    document.querySelector('[data-testid=chat-input]').dispatchEvent(
      new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true}));
  }
}"""


def test_files_dropped_several_at_once_and_pasted_are_attached_and_answered_from(page, globex):
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    expect(page.get_by_role("heading", name="Ask Help Center")).to_be_visible()
    page.evaluate(
        _DISPATCH,
        [
            "drop",
            [
                ["rota.txt", "text/plain", "The night shift starts at 22:00 on weekdays."],
                ["rooms.csv", "text/csv", "room,seats\nAtlas,12\nBoreal,8\nCirrus,20\n"],
            ],
        ],
    )
    page.evaluate(
        _DISPATCH,
        [
            "paste",
            [["badge.md", "text/markdown", "# Badges\n\nLost badges are replaced at desk B4."]],
        ],
    )
    chips = page.get_by_test_id("attach-chip")
    expect(chips).to_have_count(3)
    for n in range(3):
        expect(chips.nth(n)).to_have_attribute("data-status", "processed", timeout=60_000)
    snap(page, "attach-three-ready")
    expect(chips.first).to_contain_text("44 B")  # its size, not "1 KB"
    answer = _ask(page, "What is the total seats?")
    expect(answer).to_contain_text("40")
    snap(page, "attach-three-answer")
    expect(page.get_by_test_id("message-attachments").last).to_contain_text("badge.md")
    expect(page.get_by_test_id("message-attachments").last).to_contain_text("rota.txt")
    answer = _ask(page, "Where are lost badges replaced?")
    expect(answer).to_contain_text("desk B4")  # an earlier question's file, still seen


def test_a_file_can_be_removed_before_sending(page, globex):
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    _attach(page, "draft.txt", "text/plain", b"Not meant to be sent.")
    expect(page.get_by_test_id("attach-chip")).to_have_attribute(
        "data-status", "processed", timeout=60_000
    )
    page.get_by_role("button", name="Remove draft.txt").click()
    expect(page.get_by_test_id("attach-chip")).to_have_count(0)


def test_a_large_file_is_answered_from_its_relevant_passages_and_says_what_was_left_out(
    page, globex
):
    lines = [f"Chapter {n} covers routine care of pumps, filters and hoses." for n in range(900)]
    lines[611] = "The emergency shutdown code is ORCHID-7; only supervisors may use it."
    login(page, globex, "member")
    page.goto(f"{globex.url}/chat")
    _attach(page, "handbook.txt", "text/plain", "\n\n".join(lines).encode())
    expect(page.get_by_test_id("attach-chip")).to_have_attribute(
        "data-status", "processed", timeout=60_000
    )
    answer = _ask(page, "What is the emergency shutdown code?")
    expect(answer).to_contain_text("ORCHID-7")
    # Not silently cut: the answer says how much of the file it did not read.
    note = page.get_by_test_id("context-omitted")
    expect(note).to_contain_text("handbook.txt")
    expect(note).to_contain_text("passages left out")
    snap(page, "attach-large-file")


def test_an_admin_sets_how_long_attachments_are_kept(page, globex):
    login(page, globex, "admin")
    page.goto(f"{globex.url}/billing")
    field = page.get_by_label("Keep attachments for (days)")
    expect(field).to_have_value("90")  # the default
    page.watch.expect_refusal(400)
    field.fill("-5")
    page.get_by_role("button", name="Save").click()
    card = page.get_by_role("region", name="Chat attachments")
    expect(card).to_contain_text("greater than or equal to 0")
    field.fill("30")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("attachment-retention-saved")).to_contain_text("kept 30 days")
    snap(page, "attach-retention")
    page.reload()
    expect(page.get_by_label("Keep attachments for (days)")).to_have_value("30")
