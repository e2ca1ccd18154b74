"""Exports of each assistant, made here to the formats' published shapes (what the
real exports contain, including their awkward parts): ChatGPT trees with hidden
system nodes, regenerated answers, edited questions, code and its execution output,
images, null times; Claude content blocks and attachments; Gemini Takeout activity
(JSON and HTML); the generic JSON. Plus zips, and hostile zips."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC).timestamp()
UNICODE = "Ünïcödé ✈️ 東京 — שלום"


def _node(node_id, parent, children, *, role=None, parts=None, t=None, content=None, **meta):
    message = None
    if role is not None:
        message = {
            "id": node_id,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t,
            "update_time": None,
            "content": content or {"content_type": "text", "parts": parts or [""]},
            "status": "finished_successfully",
            "end_turn": True,
            "weight": 1.0,
            "metadata": meta,
            "recipient": "all",
        }
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def chatgpt_trip(conversation_id="conv-lisbon") -> dict:
    """A conversation with every awkward part of a ChatGPT tree.

    root -> hidden system -> q1 -> (a1-old, a1) ; a1 -> (q2-old -> a2-old, q2) ;
    q2 -> a2-code -> tool-out -> a2 (current) ; plus an image question at the end.
    """
    m = {}
    m["root"] = _node("root", None, ["sys"])
    m["sys"] = _node(
        "sys",
        "root",
        ["q1"],
        role="system",
        parts=[""],
        t=None,
        is_visually_hidden_from_conversation=True,
    )
    m["q1"] = _node(
        "q1",
        "sys",
        ["a1-old", "a1"],
        role="user",
        t=T0,
        parts=["I want to plan a trip to Lisbon in May. What should I see?"],
    )
    m["a1-old"] = _node(
        "a1-old",
        "q1",
        [],
        role="assistant",
        t=T0 + 10,
        model_slug="gpt-4",
        parts=["Lisbon in May is sunny. Visit Belém Tower."],
    )
    m["a1"] = _node(
        "a1",
        "q1",
        ["q2-old", "q2"],
        role="assistant",
        t=T0 + 60,
        model_slug="gpt-4o",
        parts=[
            "Lisbon in May is lovely. See the Alfama district, ride tram 28 and visit "
            "the Belém Tower. Book the Jerónimos Monastery tickets in advance."
        ],
    )
    m["q2-old"] = _node(
        "q2-old",
        "a1",
        ["a2-old"],
        role="user",
        t=T0 + 120,
        parts=["How much are hotels?"],
    )
    m["a2-old"] = _node(
        "a2-old",
        "q2-old",
        [],
        role="assistant",
        t=T0 + 130,
        model_slug="gpt-4o",
        parts=["Hotels cost about 120 EUR a night."],
    )
    m["q2"] = _node(
        "q2",
        "a1",
        ["a2-code"],
        role="user",
        t=T0 + 180,
        parts=[f"Compute a budget for 5 nights at 120 EUR plus 40 EUR food a day. {UNICODE}"],
    )
    m["a2-code"] = _node(
        "a2-code",
        "q2",
        ["tool-out"],
        role="assistant",
        t=None,
        model_slug="gpt-4o",
        content={"content_type": "code", "language": "python", "text": "print(5 * (120 + 40))"},
    )
    m["tool-out"] = _node(
        "tool-out",
        "a2-code",
        ["a2"],
        role="tool",
        t=T0 + 190,
        content={"content_type": "execution_output", "text": "800"},
    )
    m["a2"] = _node(
        "a2",
        "tool-out",
        ["q3"],
        role="assistant",
        t=T0 + 200,
        model_slug="gpt-4o",
        parts=[
            "The trip budget is 800 EUR for five nights in Lisbon. I will remind you to book the flights."
        ],
    )
    m["q3"] = _node(
        "q3",
        "a2",
        ["a3"],
        role="user",
        t=T0 + 300,
        content={
            "content_type": "multimodal_text",
            "parts": [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-abc123",
                    "size_bytes": 48213,
                    "width": 800,
                    "height": 600,
                },
                "Is this the tram 28 stop?",
            ],
        },
    )
    m["a3"] = _node(
        "a3",
        "q3",
        [],
        role="assistant",
        t=T0 + 310,
        model_slug="gpt-4o",
        parts=["Yes, that yellow tram is number 28 at Martim Moniz."],
    )
    return {
        "title": "Trip to Lisbon",
        "create_time": T0,
        "update_time": T0 + 310,
        "mapping": m,
        "moderation_results": [],
        "current_node": "a3",
        "plugin_ids": None,
        "conversation_id": conversation_id,
        "id": conversation_id,
        "default_model_slug": "gpt-4o",
    }


def chatgpt_linear(
    conversation_id: str, title: str, turns: list[tuple[str, str]], start=T0
) -> dict:
    m = {"root": _node("root", None, [])}
    parent = "root"
    for i, (role, text) in enumerate(turns):
        node_id = f"{conversation_id}-{i}"
        m[parent]["children"].append(node_id)
        m[node_id] = _node(node_id, parent, [], role=role, parts=[text], t=start + i * 30)
        parent = node_id
    return {
        "title": title,
        "create_time": start,
        "update_time": start + len(turns) * 30,
        "mapping": m,
        "current_node": parent,
        "conversation_id": conversation_id,
    }


def chatgpt_long(n_turns: int = 600) -> dict:
    turns = [
        (
            "user" if i % 2 == 0 else "assistant",
            f"Turn {i} about sourdough baking, hydration {i % 90}%.",
        )
        for i in range(n_turns)
    ]
    return chatgpt_linear("conv-long", "Sourdough experiments", turns, start=T0 - 86400 * 30)


def chatgpt_broken() -> list:
    no_mapping = {"title": "Broken mapping", "conversation_id": "conv-bad-1", "create_time": T0}
    bad_role = chatgpt_linear("conv-bad-2", "Odd author", [("user", "hi")])
    bad_role["mapping"]["conv-bad-2-0"]["message"]["author"]["role"] = "narrator"
    return [no_mapping, bad_role]


def chatgpt_export(long_turns: int = 600) -> list:
    return [
        chatgpt_trip(),
        chatgpt_linear(
            "conv-tax",
            "Tax return questions",
            [
                ("user", "Which documents do I need for my tax return?"),
                (
                    "assistant",
                    "You need your income statements, receipts for deductions and last year's return.",
                ),
            ],
            start=T0 + 86400,
        ),
        chatgpt_long(long_turns),
        *chatgpt_broken(),
    ]


def claude_export() -> list:
    return [
        {
            "uuid": "c1a0d3e2-0000-4000-8000-000000000001",
            "name": "Garden planning",
            "created_at": "2025-04-02T18:00:00.000000Z",
            "updated_at": "2025-04-02T18:05:00.000000Z",
            "account": {"uuid": "acc-1"},
            "chat_messages": [
                {
                    "uuid": "m-1",
                    "text": "",
                    "content": [{"type": "text", "text": "Which tomatoes grow well on a balcony?"}],
                    "sender": "human",
                    "created_at": "2025-04-02T18:00:00.000000Z",
                    "updated_at": "2025-04-02T18:00:00.000000Z",
                    "attachments": [
                        {
                            "file_name": "balcony.txt",
                            "file_size": 64,
                            "file_type": "text/plain",
                            "extracted_content": "South-facing balcony, 4 m², windy.",
                        }
                    ],
                    "files": [{"file_name": "photo.jpg"}],
                },
                {
                    "uuid": "m-2",
                    "text": "Cherry tomatoes such as Tumbling Tom grow well in pots. You should water them daily.",
                    "content": [
                        {"type": "thinking", "thinking": "The user has a windy balcony."},
                        {
                            "type": "text",
                            "text": "Cherry tomatoes such as Tumbling Tom grow well in pots.",
                        },
                    ],
                    "sender": "assistant",
                    "created_at": "2025-04-02T18:00:20.000000Z",
                    "updated_at": "2025-04-02T18:00:20.000000Z",
                    "attachments": [],
                    "files": [],
                },
                {
                    "uuid": "m-3",
                    "text": "",
                    "content": [
                        {"type": "tool_use", "name": "web_search", "input": {"query": "tomato"}},
                        {
                            "type": "tool_result",
                            "content": [{"type": "text", "text": "Results: 3"}],
                        },
                    ],
                    "sender": "assistant",
                    "created_at": "2025-04-02T18:01:00.000000Z",
                    "attachments": [],
                    "files": [],
                },
            ],
        },
        {"uuid": "c1a0d3e2-0000-4000-8000-000000000002", "name": "Broken", "chat_messages": "oops"},
    ]


def _gemini_record(when: datetime, prompt: str, html: str) -> dict:
    return {
        "header": "Gemini Apps",
        "title": f"Prompted {prompt}",
        "time": when.isoformat().replace("+00:00", "Z"),
        "products": ["Gemini Apps"],
        "activityControls": ["Gemini Apps Activity"],
        "safeHtmlItem": [{"html": html}],
    }


GEMINI_START = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


def gemini_records() -> list:
    s = GEMINI_START
    records = [
        _gemini_record(
            s,
            "best marathon training plan",
            "<p>Run <b>four</b> times a week.</p><ul><li>Long run on Sunday</li><li>Tempo run</li></ul>",
        ),
        _gemini_record(
            s + timedelta(minutes=10),
            "how to avoid knee pain when running",
            "<p>Strengthen your hips &amp; glutes.</p>",
        ),
        # Three hours later: another conversation.
        _gemini_record(
            s + timedelta(hours=3),
            f"translate good morning to Japanese {UNICODE}",
            "<p>おはようございます (ohayō gozaimasu)</p>",
        ),
        {
            "header": "Gemini Apps",
            "title": "Gave feedback: Good response",
            "time": (s + timedelta(hours=3, minutes=1)).isoformat(),
        },
    ]
    return list(reversed(records))  # Takeout lists the newest first


def gemini_html() -> str:
    cells = []
    for record in gemini_records():
        if not record["title"].startswith("Prompted"):
            continue
        when = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        stamp = when.strftime("%b %-d, %Y, %-I:%M:%S\u202f%p UTC")
        prompt = record["title"][len("Prompted ") :]
        cells.append(
            '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
            '<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">Gemini Apps<br></p></div>'
            '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">'
            f"Prompted&nbsp;{prompt}<br>{stamp}<br>{record['safeHtmlItem'][0]['html']}</div>"
            "</div></div>"
        )
    return (
        '<html><head><meta charset="utf-8"><title>My Activity</title></head><body><div class="mdl-grid">'
        + "".join(cells)
        + "</div></body></html>"
    )


def generic_export() -> list:
    return [
        {
            "title": "Recipe ideas",
            "create_time": "2025-06-01T12:00:00Z",
            "turns": [
                {
                    "role": "user",
                    "text": "Give me a quick pasta recipe.",
                    "timestamp": "2025-06-01T12:00:00Z",
                },
                {
                    "role": "assistant",
                    "text": "Cook spaghetti, toss with garlic, olive oil and chili.",
                    "timestamp": 1748779230,
                },
            ],
        },
        {
            "title": "Bad turns",
            "create_time": 1748779230,
            "turns": [{"role": "wizard", "text": "hi"}],
        },
    ]


def zip_of(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data if isinstance(data, bytes) else data.encode())
    return buffer.getvalue()


def chatgpt_zip(conversations: list | None = None) -> bytes:
    return zip_of(
        {
            "conversations.json": json.dumps(
                conversations if conversations is not None else chatgpt_export()
            ),
            "chat.html": "<html>...</html>",
            "user.json": json.dumps({"email": "someone@example.test"}),
            "file-abc123.png": b"\x89PNG fake image bytes",
        }
    )


def zip_bomb(megabytes: int = 300) -> bytes:
    """conversations.json of ``megabytes`` spaces, deflated ~1000 times smaller."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("conversations.json", "w", force_zip64=True) as member,
    ):
        chunk = b" " * 2**20
        for _ in range(megabytes):
            member.write(chunk)
    return buffer.getvalue()
