// Chat: sessions on the left, the conversation streaming token by token, sources on
// the right when a citation is opened.
import { type FormEvent, type KeyboardEvent, Fragment, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { SuggestedQuestions } from "../components/SuggestedQuestions";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, client, messageOf, unwrap } from "../api/client";
import { config } from "../config";
import { streamTurn, type StreamHandlers } from "../api/stream";
import type { Assistant, Chunk, Message, Session, Source } from "../api/types";
import { Icon } from "../layout/icons";
import { AttachButton, AttachmentTray, FileSourcePanel, MessageAttachments, OmittedNote, useAttachments } from "./chat-attachments";
import { useMe } from "../session";
import { ErrorMessage, formatCost, formatNumber, Spinner, useAsync } from "../ui";
import { CitedPassage } from "../ui/citedPassage";
import { CopyButton, Markdown } from "../ui/markdown";
import { ConversationTools, SourceFilter } from "../conversations/AnalysisPanel";
import { TemplatePicker } from "../components/TemplatePicker";

// ---------------------------------------------------------------- sessions sidebar

function SessionItem({ session, active, onChanged, mine }: { session: Session; active: boolean; onChanged: () => void; mine: boolean }) {
  const [renaming, setRenaming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const patch = async (body: { title?: string; is_archived?: boolean }) => {
    setError(null);
    try {
      await unwrap(client.PATCH("/api/v1/chat/sessions/{session_id}", { params: { path: { session_id: session.id } }, body }));
      setRenaming(false);
      onChanged();
    } catch (cause) {
      setError(cause);
    }
  };
  const title = session.title || "New conversation";
  return (
    <li data-testid="chat-session">
      <div className={`session-item ${active ? "active" : ""}`}>
        {renaming ? (
          <form
            className="row grow"
            style={{ padding: 6 }}
            onSubmit={(event: FormEvent<HTMLFormElement>) => {
              event.preventDefault();
              void patch({ title: String(new FormData(event.currentTarget).get("title") ?? "") });
            }}
          >
            <label className="sr-only" htmlFor={`rename-${session.id}`}>
              New title
            </label>
            <input id={`rename-${session.id}`} name="title" className="input grow" defaultValue={title} autoFocus onKeyDown={(event) => event.key === "Escape" && setRenaming(false)} />
            <button className="btn btn-sm btn-primary" type="submit">
              Save
            </button>
          </form>
        ) : (
          <>
            <Link className="session-link" to={`/chat/${session.id}`} aria-current={active ? "page" : undefined}>
              <span className="session-title">{title}</span>
              <span className="session-meta">
                {!mine ? <span className="badge" data-testid="session-owner">{session.owner ? session.owner.name || session.owner.email : "A program"} · read-only</span> : null}
                {!mine ? " " : ""}
                {session.channel === "slack" || session.channel === "teams" ? `${session.channel === "slack" ? "Slack" : "Teams"} (read-only) · ` : ""}
                {session.assistant_name} · {session.message_count ?? 0} messages
              </span>
            </Link>
            {mine ? <div className="session-actions">
              <button type="button" className="btn btn-ghost btn-icon btn-sm" aria-label={`Rename ${title}`} title="Rename" onClick={() => setRenaming(true)}>
                <Icon name="edit" />
              </button>
              <button
                type="button"
                className="btn btn-ghost btn-icon btn-sm"
                aria-label={`${session.is_archived ? "Unarchive" : "Archive"} ${title}`}
                title={session.is_archived ? "Unarchive" : "Archive"}
                onClick={() => void patch({ is_archived: !session.is_archived })}
              >
                <Icon name={session.is_archived ? "unarchive" : "archive"} />
              </button>
            </div> : null}
          </>
        )}
      </div>
      {error ? (
        <div style={{ padding: "0 6px 6px" }}>
          <ErrorMessage error={error} />
        </div>
      ) : null}
    </li>
  );
}

// ---------------------------------------------------------------- refusals

const MAX_CHARS = config.chatMaxMessageChars;
const PAGE_SIZE = 100;

function isExpired(error: unknown) {
  return error instanceof ApiError && (error.status === 401 || error.code === "not_authenticated");
}

/** Why the server refused, in words: the field errors when it named fields. */
export function refusalText(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = Object.values(error.fields ?? {}).flat();
    if (fields.length) return fields.join(" ");
    if (error.status === 429) return error.message || "Too many requests: wait a moment and send again.";
  }
  return messageOf(error);
}

/** The draft of each conversation survives reloads, refusals and logging in again. */
function useDraft(key: string): [string, (value: string | ((previous: string) => string)) => void] {
  const storageKey = `chat-draft:${key}`;
  const [draft, setDraftState] = useState(() => sessionStorage.getItem(storageKey) ?? "");
  const keyRef = useRef(storageKey);
  useEffect(() => {
    keyRef.current = storageKey;
    setDraftState(sessionStorage.getItem(storageKey) ?? "");
  }, [storageKey]);
  const setDraft = useCallback((value: string | ((previous: string) => string)) => {
    setDraftState((previous) => {
      const next = typeof value === "function" ? value(previous) : value;
      if (next) sessionStorage.setItem(keyRef.current, next);
      else sessionStorage.removeItem(keyRef.current);
      return next;
    });
  }, []);
  return [draft, setDraft];
}

function Refusal({ error }: { error: unknown }) {
  if (!error) return null;
  if (isExpired(error)) {
    const next = `${window.location.pathname}${window.location.search}`;
    return (
      <div className="alert alert-error" role="alert" data-testid="chat-error">
        Your session has expired. Your message is kept here.{" "}
        <a className="btn btn-sm" href={`/login?next=${encodeURIComponent(next)}`} data-testid="login-again">
          Log in again
        </a>
      </div>
    );
  }
  return (
    <div className="alert alert-error" role="alert" data-testid="chat-error">
      {refusalText(error)}
    </div>
  );
}

// ---------------------------------------------------------------- messages

interface ViewMessage extends Partial<Message> {
  id: string;
  role: Message["role"];
  content: string;
  streaming?: boolean;
  streamError?: string;
}

function AnswerText({ text, sources, onCite }: { text: string; sources: Source[]; onCite: (source: Source) => void }) {
  const citations = sources.map((source) => ({ index: source.index, label: `Source ${source.index}: ${source.document_title}${source.page ? `, page ${source.page}` : ""}` }));
  return (
    <Markdown
      text={text}
      citations={citations}
      onCite={(index) => {
        const source = sources.find((item) => item.index === index);
        if (source) onCite(source);
      }}
    />
  );
}

function Feedback({ message, onChanged }: { message: ViewMessage; onChanged: (rating: number | null) => void }) {
  const [error, setError] = useState<unknown>(null);
  const rating = (message.feedback as { rating?: number | null } | null | undefined)?.rating ?? null;
  const send = async (value: 1 | -1) => {
    const next = rating === value ? null : value;
    setError(null);
    try {
      await unwrap(client.POST("/api/v1/chat/messages/{message_id}/feedback", { params: { path: { message_id: message.id } }, body: { rating: next } }));
      onChanged(next);
    } catch (cause) {
      setError(cause);
    }
  };
  return (
    <>
      <button type="button" className={`btn btn-ghost btn-sm ${rating === 1 ? "active" : ""}`} aria-pressed={rating === 1} aria-label="Good answer" onClick={() => void send(1)}>
        <Icon name="up" />
      </button>
      <button type="button" className={`btn btn-ghost btn-sm ${rating === -1 ? "active" : ""}`} aria-pressed={rating === -1} aria-label="Bad answer" onClick={() => void send(-1)}>
        <Icon name="down" />
      </button>
      {error ? <ErrorMessage error={error} /> : null}
    </>
  );
}

// ---------------------------------------------------------------- source panel

function SourcePanel({ source, assistant, answer, onClose }: { source: Source; assistant?: Assistant; answer?: string; onClose: () => void }) {
  // The exact passage the citation points at, by its chunk id.
  // A reprocessed document has new chunks: the old id is then gone (404).
  const chunk = useAsync<Chunk | null>(
    () =>
      unwrap(client.GET("/api/v1/chunks/{chunk_id}", { params: { path: { chunk_id: String(source.chunk_id) } } })).catch(
        (error: unknown) => {
          if (error instanceof ApiError && error.status === 404) return null;
          throw error;
        },
      ),
    [source.chunk_id],
  );
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => closeRef.current?.focus(), [source.chunk_id]);
  return (
    <aside className="source-panel" aria-label="Source" data-testid="source-panel">
      <div className="chat-head">
        <h2>Source [{source.index}]</h2>
        <button ref={closeRef} type="button" className="btn btn-ghost btn-sm" onClick={onClose}>
          Close
        </button>
      </div>
      <div className="source-panel-body">
        <div>
          <div className="label" data-testid="source-document">
            {source.document_title}
          </div>
          <div className="muted small">
            {source.page ? <span data-testid="source-page">Page {source.page}</span> : "No page number"}
            {source.section ? ` · ${source.section}` : ""}
          </div>
          <div className="small" style={{ marginTop: 4 }}>
            Relevance <span className="score">{source.score.toFixed(3)}</span>
            {source.cited ? <span className="badge badge-accent" style={{ marginLeft: 6 }}>cited</span> : null}
          </div>
        </div>
        {chunk.loading ? (
          <Spinner label="Loading the passage" />
        ) : chunk.error ? (
          <ErrorMessage error={chunk.error} />
        ) : chunk.data ? (
          <div className="chunk-text" data-testid="source-chunk">
            <CitedPassage text={chunk.data.text} answer={answer} index={source.index} />
          </div>
        ) : (
          <p className="muted small">The passage's text could not be found again (the document may have been reprocessed).</p>
        )}
        <Link className="btn btn-sm" to={assistant?.collections?.length ? `/knowledge/${chunk.data?.collection_id ?? assistant.collections[0]}` : "/knowledge"}>
          Open in Knowledge
        </Link>
      </div>
    </aside>
  );
}

// ---------------------------------------------------------------- the page

function groupAnswers(messages: ViewMessage[]) {
  // An answer can be regenerated: keep every version, show the latest by default.
  const answers = new Map<string, ViewMessage[]>();
  const turns: { question: ViewMessage; answers: ViewMessage[] }[] = [];
  for (const message of messages) {
    if (message.role === "assistant" && message.reply_to) {
      const list = answers.get(message.reply_to) ?? [];
      list.push(message);
      answers.set(message.reply_to, list);
    }
  }
  for (const message of messages) {
    if (message.role === "user") turns.push({ question: message, answers: answers.get(message.id) ?? [] });
  }
  return turns;
}

export function ChatPage() {
  const { sessionId } = useParams();
  const navigate = useNavigate();
  const me = useMe();
  const [search, setSearch] = useState("");
  const [archived, setArchived] = useState(false);
  const [owner, setOwner] = useState<"me" | "everyone">("me");
  const [source, setSource] = useState("");
  const [sessionsOpen, setSessionsOpen] = useState(false);
  const [assistantId, setAssistantId] = useState("");
  const [messages, setMessages] = useState<ViewMessage[]>([]);
  const [loadingMessages, setLoadingMessages] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  const [openSource, setOpenSource] = useState<{ source: Source; query: string; answer?: string } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [draft, setDraft] = useDraft(sessionId ?? "new");
  // The template version the draft was written from (the "/" picker): sent with it.
  const [promptVersion, setPromptVersion] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const sessionExpired = useRef(false);
  const skipLoad = useRef<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const attach = useAttachments();

  const assistants = useAsync(async () => (await unwrap(client.GET("/api/v1/assistants", { params: { query: { page_size: 100 } } }))).results, []);
  const [query, setQuery] = useState("");
  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search), 250);
    return () => window.clearTimeout(timer);
  }, [search]);
  const sessions = useAsync(
    async () => unwrap(client.GET("/api/v1/chat/sessions", { params: { query: { search: query || undefined, archived, owner, page_size: 100, source: (source || undefined) as "platform" | undefined } } })),
    [query, archived, source, owner],
  );
  const current = useAsync<Session | null>(
    async () => (sessionId ? unwrap(client.GET("/api/v1/chat/sessions/{session_id}", { params: { path: { session_id: sessionId } } })) : null),
    [sessionId],
  );

  const activeAssistants = useMemo(() => (assistants.data ?? []).filter((item) => item.is_active !== false), [assistants.data]);
  useEffect(() => {
    if (current.data) setAssistantId(current.data.assistant);
    else if (!sessionId && !assistantId && activeAssistants.length) setAssistantId(activeAssistants[0].id);
  }, [current.data, sessionId, activeAssistants, assistantId]);
  const assistant = assistants.data?.find((item) => item.id === assistantId);

  // Newest first: page 1 is the latest 100 messages; older pages load on demand. New
  // messages shift the pages, so a later page may repeat a few (deduplicated by id).
  const [olderPage, setOlderPage] = useState<number | null>(null);
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const [loadingOlder, setLoadingOlder] = useState(false);
  const fetchPage = (id: string, page: number) =>
    unwrap(client.GET("/api/v1/chat/sessions/{session_id}/messages", { params: { path: { session_id: id }, query: { page_size: PAGE_SIZE, page, order: "newest" } } }));
  const loadOlder = async () => {
    if (!sessionId || olderPage === null) return;
    setLoadingOlder(true);
    const element = scroller.current;
    const fromBottom = element ? element.scrollHeight - element.scrollTop : 0;
    try {
      const page = await fetchPage(sessionId, olderPage);
      const older = [...(page.results as ViewMessage[])].reverse();
      keepScroll.current = fromBottom;
      setMessages((list) => {
        const known = new Set(list.map((message) => message.id));
        return [...older.filter((message) => !known.has(message.id)), ...list];
      });
      setOlderPage(page.next ? olderPage + 1 : null);
    } catch (cause) {
      setError(cause);
    } finally {
      setLoadingOlder(false);
    }
  };

  const loadMessages = useCallback(async (id: string, keepOlder = false) => {
    setLoadingMessages(true);
    try {
      const page = await unwrap(client.GET("/api/v1/chat/sessions/{session_id}/messages", { params: { path: { session_id: id }, query: { page_size: PAGE_SIZE, order: "newest" } } }));
      const fresh = [...(page.results as ViewMessage[])].reverse();
      const ids = new Set(fresh.map((message) => message.id));
      const first = fresh[0]?.created_at ?? "";
      const older = keepOlder ? messagesRef.current.filter((message) => !ids.has(message.id) && !message.id.startsWith("tmp-") && message.created_at && message.created_at < first) : [];
      setMessages([...older, ...fresh]);
      if (!older.length) setOlderPage(page.next ? 2 : null);
    } catch (cause) {
      setError(cause);
    } finally {
      setLoadingMessages(false);
    }
  }, []);

  useEffect(() => {
    setOpenSource(null);
    setEditing(null);
    setError(null);
    setSessionsOpen(false);
    if (!sessionId) {
      setMessages([]);
      setOlderPage(null);
      return;
    }
    if (skipLoad.current === sessionId) {
      skipLoad.current = null; // the stream that created this session is filling it
      return;
    }
    void loadMessages(sessionId);
  }, [sessionId, loadMessages]);

  const keepScroll = useRef<number | null>(null);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    if (keepScroll.current !== null) {
      // Older messages were added above: stay where the reader was.
      element.scrollTop = element.scrollHeight - keepScroll.current;
      keepScroll.current = null;
    } else element.scrollTop = element.scrollHeight;
  }, [messages]);

  useEffect(() => () => abort.current?.abort(), []);

  /** Streams one answer into a placeholder, then reloads the stored conversation. */
  const runStream = async (path: string, body: unknown, placeholder: ViewMessage, question?: ViewMessage, restore?: () => void) => {
    const controller = new AbortController();
    abort.current = controller;
    sessionExpired.current = false;
    setStreaming(true);
    setError(null);
    let answerId = placeholder.id;
    let session = sessionId;
    const update = (change: (message: ViewMessage) => ViewMessage) =>
      setMessages((list) => list.map((message) => (message.id === answerId ? change(message) : message)));
    const handlers: StreamHandlers = {
      session: (data) => {
        session = data.session_id;
        const oldAnswerId = answerId;
        answerId = data.message_id;
        setMessages((list) =>
          list.map((message) =>
            message.id === oldAnswerId
              ? { ...message, id: data.message_id, reply_to: data.user_message_id }
              : question && message.id === question.id
                ? { ...message, id: data.user_message_id }
                : message,
          ),
        );
        if (!sessionId) {
          skipLoad.current = data.session_id;
          navigate(`/chat/${data.session_id}`, { replace: true });
        }
      },
      delta: (data) => update((message) => ({ ...message, content: message.content + data.text })),
      sources: (data) => update((message) => ({ ...message, sources: data.sources })),
      usage: (data) => update((message) => ({ ...message, total_tokens: data.total_tokens, cost: data.cost, latency_ms: data.latency_ms ?? undefined })),
      error: (data) => update((message) => ({ ...message, streaming: false, streamError: data.message })),
      done: () => update((message) => ({ ...message, streaming: false })),
    };
    try {
      await streamTurn(path, body, handlers, controller.signal);
    } catch (cause) {
      sessionExpired.current = isExpired(cause);
      setError(cause);
      restore?.(); // refused: what was typed goes back into the composer
      setMessages((list) => list.filter((message) => message.id !== answerId && (!question || message.id !== question.id || !question.id.startsWith("tmp-"))));
    } finally {
      setStreaming(false);
      abort.current = null;
      if (session && !sessionExpired.current) {
        await loadMessages(session, true);
        sessions.reload();
        current.reload();
      }
    }
  };

  const send = async (event?: FormEvent) => {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || streaming || attach.busy) return;
    if (!assistantId) {
      setError(new Error("Choose an assistant first."));
      return;
    }
    if (text.length > MAX_CHARS) {
      setError(new Error(`Your message has ${formatNumber(text.length)} characters; the limit is ${formatNumber(MAX_CHARS)}. Shorten it and send again.`));
      return;
    }
    const draftBefore = draft;
    const question: ViewMessage = { id: `tmp-q-${Date.now()}`, role: "user", content: text, attachments: attach.files };
    const placeholder: ViewMessage = { id: `tmp-a-${Date.now()}`, role: "assistant", content: "", streaming: true, reply_to: question.id, sources: [] };
    setMessages((list) => [...list, question, placeholder]);
    setDraft("");
    const sentFiles = attach.take();
    const fromTemplate = promptVersion ?? undefined;
    setPromptVersion(null);
    await runStream("/api/v1/chat", { assistant: assistantId, session: sessionId ?? null, message: text, stream: true, attachments: question.attachments?.map((file) => file.id), prompt_version: fromTemplate }, placeholder, question, () => {
      setDraft((current) => (current ? current : draftBefore));
      attach.restore(sentFiles); // refused: the files go back too, so one can be removed
    });
  };

  const regenerate = async (answer: ViewMessage) => {
    const placeholder: ViewMessage = { id: `tmp-a-${Date.now()}`, role: "assistant", content: "", streaming: true, reply_to: answer.reply_to ?? undefined, sources: [] };
    setMessages((list) => [...list, placeholder]);
    setVersions((value) => ({ ...value, [answer.reply_to ?? ""]: Number.MAX_SAFE_INTEGER }));
    await runStream(`/api/v1/chat/messages/${answer.id}/regenerate`, { stream: true }, placeholder);
  };

  const saveEdit = async (question: ViewMessage, content: string) => {
    setEditing(null);
    const placeholder: ViewMessage = { id: `tmp-a-${Date.now()}`, role: "assistant", content: "", streaming: true, reply_to: question.id, sources: [] };
    setMessages((list) => [...list.map((message) => (message.id === question.id ? { ...message, content, is_edited: true } : message)), placeholder]);
    setVersions((value) => ({ ...value, [question.id]: Number.MAX_SAFE_INTEGER }));
    await runStream(`/api/v1/chat/messages/${question.id}/edit`, { content, stream: true }, placeholder);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  };

  const turns = groupAnswers(messages);
  // Someone else's conversation (an admin's "everyone's" view, a shared one) is read-only.
  const canChange = !current.data || current.data.created_by === me.user.id;
  const ownerName = current.data?.owner ? current.data.owner.name || current.data.owner.email : "a program";
  const title = current.data?.title || (sessionId ? "Conversation" : "New conversation");

  return (
    <div className={`chat ${sessionsOpen ? "sessions-open" : ""}`}>
      <aside className="chat-sidebar" aria-label="Conversations">
        <div className="chat-sidebar-head">
          <Link className="btn btn-primary btn-block" to="/chat" onClick={() => setDraft("")}>
            New chat
          </Link>
          <label className="sr-only" htmlFor="session-search">
            Search conversations
          </label>
          <input id="session-search" className="input" type="search" placeholder="Search titles and messages" value={search} onChange={(event) => setSearch(event.target.value)} />
          <label className="check small">
            <input type="checkbox" checked={archived} onChange={(event) => setArchived(event.target.checked)} />
            Show archived
          </label>
          <SourceFilter value={source} onChange={setSource} />
          <label className="sr-only" htmlFor="session-owner">
            Whose conversations
          </label>
          <select id="session-owner" className="select" value={owner} onChange={(event) => setOwner(event.target.value as "me" | "everyone")}>
            <option value="me">My conversations</option>
            <option value="everyone">{me.role === "admin" ? "Everyone's (read-only)" : "Mine and shared with me"}</option>
          </select>
        </div>
        {sessions.error ? (
          <div style={{ padding: 12 }}>
            <ErrorMessage error={sessions.error} />
          </div>
        ) : null}
        <ul className="session-list" aria-label="Conversations" data-testid="chat-session-list">
          {(sessions.data?.results ?? []).map((session) => (
            <SessionItem key={session.id} session={session} mine={session.created_by === me.user.id} active={session.id === sessionId} onChanged={() => { sessions.reload(); current.reload(); }} />
          ))}
          {sessions.data && !sessions.data.results.length ? (
            <li className="muted small" style={{ padding: 12 }}>
              {query ? "No conversation matches." : archived ? "No archived conversations." : "No conversations yet."}
            </li>
          ) : null}
        </ul>
      </aside>

      <section className="chat-main" aria-label="Conversation">
        <div className="chat-head">
          <div className="row grow">
            <button type="button" className="btn btn-sm only-mobile" aria-expanded={sessionsOpen} onClick={() => setSessionsOpen(!sessionsOpen)}>
              Conversations
            </button>
            <h1 style={{ fontSize: "1.05rem" }} className="grow" data-testid="chat-title">
              {title}
            </h1>
          </div>
          <div className="row">
            {sessionId ? (
              <span className="muted small hide-sm">{current.data?.assistant_name}</span>
            ) : (
              <>
                <label className="sr-only" htmlFor="assistant-picker">
                  Assistant
                </label>
                <select id="assistant-picker" className="select" style={{ width: "auto" }} value={assistantId} onChange={(event) => setAssistantId(event.target.value)}>
                  {activeAssistants.map((item) => (
                    <option key={item.id} value={item.id}>
                      {item.name}
                    </option>
                  ))}
                </select>
              </>
            )}
            {sessionId ? (
              <>
                <ConversationTools sessionId={sessionId} canChange={canChange} />
                <a className="btn btn-sm" href={`/api/v1/chat/sessions/${sessionId}/export?type=markdown`} download>
                  Export Markdown
                </a>
                <a className="btn btn-sm hide-sm" href={`/api/v1/chat/sessions/${sessionId}/export?type=json`} download>
                  Export JSON
                </a>
              </>
            ) : null}
          </div>
        </div>

        <div className="chat-scroll" ref={scroller}>
          <div className="chat-thread">
            {current.data && !canChange ? (
              <div className="alert alert-info" role="status" data-testid="read-only-banner">
                Read-only: this conversation belongs to {ownerName}. You can read it, not write in it.
              </div>
            ) : null}
            {current.error ? <ErrorMessage error={current.error} /> : null}
            {assistants.error ? <ErrorMessage error={assistants.error} /> : null}
            {loadingMessages && !messages.length ? <Spinner label="Loading the conversation" /> : null}
            {olderPage !== null && sessionId ? (
              <div style={{ textAlign: "center" }}>
                <button type="button" className="btn btn-sm" onClick={() => void loadOlder()} disabled={loadingOlder} data-testid="load-older">
                  {loadingOlder ? "Loading…" : "Load older messages"}
                </button>
              </div>
            ) : null}
            {!sessionId && !messages.length ? (
              <div className="chat-empty">
                <h2>Ask {assistant?.name ?? "an assistant"}</h2>
                <p>{assistant?.description || "Answers come from your organization's knowledge, with numbered sources you can open."}</p>
                <SuggestedQuestions
                  questions={assistant?.suggested_questions}
                  onPick={(question) => {
                    setDraft(question);
                    document.getElementById("chat-input")?.focus();
                  }}
                />
                {assistants.data && !activeAssistants.length ? (
                  <p style={{ marginTop: 12 }}>
                    No assistant yet. <Link to="/assistants/new">Create one</Link>.
                  </p>
                ) : null}
              </div>
            ) : null}
            {turns.map(({ question, answers }) => {
              const selected = Math.min(versions[question.id] ?? answers.length - 1, answers.length - 1);
              const answer = answers[selected];
              return (
                <Fragment key={question.id}>
                  <div className="msg msg-user" data-testid="chat-question">
                    {editing === question.id ? (
                      <form
                        className="stack"
                        style={{ width: "min(100%, 560px)" }}
                        onSubmit={(event: FormEvent<HTMLFormElement>) => {
                          event.preventDefault();
                          const content = String(new FormData(event.currentTarget).get("content") ?? "").trim();
                          if (content) void saveEdit(question, content);
                        }}
                      >
                        <label className="sr-only" htmlFor={`edit-${question.id}`}>
                          Edit your question
                        </label>
                        <textarea id={`edit-${question.id}`} name="content" className="textarea" defaultValue={question.content} autoFocus />
                        <div className="row" style={{ justifyContent: "flex-end" }}>
                          <button type="button" className="btn btn-sm" onClick={() => setEditing(null)}>
                            Cancel
                          </button>
                          <button type="submit" className="btn btn-sm btn-primary">
                            Save and ask again
                          </button>
                        </div>
                      </form>
                    ) : (
                      <>
                        <div className="bubble">{question.content}</div>
                        <MessageAttachments files={question.attachments} />
                        <div className="msg-actions">
                          {question.is_edited ? <span className="msg-meta">edited</span> : null}
                          {canChange && !streaming && !question.id.startsWith("tmp-") ? (
                            <button type="button" className="btn btn-ghost btn-sm" onClick={() => setEditing(question.id)}>
                              Edit question
                            </button>
                          ) : null}
                        </div>
                      </>
                    )}
                  </div>
                  {answer ? (
                    <div className="msg msg-assistant">
                      <div className={`bubble bubble-md ${answer.streaming ? "typing" : ""}`} data-testid="chat-answer" aria-live="polite" aria-busy={answer.streaming ? true : undefined}>
                        {answer.content ? (
                          <AnswerText text={answer.content} sources={answer.sources ?? []} onCite={(source) => setOpenSource({ source, query: answer.retrieval_query || question.content, answer: answer.content })} />
                        ) : answer.streaming ? (
                          <span className="muted">Thinking…</span>
                        ) : null}
                      </div>
                      {answer.streamError || answer.status === "error" ? (
                        <div className="alert alert-error" role="alert" data-testid="chat-error">
                          {answer.streamError || answer.error || "The answer failed."}
                        </div>
                      ) : null}
                      <OmittedNote omitted={answer.context_omitted} />
                      {answer.status === "cancelled" ? <div className="msg-meta">Stopped before the end.</div> : null}
                      {answer.status === "interrupted" ? <div className="msg-meta" data-testid="chat-interrupted">Interrupted: the server stopped while answering.</div> : null}
                      {answer.sources?.length && !answer.streaming ? (
                        <div className="sources-list" aria-label="Sources">
                          {answer.sources
                            .filter((source) => source.cited)
                            .map((source) => (
                              <button key={source.index} type="button" className="source-chip" onClick={() => setOpenSource({ source, query: answer.retrieval_query || question.content, answer: answer.content })}>
                                [{source.index}] {source.document_title}
                                {source.page ? `, p. ${source.page}` : ""}
                              </button>
                            ))}
                        </div>
                      ) : null}
                      {!answer.streaming && !answer.id.startsWith("tmp-") ? (
                        <div className="msg-actions">
                          {answers.length > 1 ? (
                            <span className="row small muted" style={{ gap: 2 }}>
                              <button type="button" className="btn btn-ghost btn-sm" aria-label="Previous version" disabled={selected === 0} onClick={() => setVersions({ ...versions, [question.id]: selected - 1 })}>
                                ‹
                              </button>
                              {selected + 1}/{answers.length}
                              <button type="button" className="btn btn-ghost btn-sm" aria-label="Next version" disabled={selected === answers.length - 1} onClick={() => setVersions({ ...versions, [question.id]: selected + 1 })}>
                                ›
                              </button>
                            </span>
                          ) : null}
                          <CopyButton label="Copy answer" text={() => answer.content} />
                          {canChange ? (
                            <>
                              <Feedback message={answer} onChanged={(rating) => setMessages((list) => list.map((item) => (item.id === answer.id ? { ...item, feedback: rating === null ? null : { rating } } : item)))} />
                              <button type="button" className="btn btn-ghost btn-sm" disabled={streaming} onClick={() => void regenerate(answer)}>
                                Regenerate
                              </button>
                            </>
                          ) : null}
                          <span className="msg-meta">
                            {answer.total_tokens ? `${formatNumber(answer.total_tokens)} tokens · ${formatCost(answer.cost)}` : ""}
                            {answer.latency_ms ? ` · ${(answer.latency_ms / 1000).toFixed(1)} s` : ""}
                          </span>
                        </div>
                      ) : null}
                    </div>
                  ) : null}
                </Fragment>
              );
            })}
          </div>
        </div>

        <form className="composer" onSubmit={send} {...attach.dropProps}>
          <AttachmentTray attach={attach} />
          <TemplatePicker
            draft={draft}
            onInsert={(text, versionId) => {
              setDraft(text);
              setPromptVersion(versionId);
            }}
          />
          <div className="composer-inner">
            <AttachButton attach={attach} disabled={!canChange} />
            <label className="sr-only" htmlFor="chat-input">
              Message
            </label>
            <textarea
              id="chat-input"
              className="textarea grow"
              placeholder={canChange ? "Ask a question… (Enter to send, Shift+Enter for a new line)" : `Read-only: ${ownerName}'s conversation.`}
              value={draft}
              disabled={!canChange}
              onChange={(event) => {
                setDraft(event.target.value);
                if (!event.target.value) setPromptVersion(null);
              }}
              onKeyDown={onKeyDown}
              onPaste={attach.onPaste}
              rows={1}
              data-testid="chat-input"
            />
            {streaming ? (
              <button type="button" className="btn btn-stop" data-testid="chat-stop" aria-label="Stop the answer" onClick={() => abort.current?.abort()}>
                <span className="stop-square" aria-hidden="true" /> Stop
              </button>
            ) : (
              <button type="submit" className="btn btn-primary" disabled={!draft.trim() || !canChange || attach.busy || !assistantId}>
                Send
              </button>
            )}
          </div>
          <div style={{ maxWidth: 820, margin: "8px auto 0" }}>
            {draft.length > MAX_CHARS * 0.8 ? (
              <div className={`small ${draft.length > MAX_CHARS ? "text-danger" : "muted"}`} data-testid="char-counter" style={{ textAlign: "right" }}>
                {formatNumber(draft.length)} / {formatNumber(MAX_CHARS)} characters
              </div>
            ) : null}
            <Refusal error={error} />
          </div>
        </form>
      </section>

      {openSource?.source.file_id ? <FileSourcePanel source={openSource.source} onClose={() => setOpenSource(null)} /> : openSource ? <SourcePanel source={openSource.source} assistant={assistant} answer={openSource.answer} onClose={() => setOpenSource(null)} /> : null}
    </div>
  );
}
