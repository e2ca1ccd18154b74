"""History search's ranking (chat/conversations/search.py, ADR 0113): the vector half
against an exact scan, in both of its branches (an exact sort when the searcher's
entries are few, the HNSW graph otherwise), visibility inside the graph's walk, and both
halves in one statement."""

from datetime import UTC, datetime

import numpy as np
import pytest
from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.db.models import Value
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from chat.conversations import indexing, search
from chat.models import ChatSession, Message, MessageSearchEntry
from core.api.authorization import caller_resolve
from tests.factories import make_assistant

DIMENSIONS = 384


def caller(org, role):
    return caller_resolve(organization=org.organization, user=org.user(role), api_key=None)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


class Conversations:
    """Sessions whose messages' entries carry vectors chosen by the test."""

    def __init__(self, org):
        self.org = org
        self.assistant = make_assistant(org, with_knowledge=False)
        self.model_key = indexing.model_key(indexing.embedding_model())
        self.vectors: dict[str, np.ndarray] = {}

    def session(self, role: str, vectors, *, shared: bool = False, words: str = "") -> ChatSession:
        session = ChatSession.objects.create(
            assistant=self.assistant,
            created_by=self.org.user(role),
            title=f"{role}'s notes",
            is_shared=shared,
        )
        for number, vector in enumerate(vectors):
            content = f"{words} note {number}".strip()
            message = Message.objects.create(
                session=session, role="user", content=content, search_pending=False
            )
            MessageSearchEntry.objects.create(
                message=message,
                session=session,
                role="user",
                created_at=message.created_at,
                embedding=[float(x) for x in vector],
                embedding_dimensions=DIMENSIONS,
                embedding_model=self.model_key,
                search_vector=SearchVector(Value(content), config=indexing.TEXT_SEARCH_CONFIG),
            )
            self.vectors[str(message.pk)] = np.asarray(vector)
        return session

    def exact(self, query: np.ndarray, sessions: list[ChatSession], k: int) -> list[str]:
        ids = {
            str(pk)
            for pk in Message.objects.filter(session__in=sessions).values_list("id", flat=True)
        }
        ranked = sorted(ids, key=lambda mid: -float(self.vectors[mid] @ query))
        return ranked[:k]

    def vector_ids(self, who: str, query: np.ndarray, limit: int = 10, **fields) -> list[str]:
        filters = search.filters_sql(
            caller(self.org, who), search.HistoryQuery(query="q", **fields)
        )
        hits, _ = search.candidates(
            filters=filters,
            limit=limit,
            embedding=[float(x) for x in query],
            dimensions=DIMENSIONS,
            model_key=self.model_key,
        )
        return [h.message_id for h in hits]


@pytest.fixture
def conversations(org_a):
    with schema_context(org_a.slug):
        yield Conversations(org_a)


def clustered(rng, centre: np.ndarray, count: int, spread: float) -> list[np.ndarray]:
    return [unit(centre + rng.normal(0, spread, DIMENSIONS)) for _ in range(count)]


@pytest.mark.django_db
class TestVectorHalf:
    def test_few_entries_are_ranked_exactly(self, conversations):
        # given: the member's 60 messages, and the viewer's 60 nearer the question
        rng = np.random.default_rng(7)
        query = unit(rng.normal(size=DIMENSIONS))
        mine = conversations.session("member", clustered(rng, query, 60, 0.08))
        conversations.session("viewer", clustered(rng, query, 60, 0.02))
        # when / then: the member's 10 nearest, in order, and none of the viewer's
        assert conversations.vector_ids("member", query) == conversations.exact(query, [mine], 10)

    def test_the_graph_fills_a_page_with_visible_messages_only(self, conversations, monkeypatch):
        """With the graph (as for a large organization), the nearest messages are
        someone else's: the walk goes on past them until the page holds the searcher's
        own, and a colleague's shared conversation counts as visible."""
        monkeypatch.setattr(search, "EXACT_SCAN_BELOW", 1)
        rng = np.random.default_rng(11)
        query = unit(rng.normal(size=DIMENSIONS))
        mine = conversations.session("member", clustered(rng, query, 40, 0.08))
        theirs = conversations.session("viewer", clustered(rng, query, 150, 0.02))
        shared = conversations.session("admin", clustered(rng, query, 5, 0.08), shared=True)

        found = conversations.vector_ids("member", query)

        visible = set(conversations.exact(query, [mine, shared], 1000))
        assert len(found) == 10 and set(found) <= visible
        assert not set(found) & set(conversations.exact(query, [theirs], 1000))
        # Approximate, but on a graph this small it finds (nearly) the exact ten.
        assert len(set(found) & set(conversations.exact(query, [mine, shared], 10))) >= 8
        # An admin searches the whole organization: the viewer's nearer messages first.
        assert set(conversations.vector_ids("admin", query)) <= set(
            conversations.exact(query, [theirs], 150)
        )

    def test_the_branches_agree_on_a_small_set(self, conversations, monkeypatch):
        rng = np.random.default_rng(3)
        centres = [unit(rng.normal(size=DIMENSIONS)) for _ in range(4)]
        for centre in centres:
            conversations.session("member", clustered(rng, centre, 15, 0.05))
        exact = conversations.vector_ids("member", centres[0], limit=5)
        monkeypatch.setattr(search, "EXACT_SCAN_BELOW", 1)
        graph = conversations.vector_ids("member", centres[0], limit=5)
        assert graph == exact

    def test_a_date_filter_leaving_few_messages_ranks_them_exactly(
        self, conversations, monkeypatch
    ):
        """The exact-or-graph count applies the dates: 8 old messages among 60 are
        fewer than the threshold, so they are ranked exactly, all of them."""
        monkeypatch.setattr(search, "EXACT_SCAN_BELOW", 20)
        rng = np.random.default_rng(13)
        query = unit(rng.normal(size=DIMENSIONS))
        old = conversations.session("member", clustered(rng, query, 8, 0.08))
        MessageSearchEntry.objects.filter(session=old).update(
            created_at=datetime(2020, 6, 1, tzinfo=UTC)
        )
        recent = conversations.session("member", clustered(rng, query, 52, 0.02))

        found = conversations.vector_ids(
            "member", query, date_to=datetime(2020, 12, 31, tzinfo=UTC)
        )

        assert found == conversations.exact(query, [old], 10)
        assert len(found) == 8 and recent.pk


@pytest.mark.django_db
def test_a_hybrid_search_reads_the_index_in_one_statement(conversations):
    rng = np.random.default_rng(5)
    conversations.session(
        "member", clustered(rng, unit(rng.normal(size=DIMENSIONS)), 11, 0.1), words="kayak refund"
    )
    org = conversations.org
    with CaptureQueriesContext(connection) as queries:
        hits = search.ranked(
            caller=caller(org, "member"),
            query=search.HistoryQuery(query="kayak refund", mode="hybrid"),
            organization=org.organization,
            limit=11,
        )
    assert len(hits) == 11 and all(h.keyword_rank and h.vector_rank for h in hits)
    reading = [q["sql"] for q in queries.captured_queries if "chat_messagesearchentry" in q["sql"]]
    assert len(reading) == 1
