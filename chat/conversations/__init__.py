"""Conversation intelligence: conversations imported from other assistants (ChatGPT,
Claude, Gemini, a generic JSON), every message searchable (vector, keyword, hybrid),
questions answered from a person's history, and each conversation analysed.

- ``formats/``: reading exports under limits (one parser per source);
- ``importing.py``: the import job (idempotent: keyed on the source's ids);
- ``indexing.py``: each message's vector and full-text entry, in batches;
- ``search.py``: history search; ``ask.py``: answers from the history;
- ``analysis.py``: summary, topics, sentiment, action items, key points;
- ``organize.py``: tags, bookmarks, reactions, ending a conversation.

docs/conversations.md describes the whole; ADRs 0028-0030 the decisions.
"""
