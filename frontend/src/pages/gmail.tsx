// Gmail, per member: connect, choose a label and a collection, sync with progress,
// draft replies with an assistant (saved as Gmail drafts, never sent). docs/gmail.md.
import { type FormEvent, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { components } from "../api/schema";
import { Badge, ErrorMessage, formatDate, Loading, SelectField, TextField } from "../ui";

type GmailConnection = components["schemas"]["GmailConnectionOutput"];
type Named = { id: string; name: string };

const OUTCOMES: Record<string, string> = {
  gmail_refused: "Google refused the connection. Try again.",
  gmail_scopes: "Reading mail must be allowed to sync a label.",
  not_a_member: "You are no longer a member of this organization.",
};

function resultText(result: Record<string, unknown> | undefined) {
  if (!result || !("added" in result)) return "";
  return `${result.added} added, ${result.updated} updated, ${result.removed} removed${result.full ? " (full sync)" : ""}`;
}

const GMAIL = ["/api/v1/gmail/connections"];

function ConnectionCard({ connection, assistants }: { connection: GmailConnection; assistants: Named[] }) {
  const path = { connection_id: connection.id };
  const labels = $api.useQuery(
    "get",
    "/api/v1/gmail/connections/{connection_id}/labels",
    { params: { path } },
    { select: (data) => data.labels },
  );
  const collections = $api.useQuery(
    "get",
    "/api/v1/collections",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results as Named[] },
  );
  const [draft, setDraft] = useState<string | null>(null);
  const running = connection.sync_status === "queued" || connection.sync_status === "running";
  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      await unwrap(
        client.PATCH("/api/v1/gmail/connections/{connection_id}", {
          params: { path },
          body: { label_id: String(form.get("label_id") ?? ""), collection: String(form.get("collection") ?? "") },
        }),
      );
    },
    { invalidates: GMAIL },
  );
  const sync = useAction(
    async () => {
      await unwrap(client.POST("/api/v1/gmail/connections/{connection_id}/sync", { params: { path } }));
    },
    { invalidates: GMAIL },
  );
  const disconnect = useAction(
    async () => {
      if (!window.confirm(`Disconnect ${connection.email}? Synced documents stay in their collection.`)) return;
      await unwrap(client.DELETE("/api/v1/gmail/connections/{connection_id}", { params: { path } }));
    },
    { invalidates: GMAIL },
  );
  const reply = useAction(async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const made = await unwrap(
      client.POST("/api/v1/gmail/connections/{connection_id}/drafts", {
        params: { path },
        body: {
          thread_id: String(form.get("thread_id") ?? "").trim(),
          assistant: String(form.get("assistant") ?? ""),
          instructions: String(form.get("instructions") ?? ""),
        },
      }),
    );
    setDraft(made.text);
  });
  const share = connection.sync_threads_total ? connection.sync_threads_done / connection.sync_threads_total : 0;
  return (
    <section className="card card-body stack" aria-label={`Gmail ${connection.email}`} data-testid="gmail-card">
      <div className="row" style={{ justifyContent: "space-between", flexWrap: "wrap", gap: 8 }}>
        <div>
          <h2 style={{ margin: 0, fontSize: "1.05rem" }}>Gmail: {connection.email}</h2>
          <div className="muted small">
            yours only · connected {formatDate(connection.created_at)} · {connection.can_compose ? "reads and drafts" : "reads only"} · last
            sync{" "}
            {connection.last_sync_at
              ? `${formatDate(connection.last_sync_at)}: ${resultText(connection.last_sync_result as Record<string, unknown>)}`
              : "never"}
          </div>
        </div>
        <div className="row" style={{ gap: 8, flexWrap: "wrap" }}>
          {connection.status === "active" ? <Badge tone="success">connected</Badge> : <Badge tone="warning">needs attention</Badge>}
          <button type="button" className="btn btn-sm btn-danger" onClick={() => void disconnect.run()}>
            Disconnect
          </button>
        </div>
      </div>
      {connection.last_error ? (
        <div className="alert alert-warning" role="status" data-testid="gmail-error">
          {connection.last_error}
        </div>
      ) : null}
      <ErrorMessage error={disconnect.error ?? labels.error ?? sync.error} />
      <form className="stack" onSubmit={save.run} noValidate>
        <div className="row" style={{ gap: 12, flexWrap: "wrap", alignItems: "flex-end" }}>
          <div style={{ flex: "1 1 200px" }}>
            <SelectField
              label="Label to sync"
              name="label_id"
              defaultValue={connection.label_id}
              key={`l-${labels.data?.length ?? 0}`}
              error={save.error}
            >
              <option value="">Choose a label</option>
              {(labels.data ?? []).map((label) => (
                <option key={label.id} value={label.id}>
                  {label.name}
                </option>
              ))}
            </SelectField>
          </div>
          <div style={{ flex: "1 1 200px" }}>
            <SelectField
              label="Into the collection"
              name="collection"
              defaultValue={connection.collection_id ?? ""}
              key={`c-${collections.data?.length ?? 0}`}
              error={save.error}
            >
              <option value="">Choose a collection</option>
              {(collections.data ?? []).map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </SelectField>
          </div>
          <div className="row" style={{ gap: 8 }}>
            <button type="submit" className="btn" disabled={save.busy}>
              Save
            </button>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => void sync.run()}
              disabled={sync.busy || running || !connection.label_id}
            >
              Sync now
            </button>
          </div>
        </div>
      </form>
      {running ? (
        <div className="stack-sm" data-testid="gmail-progress">
          <div className="small">
            {connection.sync_status === "queued"
              ? "Queued…"
              : `Syncing ${connection.label_name}: ${connection.sync_threads_done} of ${connection.sync_threads_total} threads`}
          </div>
          <div
            className="progress"
            role="progressbar"
            aria-label="Gmail sync"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(share * 100)}
          >
            <span style={{ width: `${Math.round(share * 100)}%` }} />
          </div>
        </div>
      ) : null}
      {connection.can_compose ? (
        <details>
          <summary>Draft a reply with an assistant</summary>
          <form className="stack" onSubmit={reply.run} noValidate style={{ marginTop: 8 }}>
            <p className="muted small">
              The assistant answers from its knowledge; the reply is saved as a draft in the thread. Nothing is sent: review it in Gmail.
            </p>
            <TextField label="Gmail thread id" name="thread_id" placeholder="18c0000000000000" error={reply.error} />
            <SelectField label="Assistant" name="assistant" defaultValue="" error={reply.error}>
              <option value="">Choose an assistant</option>
              {assistants.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </SelectField>
            <TextField label="Instructions (optional)" name="instructions" placeholder="e.g. friendly, short" error={reply.error} />
            <div>
              <button type="submit" className="btn btn-primary" disabled={reply.busy}>
                {reply.busy ? "Drafting…" : "Draft reply"}
              </button>
            </div>
            {draft !== null ? (
              <div className="alert alert-success" role="status" data-testid="gmail-draft">
                <strong>Saved as a Gmail draft:</strong>
                <div style={{ whiteSpace: "pre-wrap", marginTop: 4 }}>{draft}</div>
              </div>
            ) : null}
          </form>
        </details>
      ) : null}
    </section>
  );
}

export function GmailSection({ assistants }: { assistants: Named[] }) {
  const [params] = useSearchParams();
  const [compose, setCompose] = useState(true);
  // Polled every second while a sync is queued or running (its progress bar).
  const connections = $api.useQuery(
    "get",
    "/api/v1/gmail/connections",
    { params: { query: { page_size: 10 } } },
    {
      select: (data) => data.results,
      refetchInterval: (query) =>
        query.state.data?.results.some((c) => c.sync_status === "queued" || c.sync_status === "running") ? 1000 : false,
    },
  );
  const connect = useAction(async () => {
    const { url } = await unwrap(client.POST("/api/v1/gmail/connect", { body: { compose } }));
    window.location.assign(url);
  });
  const outcome = params.get("gmail");
  return (
    <div className="stack" data-testid="gmail-section">
      {outcome === "connected" ? (
        <div className="alert alert-success" role="status">
          Gmail is connected. Choose a label and a collection, then sync.
        </div>
      ) : null}
      {outcome === "error" ? (
        <div className="alert alert-error" role="alert">
          {OUTCOMES[params.get("code") ?? ""] ?? "Gmail could not be connected. Try again."}
        </div>
      ) : null}
      <ErrorMessage error={connections.error} />
      {connections.isPending ? <Loading /> : null}
      {connections.data?.length ? (
        connections.data.map((c) => <ConnectionCard key={c.id} connection={c} assistants={assistants} />)
      ) : connections.data ? (
        <section className="card card-body stack" aria-label="Gmail" data-testid="gmail-card">
          <h2 style={{ margin: 0, fontSize: "1.05rem" }}>Gmail</h2>
          <p className="muted small" style={{ margin: 0 }}>
            Connect your own mailbox: sync a label into a knowledge collection (each thread one document), and let an assistant draft
            replies. Only you see this connection.
          </p>
          <label className="row small" style={{ gap: 6 }}>
            <input type="checkbox" checked={compose} onChange={(e) => setCompose(e.target.checked)} /> Allow drafting replies (Gmail drafts,
            never sent)
          </label>
          <ErrorMessage error={connect.error} />
          <div>
            <button type="button" className="btn btn-primary" onClick={() => void connect.run()} disabled={connect.busy}>
              Connect Gmail
            </button>
          </div>
        </section>
      ) : null}
    </div>
  );
}
