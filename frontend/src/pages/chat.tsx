// Chat: sessions on the left, the conversation streaming token by token, sources on
// the right when a citation is opened.
import { type FormEvent, type KeyboardEvent, Fragment, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { SuggestedQuestions } from "../components/SuggestedQuestions";
import { Link, useNavigate, useParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import type { Source } from "../api/types";
import { config } from "../config";
import { AnswerText, Feedback } from "../chat/MessageParts";
import { Refusal, useDraft } from "../chat/refusals";
import { SessionSidebar } from "../chat/SessionSidebar";
import { SourcePanel } from "../chat/SourcePanel";
import { useChatStream, type ViewMessage } from "../chat/useChatStream";
import { AttachButton, AttachmentTray, FileSourcePanel, MessageAttachments, OmittedNote, useAttachments } from "./chat-attachments";
import { useMe } from "../session";
import { $api, useInvalidate } from "../api/query";
import { ErrorMessage, formatCost, formatNumber, Spinner } from "../ui";
import { CopyButton } from "../ui/markdown";
import { ConversationTools } from "../conversations/AnalysisPanel";
import { TemplatePicker } from "../components/TemplatePicker";

// ---------------------------------------------------------------- the page

const MAX_CHARS = config.chatMaxMessageChars;
const PAGE_SIZE = 100;

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
  const [sessionsOpen, setSessionsOpen] = useState(false);
  const [assistantId, setAssistantId] = useState("");
  const [loadingMessages, setLoadingMessages] = useState(false);
  const [openSource, setOpenSource] = useState<{ source: Source; query: string; answer?: string; sources?: Source[] } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [draft, setDraft] = useDraft(sessionId ?? "new");
  // The template version the draft was written from (the "/" picker): sent with it.
  const [promptVersion, setPromptVersion] = useState<string | null>(null);
  const skipLoad = useRef<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const attach = useAttachments();
  const invalidate = useInvalidate();
  const stream = useChatStream({
    onSession: (data) => {
      if (!sessionId) {
        skipLoad.current = data.session_id; // the stream fills the new conversation
        navigate(`/chat/${data.session_id}`, { replace: true });
      }
    },
    onSettled: async (session) => {
      await loadMessages(session, true);
      // The turn changed the session list, the usage figures and a template's use.
      // The conversation's detail too: a switch of assistant took effect with this turn.
      void invalidate("/api/v1/chat/sessions", "/api/v1/usage", "/api/v1/prompts");
    },
  });
  const { messages, setMessages, streaming, error, setError } = stream;

  const assistants = $api.useQuery(
    "get",
    "/api/v1/assistants",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results },
  );
  const current = $api.useQuery(
    "get",
    "/api/v1/chat/sessions/{session_id}",
    { params: { path: { session_id: sessionId ?? "" } } },
    { enabled: Boolean(sessionId), placeholderData: undefined },
  );

  const activeAssistants = useMemo(() => (assistants.data ?? []).filter((item) => item.is_active !== false), [assistants.data]);
  // The conversation's assistant when it loads or changes (a switch took effect); the
  // picker may then choose another one for the next question.
  // A pick made by hand in this conversation stays, also when its detail loads after it
  // (a slow reply would otherwise put the old assistant back in the picker).
  const sessionAssistant = current.data?.assistant;
  const picked = useRef({ session: sessionId, byHand: false });
  useEffect(() => {
    if (picked.current.session !== sessionId) picked.current = { session: sessionId, byHand: false };
    if (sessionAssistant && !picked.current.byHand) setAssistantId(sessionAssistant);
  }, [sessionId, sessionAssistant]);
  useEffect(() => {
    if (!sessionId && !assistantId && activeAssistants.length) setAssistantId(activeAssistants[0].id);
  }, [sessionId, activeAssistants, assistantId]);
  const assistant = assistants.data?.find((item) => item.id === assistantId);
  // Chosen in the picker for the next question, other than the conversation's own.
  const switching = Boolean(sessionId && sessionAssistant && assistantId && assistantId !== sessionAssistant);

  // Newest first: page 1 is the latest 100 messages; older pages load on demand. New
  // messages shift the pages, so a later page may repeat a few (deduplicated by id).
  const [olderPage, setOlderPage] = useState<number | null>(null);
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const [loadingOlder, setLoadingOlder] = useState(false);
  const fetchPage = (id: string, page: number) =>
    unwrap(
      client.GET("/api/v1/chat/sessions/{session_id}/messages", {
        params: { path: { session_id: id }, query: { page_size: PAGE_SIZE, page, order: "newest" } },
      }),
    );
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

  const loadMessages = useCallback(
    async (id: string, keepOlder = false) => {
      setLoadingMessages(true);
      try {
        const page = await unwrap(
          client.GET("/api/v1/chat/sessions/{session_id}/messages", {
            params: { path: { session_id: id }, query: { page_size: PAGE_SIZE, order: "newest" } },
          }),
        );
        const fresh = [...(page.results as ViewMessage[])].reverse();
        const ids = new Set(fresh.map((message) => message.id));
        const first = fresh[0]?.created_at ?? "";
        const older = keepOlder
          ? messagesRef.current.filter(
              (message) => !ids.has(message.id) && !message.id.startsWith("tmp-") && message.created_at && message.created_at < first,
            )
          : [];
        setMessages([...older, ...fresh]);
        if (!older.length) setOlderPage(page.next ? 2 : null);
      } catch (cause) {
        setError(cause);
      } finally {
        setLoadingMessages(false);
      }
    },
    [setError, setMessages],
  );

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
  }, [sessionId, loadMessages, setError, setMessages]);

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

  /** Streams one answer into a placeholder; the stored conversation is reloaded after. */
  const runStream = (path: string, body: unknown, placeholder: ViewMessage, question?: ViewMessage, restore?: () => void) =>
    stream.run({ path, body, placeholder, question, restore, sessionId });

  const send = async (event?: FormEvent) => {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || streaming || attach.busy) return;
    if (!assistantId) {
      setError(new Error("Choose an assistant first."));
      return;
    }
    if (text.length > MAX_CHARS) {
      setError(
        new Error(
          `Your message has ${formatNumber(text.length)} characters; the limit is ${formatNumber(MAX_CHARS)}. Shorten it and send again.`,
        ),
      );
      return;
    }
    const draftBefore = draft;
    const question: ViewMessage = { id: `tmp-q-${Date.now()}`, role: "user", content: text, attachments: attach.files };
    const placeholder: ViewMessage = {
      id: `tmp-a-${Date.now()}`,
      role: "assistant",
      content: "",
      streaming: true,
      reply_to: question.id,
      sources: [],
      assistant: assistantId,
      assistant_name: assistant?.name ?? null,
    };
    setMessages((list) => [...list, question, placeholder]);
    setDraft("");
    const sentFiles = attach.take();
    const fromTemplate = promptVersion ?? undefined;
    setPromptVersion(null);
    await runStream(
      "/api/v1/chat",
      {
        assistant: assistantId,
        session: sessionId ?? null,
        message: text,
        stream: true,
        attachments: question.attachments?.map((file) => file.id),
        prompt_version: fromTemplate,
      },
      placeholder,
      question,
      () => {
        setDraft((current) => (current ? current : draftBefore));
        attach.restore(sentFiles); // refused: the files go back too, so one can be removed
      },
    );
  };

  const regenerate = async (answer: ViewMessage) => {
    const placeholder: ViewMessage = {
      id: `tmp-a-${Date.now()}`,
      role: "assistant",
      content: "",
      streaming: true,
      reply_to: answer.reply_to ?? undefined,
      sources: [],
    };
    setMessages((list) => [...list, placeholder]);
    setVersions((value) => ({ ...value, [answer.reply_to ?? ""]: Number.MAX_SAFE_INTEGER }));
    await runStream(`/api/v1/chat/messages/${answer.id}/regenerate`, { stream: true }, placeholder);
  };

  const saveEdit = async (question: ViewMessage, content: string) => {
    setEditing(null);
    const placeholder: ViewMessage = {
      id: `tmp-a-${Date.now()}`,
      role: "assistant",
      content: "",
      streaming: true,
      reply_to: question.id,
      sources: [],
    };
    setMessages((list) => [
      ...list.map((message) => (message.id === question.id ? { ...message, content, is_edited: true } : message)),
      placeholder,
    ]);
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
  const severalAssistants = new Set(messages.flatMap((message) => (message.assistant ? [message.assistant] : []))).size > 1;
  // Someone else's conversation (an admin's "everyone's" view, a shared one) is read-only.
  const canChange = !current.data || current.data.created_by === me.user.id;
  const ownerName = current.data?.owner ? current.data.owner.name || current.data.owner.email : "a program";
  const title = current.data?.title || (sessionId ? "Conversation" : "New conversation");

  return (
    <div className={`chat ${sessionsOpen ? "sessions-open" : ""}`}>
      <SessionSidebar sessionId={sessionId} onNewChat={() => setDraft("")} />

      <section className="chat-main" aria-label="Conversation">
        <div className="chat-head">
          <div className="row grow">
            <button
              type="button"
              className="btn btn-sm only-mobile"
              aria-expanded={sessionsOpen}
              onClick={() => setSessionsOpen(!sessionsOpen)}
            >
              Conversations
            </button>
            <h1 style={{ fontSize: "1.05rem" }} className="grow" data-testid="chat-title">
              {title}
            </h1>
          </div>
          <div className="row">
            {sessionId && !canChange ? (
              <span className="muted small hide-sm">{current.data?.assistant_name}</span>
            ) : (
              <>
                <label className="sr-only" htmlFor="assistant-picker">
                  Assistant
                </label>
                <select
                  id="assistant-picker"
                  className="select"
                  style={{ width: "auto", maxWidth: "40vw" }}
                  value={assistantId}
                  title={sessionId ? "Switch assistant (and model) for the next question" : "Assistant"}
                  onChange={(event) => {
                    picked.current = { session: sessionId, byHand: true };
                    setAssistantId(event.target.value);
                  }}
                >
                  {sessionId && sessionAssistant && !activeAssistants.some((item) => item.id === sessionAssistant) ? (
                    <option value={sessionAssistant} disabled>
                      {current.data?.assistant_name} (inactive)
                    </option>
                  ) : null}
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
                <button
                  type="button"
                  className="btn btn-sm"
                  onClick={() => void loadOlder()}
                  disabled={loadingOlder}
                  data-testid="load-older"
                >
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
            {turns.map(({ question, answers }, index) => {
              const selected = Math.min(versions[question.id] ?? answers.length - 1, answers.length - 1);
              const answer = answers[selected];
              const earlier = turns[index - 1]?.answers ?? [];
              const before = earlier[earlier.length - 1];
              // The conversation switched assistant (and model) at this question.
              const switched = Boolean(answer?.assistant && before?.assistant && answer.assistant !== before.assistant);
              return (
                <Fragment key={question.id}>
                  {switched ? (
                    <div className="chat-switch" role="note" data-testid="assistant-switch">
                      <span>
                        Now answering: <strong>{answer?.assistant_name}</strong>
                        {answer?.model ? ` (${answer.model})` : ""}
                      </span>
                    </div>
                  ) : null}
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
                        <textarea
                          id={`edit-${question.id}`}
                          name="content"
                          className="textarea"
                          defaultValue={question.content}
                          autoFocus
                        />
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
                      <div
                        className={`bubble bubble-md ${answer.streaming ? "typing" : ""}`}
                        data-testid="chat-answer"
                        aria-live="polite"
                        aria-busy={answer.streaming ? true : undefined}
                      >
                        {answer.content ? (
                          <AnswerText
                            text={answer.content}
                            sources={answer.sources ?? []}
                            onCite={(source) =>
                              setOpenSource({
                                source,
                                query: answer.retrieval_query || question.content,
                                answer: answer.content,
                                sources: answer.sources ?? [],
                              })
                            }
                          />
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
                      {answer.status === "interrupted" ? (
                        <div className="msg-meta" data-testid="chat-interrupted">
                          Interrupted: the server stopped while answering.
                        </div>
                      ) : null}
                      {answer.sources?.length && !answer.streaming ? (
                        <div className="sources-list" aria-label="Sources">
                          {answer.sources
                            .filter((source) => source.cited)
                            .map((source) => (
                              <button
                                key={source.index}
                                type="button"
                                className="source-chip"
                                onClick={() =>
                                  setOpenSource({
                                    source,
                                    query: answer.retrieval_query || question.content,
                                    answer: answer.content,
                                    sources: answer.sources ?? [],
                                  })
                                }
                              >
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
                              <button
                                type="button"
                                className="btn btn-ghost btn-sm"
                                aria-label="Previous version"
                                disabled={selected === 0}
                                onClick={() => setVersions({ ...versions, [question.id]: selected - 1 })}
                              >
                                ‹
                              </button>
                              {selected + 1}/{answers.length}
                              <button
                                type="button"
                                className="btn btn-ghost btn-sm"
                                aria-label="Next version"
                                disabled={selected === answers.length - 1}
                                onClick={() => setVersions({ ...versions, [question.id]: selected + 1 })}
                              >
                                ›
                              </button>
                            </span>
                          ) : null}
                          <CopyButton label="Copy answer" text={() => answer.content} />
                          {canChange ? (
                            <>
                              <Feedback
                                message={answer}
                                onChanged={(rating) =>
                                  setMessages((list) =>
                                    list.map((item) =>
                                      item.id === answer.id ? { ...item, feedback: rating === null ? null : { rating } } : item,
                                    ),
                                  )
                                }
                              />
                              <button
                                type="button"
                                className="btn btn-ghost btn-sm"
                                disabled={streaming}
                                onClick={() => void regenerate(answer)}
                              >
                                Regenerate
                              </button>
                            </>
                          ) : null}
                          <span className="msg-meta">
                            {severalAssistants && answer.assistant_name ? `${answer.assistant_name} · ` : ""}
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
              placeholder={
                canChange ? "Ask a question… (Enter to send, Shift+Enter for a new line)" : `Read-only: ${ownerName}'s conversation.`
              }
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
              <button type="button" className="btn btn-stop" data-testid="chat-stop" aria-label="Stop the answer" onClick={stream.stop}>
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
              <div
                className={`small ${draft.length > MAX_CHARS ? "text-danger" : "muted"}`}
                data-testid="char-counter"
                style={{ textAlign: "right" }}
              >
                {formatNumber(draft.length)} / {formatNumber(MAX_CHARS)} characters
              </div>
            ) : null}
            {switching && canChange ? (
              <div className="small muted" data-testid="switch-hint" role="status">
                The next answer comes from <strong>{assistant?.name}</strong>
                {assistant?.model ? ` (${assistant.model.display_name || assistant.model.model_id})` : ""}, with this conversation so far.
              </div>
            ) : null}
            <Refusal error={error} />
          </div>
        </form>
      </section>

      {openSource?.source.file_id ? (
        <FileSourcePanel source={openSource.source} onClose={() => setOpenSource(null)} />
      ) : openSource ? (
        <SourcePanel
          source={openSource.source}
          sources={openSource.sources}
          assistant={assistant}
          answer={openSource.answer}
          onClose={() => setOpenSource(null)}
        />
      ) : null}
    </div>
  );
}
