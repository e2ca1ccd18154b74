// History: search every conversation (imported and live) by meaning, keyword or both,
// see each result in its context, and ask a question answered from the history with
// a streamed, cited answer.
import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { streamEvents } from "../api/stream";
import { useAction } from "../api/query";
import { Badge, ErrorMessage, formatDate, PageHeader } from "../ui";

type Hit = components["schemas"]["HistoryHit"];
type SearchPage = components["schemas"]["HistorySearchOutput"];
interface Excerpt {
  index: number;
  kind: string;
  conversation_id: string;
  conversation_title: string;
  source: string;
  message_id: string | null;
  role: string;
  date: string | null;
  similarity: number | null;
  text: string;
  documents?: { document_id: string; title: string; collection_id: string; link: string }[];
  cited?: boolean;
}
const MODES = ["hybrid", "vector", "keyword"] as const;
const PAGE_SIZE = 10;

/** The snippet with its matched words marked: ranges from the server, no HTML. */
export function MarkedSnippet({ text, ranges }: { text: string; ranges: number[][] }) {
  const parts: JSX.Element[] = [];
  let at = 0;
  [...ranges]
    .sort((a, b) => a[0] - b[0])
    .forEach(([start, end], index) => {
      if (start < at) return;
      parts.push(<span key={`t${index}`}>{text.slice(at, start)}</span>);
      parts.push(<mark key={`m${index}`}>{text.slice(start, end)}</mark>);
      at = end;
    });
  parts.push(<span key="rest">{text.slice(at)}</span>);
  return <>{parts}</>;
}

function Turn({ turn, label }: { turn?: Hit["before"]; label: string }) {
  if (!turn) return null;
  return (
    <p
      className="muted small"
      style={{ margin: "4px 0", overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}
      aria-label={label}
    >
      <strong>{turn.role === "user" ? "You" : "Assistant"}:</strong> {turn.content}
    </p>
  );
}

function Result({ hit }: { hit: Hit }) {
  return (
    <article className="hit" data-testid="history-hit">
      <div className="row-between small">
        <Link to={hit.link} data-testid="history-hit-title">
          <strong>{hit.session_title || "Conversation"}</strong>
        </Link>
        <span className="row">
          <Badge tone="info">{hit.source}</Badge>
          <span className="score">{hit.score.toFixed(4)}</span>
        </span>
      </div>
      <div className="muted small">
        {formatDate(hit.created_at)} · {hit.role}
      </div>
      <Turn turn={hit.before} label="The turn before" />
      <p className="small" style={{ margin: "4px 0", borderLeft: "3px solid var(--accent, #6366f1)", paddingLeft: 8 }}>
        <MarkedSnippet text={hit.snippet} ranges={hit.highlights} />
      </p>
      <Turn turn={hit.after} label="The turn after" />
    </article>
  );
}

function Ask({ source }: { source: string }) {
  const [question, setQuestion] = useState("");
  const [answer, setAnswer] = useState("");
  const [excerpts, setExcerpts] = useState<Excerpt[]>([]);
  const [usage, setUsage] = useState<{ total_tokens: number; cost: string; model: string } | null>(null);
  const ask = useAction(async (event: FormEvent) => {
    event.preventDefault();
    setAnswer("");
    setExcerpts([]);
    setUsage(null);
    let failure: Error | null = null;
    const handlers = {
      excerpts: (data: { excerpts: Excerpt[] }) => setExcerpts(data.excerpts),
      delta: (data: { text: string }) => setAnswer((text) => text + data.text),
      usage: (data: { total_tokens: number; cost: string; model: string }) => setUsage(data),
      done: (data: { answer: string; excerpts: Excerpt[] }) => setExcerpts(data.excerpts),
      error: (data: { message: string }) => {
        failure = new Error(data.message);
      },
    };
    await streamEvents("/api/v1/conversations/ask", { question, source: source || null, stream: true }, (name, data) => {
      const handler = handlers[name as keyof typeof handlers] as ((value: unknown) => void) | undefined;
      handler?.(data);
    });
    if (failure) throw failure;
  });
  return (
    <div className="card" style={{ marginBottom: 20 }}>
      <form className="card-body stack" onSubmit={ask.run} noValidate>
        <div className="row" style={{ alignItems: "flex-end" }}>
          <div className="field grow">
            <label htmlFor="ask-question">Ask your history</label>
            <input
              id="ask-question"
              className="input"
              required
              placeholder="e.g. What did I discuss about travel?"
              value={question}
              onChange={(event) => setQuestion(event.target.value)}
            />
          </div>
          <button type="submit" className="btn btn-primary" disabled={ask.busy || !question.trim()}>
            {ask.busy ? "Answering…" : "Ask"}
          </button>
        </div>
        <ErrorMessage error={ask.error} />
        {answer ? (
          <div className="stack" aria-live="polite">
            <p data-testid="ask-answer" style={{ whiteSpace: "pre-wrap" }}>
              {answer}
            </p>
            {usage ? (
              <p className="muted small">
                {usage.model} · {usage.total_tokens} tokens · ${usage.cost}
              </p>
            ) : null}
          </div>
        ) : null}
        {excerpts.length ? (
          <ol className="small stack" data-testid="ask-excerpts" style={{ paddingLeft: 18 }}>
            {excerpts.map((excerpt) => (
              <li key={excerpt.index} value={excerpt.index}>
                <Link
                  to={
                    excerpt.message_id
                      ? `/chat/${excerpt.conversation_id}?message=${excerpt.message_id}`
                      : `/chat/${excerpt.conversation_id}`
                  }
                >
                  {excerpt.conversation_title || "Conversation"}
                </Link>{" "}
                {excerpt.cited ? <Badge tone="success">cited</Badge> : null}{" "}
                <span className="muted">
                  {excerpt.date ? formatDate(excerpt.date) : excerpt.kind}
                  {excerpt.similarity != null ? ` · similarity ${excerpt.similarity.toFixed(2)}` : ""}
                </span>
                <div
                  className="muted"
                  style={{
                    overflow: "hidden",
                    textOverflow: "ellipsis",
                    display: "-webkit-box",
                    WebkitLineClamp: 2,
                    WebkitBoxOrient: "vertical",
                  }}
                >
                  {excerpt.text}
                </div>
                {excerpt.documents?.length ? (
                  <div className="row" style={{ gap: 6, flexWrap: "wrap" }} data-testid="ask-documents">
                    <span className="muted">Documents cited:</span>
                    {excerpt.documents.map((document) => (
                      <Link key={document.document_id} to={document.link} data-testid="ask-document-link">
                        {document.title}
                      </Link>
                    ))}
                  </div>
                ) : null}
              </li>
            ))}
          </ol>
        ) : null}
      </form>
    </div>
  );
}

export function HistoryPage() {
  const [params] = useSearchParams();
  const linked = params.get("q");
  const [query, setQuery] = useState(linked ?? "");
  const [mode, setMode] = useState<(typeof MODES)[number]>("hybrid");
  const [source, setSource] = useState("");
  const [role, setRole] = useState("");
  const [bookmarked, setBookmarked] = useState(false);
  const [dateFrom, setDateFrom] = useState("");
  const [dateTo, setDateTo] = useState("");
  const [page, setPage] = useState(1);
  const [results, setResults] = useState<SearchPage | null>(null);
  const search = useAction(async (toPage: number) => {
    const body = {
      query,
      mode,
      source: (source || null) as components["schemas"]["HistorySearchInputRequest"]["source"],
      role: (role || null) as components["schemas"]["HistorySearchInputRequest"]["role"],
      bookmarked,
      date_from: dateFrom ? new Date(dateFrom).toISOString() : null,
      date_to: dateTo ? new Date(`${dateTo}T23:59:59`).toISOString() : null,
      page: toPage,
      page_size: PAGE_SIZE,
    };
    setResults(await unwrap(client.POST("/api/v1/conversations/search", { body })));
    setPage(toPage);
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void search.run(1);
  };
  // Arriving with ?q= (a topic on the home page): that search, at once.
  useEffect(() => {
    if (linked) void search.run(1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [linked]);
  return (
    <>
      <PageHeader title="History" description="Everything ever said in your conversations, here and imported: search it, or ask it." />
      <Ask source={source} />
      <div className="card" style={{ marginBottom: 20 }}>
        <form className="card-body stack" onSubmit={submit} noValidate>
          <div className="row" style={{ alignItems: "flex-end", flexWrap: "wrap" }}>
            <div className="field grow">
              <label htmlFor="history-query">Search</label>
              <input
                id="history-query"
                className="input"
                type="search"
                required
                value={query}
                onChange={(event) => setQuery(event.target.value)}
                placeholder="Words or a meaning"
              />
            </div>
            <div className="segmented" role="group" aria-label="Mode">
              {MODES.map((item) => (
                <button key={item} type="button" aria-pressed={mode === item} onClick={() => setMode(item)}>
                  {item}
                </button>
              ))}
            </div>
            <button type="submit" className="btn btn-primary" disabled={search.busy || !query.trim()}>
              {search.busy ? "Searching…" : "Search"}
            </button>
          </div>
          <div className="row" style={{ flexWrap: "wrap" }}>
            <div className="field">
              <label htmlFor="history-source">Source</label>
              <select id="history-source" className="select" value={source} onChange={(event) => setSource(event.target.value)}>
                <option value="">All</option>
                <option value="platform">This platform</option>
                <option value="chatgpt">ChatGPT</option>
                <option value="claude">Claude</option>
                <option value="gemini">Gemini</option>
                <option value="json">JSON</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="history-role">Said by</label>
              <select id="history-role" className="select" value={role} onChange={(event) => setRole(event.target.value)}>
                <option value="">Anyone</option>
                <option value="user">You</option>
                <option value="assistant">Assistant</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="history-from">From</label>
              <input
                id="history-from"
                className="input"
                type="date"
                value={dateFrom}
                onChange={(event) => setDateFrom(event.target.value)}
              />
            </div>
            <div className="field">
              <label htmlFor="history-to">To</label>
              <input id="history-to" className="input" type="date" value={dateTo} onChange={(event) => setDateTo(event.target.value)} />
            </div>
            <label className="check">
              <input type="checkbox" checked={bookmarked} onChange={(event) => setBookmarked(event.target.checked)} />
              Bookmarked only
            </label>
          </div>
          <ErrorMessage error={search.error} />
        </form>
      </div>
      {results ? (
        <section className="stack" aria-live="polite" aria-label="Results">
          <div className="hits">
            {results.results.map((hit) => (
              <Result key={hit.message_id} hit={hit} />
            ))}
            {!results.results.length ? <p className="muted">Nothing found.</p> : null}
          </div>
          <div className="row">
            <button type="button" className="btn btn-sm" disabled={page <= 1 || search.busy} onClick={() => search.run(page - 1)}>
              Previous
            </button>
            <span className="small muted">Page {page}</span>
            <button type="button" className="btn btn-sm" disabled={!results.has_more || search.busy} onClick={() => search.run(page + 1)}>
              Next
            </button>
          </div>
        </section>
      ) : null}
    </>
  );
}
