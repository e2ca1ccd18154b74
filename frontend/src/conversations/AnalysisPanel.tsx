// The analysis of one conversation (summary, topics, sentiment, action items to tick,
// key points), its tags, and ending it: opened from the chat page's header.
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, client, unwrap } from "../api/client";
import { $api, useAction, useInvalidate } from "../api/query";
import type { components } from "../api/schema";
import { Badge, ErrorMessage, formatDate, Modal, SelectField, Spinner } from "../ui";

type Analysis = components["schemas"]["AnalysisOutput"];

const tone = (label: string) => (label === "positive" ? "success" : label === "negative" ? "danger" : "info");

function Tags({ sessionId, tags, canChange }: { sessionId: string; tags: string[]; canChange: boolean }) {
  const [text, setText] = useState(tags.join(", "));
  const save = useAction(
    async () => {
      const list = text
        .split(",")
        .map((tag) => tag.trim())
        .filter(Boolean);
      await unwrap(
        client.PATCH("/api/v1/chat/sessions/{session_id}", { params: { path: { session_id: sessionId } }, body: { tags: list } }),
      );
    },
    { invalidates: ["/api/v1/chat/sessions"] },
  );
  return (
    <div className="stack">
      <div className="row">
        {tags.map((tag) => (
          <Badge key={tag} tone="accent">
            {tag}
          </Badge>
        ))}
        {!tags.length ? <span className="muted small">No tags.</span> : null}
      </div>
      {canChange ? (
        <div className="row">
          <label className="sr-only" htmlFor="session-tags">
            Tags
          </label>
          <input
            id="session-tags"
            className="input grow"
            placeholder="travel, taxes"
            value={text}
            onChange={(event) => setText(event.target.value)}
          />
          <button type="button" className="btn btn-sm" disabled={save.busy} onClick={() => save.run()}>
            Save tags
          </button>
        </div>
      ) : null}
      <ErrorMessage error={save.error} />
    </div>
  );
}

function Body({ sessionId, canChange }: { sessionId: string; canChange: boolean }) {
  const path = { params: { path: { session_id: sessionId } } };
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  const session = $api.useQuery("get", "/api/v1/chat/sessions/{session_id}", path, { placeholderData: undefined });
  // Not analysed yet is the API's 404: no analysis (null), not an error.
  const analysisKey = $api.queryOptions("get", "/api/v1/chat/sessions/{session_id}/analysis", path).queryKey;
  const analysis = useQuery<Analysis | null>({
    queryKey: analysisKey,
    queryFn: async ({ signal }) => {
      try {
        return await unwrap(client.GET("/api/v1/chat/sessions/{session_id}/analysis", { ...path, signal }));
      } catch (cause) {
        if (cause instanceof ApiError && cause.notFound) return null;
        throw cause;
      }
    },
  });
  const setAnalysis = (value: Analysis) => queryClient.setQueryData(analysisKey, value);
  const analyse = useAction(async () => {
    setAnalysis(await unwrap(client.POST("/api/v1/chat/sessions/{session_id}/analysis", path)));
  });
  const tick = useAction(async (index: number) => {
    const items = analysis.data!.action_items;
    const done = items.map((item, position) => (position === index ? !item.done : item.done));
    const positions = done.flatMap((value, position) => (value ? [position] : []));
    setAnalysis(await unwrap(client.PATCH("/api/v1/chat/sessions/{session_id}/analysis", { ...path, body: { done: positions } })));
  });
  const end = useAction(
    async () => {
      await unwrap(client.POST("/api/v1/chat/sessions/{session_id}/end", path));
      // Ending queues the analysis: looked for again a moment later.
      window.setTimeout(() => void invalidate("/api/v1/chat/sessions/{session_id}/analysis"), 1500);
    },
    { invalidates: ["/api/v1/chat/sessions"] },
  );
  if (analysis.isPending) return <Spinner label="Loading the analysis" />;
  const data = analysis.data;
  return (
    <div className="stack" data-testid="analysis-panel">
      <ErrorMessage error={analysis.error || analyse.error || tick.error || end.error} />
      {data ? (
        <>
          <p className="muted small">
            Version {data.version} · {data.method === "local" ? "local methods" : "AI model"} ({data.model}) · {formatDate(data.created_at)}
          </p>
          <section>
            <h3>Summary</h3>
            <p data-testid="analysis-summary">{data.summary || "—"}</p>
          </section>
          <section className="row" style={{ flexWrap: "wrap" }}>
            <strong>Sentiment</strong>
            <Badge tone={tone(data.sentiment.label)} testId="analysis-sentiment">
              {data.sentiment.label} ({data.sentiment.score.toFixed(2)})
            </Badge>
          </section>
          <section>
            <h3>Topics</h3>
            <div className="row" style={{ flexWrap: "wrap" }} data-testid="analysis-topics">
              {data.topics.map((topic) => (
                <Badge key={topic} tone="accent">
                  {topic}
                </Badge>
              ))}
            </div>
          </section>
          <section>
            <h3>Action items</h3>
            {data.action_items.length ? (
              <div className="checks">
                {data.action_items.map((item, index) => (
                  <label key={index} className="check">
                    <input type="checkbox" checked={item.done} disabled={!canChange || tick.busy} onChange={() => tick.run(index)} />
                    <span style={{ textDecoration: item.done ? "line-through" : undefined }}>{item.text}</span>
                  </label>
                ))}
              </div>
            ) : (
              <p className="muted small">None found.</p>
            )}
          </section>
          {data.key_points.length ? (
            <section>
              <h3>Key points</h3>
              <ul>
                {data.key_points.map((point) => (
                  <li key={point}>{point}</li>
                ))}
              </ul>
            </section>
          ) : null}
        </>
      ) : (
        <p className="muted">This conversation has not been analysed yet.</p>
      )}
      {session.data ? (
        <section>
          <h3>Tags</h3>
          <Tags sessionId={sessionId} tags={session.data.tags ?? []} canChange={canChange} />
        </section>
      ) : null}
      {canChange ? (
        <div className="row">
          <button type="button" className="btn btn-sm btn-primary" disabled={analyse.busy} onClick={() => analyse.run()}>
            {analyse.busy ? "Analysing…" : data ? "Analyse again" : "Analyse now"}
          </button>
          {session.data && !session.data.ended_at ? (
            <button type="button" className="btn btn-sm" disabled={end.busy} onClick={() => end.run()}>
              End conversation
            </button>
          ) : session.data?.ended_at ? (
            <span className="muted small">Ended {formatDate(session.data.ended_at)}</span>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The chat header's "Analysis" button and its panel. */
/** Continue this conversation (an imported one, say) with any assistant: a new chat
 * whose history is this conversation's turns. */
function ContinueWith({ sessionId, onClose }: { sessionId: string; onClose: () => void }) {
  const navigate = useNavigate();
  const assistants = $api.useQuery(
    "get",
    "/api/v1/assistants",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results.filter((item) => item.is_active !== false) },
  );
  const [chosen, setChosen] = useState("");
  const start = useAction(
    async () => {
      const assistant = chosen || assistants.data?.[0]?.id;
      const session = await unwrap(
        client.POST("/api/v1/chat/sessions/{session_id}/continue", {
          params: { path: { session_id: sessionId } },
          body: { assistant: assistant ?? null },
        }),
      );
      onClose();
      navigate(`/chat/${session.id}`);
    },
    { invalidates: ["/api/v1/chat/sessions"] },
  );
  if (assistants.isPending) return <Spinner />;
  return (
    <div className="stack">
      <p className="muted small">
        A new chat starts with the assistant you pick; this conversation's questions and answers are its history, so the assistant answers
        with them in mind. This conversation stays as it is.
      </p>
      <ErrorMessage error={assistants.error ?? start.error} />
      <SelectField
        label="Assistant"
        name="continue-assistant"
        value={chosen || assistants.data?.[0]?.id || ""}
        onChange={(event) => setChosen(event.target.value)}
      >
        {(assistants.data ?? []).map((item) => (
          <option key={item.id} value={item.id}>
            {item.name} ({item.model.display_name})
          </option>
        ))}
      </SelectField>
      <div className="row">
        <button
          type="button"
          className="btn btn-primary"
          disabled={start.busy || !assistants.data?.length}
          onClick={() => start.run()}
          data-testid="continue-start"
        >
          {start.busy ? "Starting…" : "Continue in a new chat"}
        </button>
      </div>
    </div>
  );
}

export function ConversationTools({ sessionId, canChange }: { sessionId: string; canChange: boolean }) {
  const [open, setOpen] = useState(false);
  const [continuing, setContinuing] = useState(false);
  return (
    <>
      <button type="button" className="btn btn-sm" onClick={() => setOpen(true)} data-testid="analysis-open">
        Analysis
      </button>
      <button type="button" className="btn btn-sm" onClick={() => setContinuing(true)} data-testid="continue-open">
        Continue with…
      </button>
      <Modal open={open} title="Conversation analysis" onClose={() => setOpen(false)} testId="analysis-modal">
        {open ? <Body sessionId={sessionId} canChange={canChange} /> : null}
      </Modal>
      <Modal open={continuing} title="Continue with another assistant" onClose={() => setContinuing(false)} testId="continue-modal">
        {continuing ? <ContinueWith sessionId={sessionId} onClose={() => setContinuing(false)} /> : null}
      </Modal>
    </>
  );
}

/** The chat sidebar's filter by where conversations come from. */
export function SourceFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  return (
    <>
      <label className="sr-only" htmlFor="session-source">
        Source
      </label>
      <select
        id="session-source"
        className="select"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        data-testid="session-source"
      >
        <option value="">All sources</option>
        <option value="platform">This platform</option>
        <option value="chatgpt">ChatGPT</option>
        <option value="claude">Claude</option>
        <option value="gemini">Gemini</option>
        <option value="json">Imported JSON</option>
      </select>
    </>
  );
}
