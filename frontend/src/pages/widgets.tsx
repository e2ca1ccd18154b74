// The embeddable widget: configure, preview live, copy the snippet, read the visitors'
// conversations (read-only). (Issue #16.)
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { components } from "../api/schema";
import { usePermissions } from "../session";
import {
  Badge,
  CopyButton,
  Empty,
  ErrorMessage,
  formatCost,
  formatDate,
  formatNumber,
  Loading,
  PageHeader,
  Pager,
  SelectField,
  TextAreaField,
  TextField,
} from "../ui";

type Widget = components["schemas"]["WidgetOutput"];
type Draft = {
  title: string;
  welcome_message: string;
  primary_color: string;
  text_color: string;
  position: "bottom-right" | "bottom-left";
  suggested_questions: string[];
};

const lines = (value: FormDataEntryValue | null) =>
  String(value ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);

export function WidgetsPage() {
  const { isAdmin } = usePermissions();
  const [page, setPage] = useState(1);
  const [editing, setEditing] = useState<Widget | "new" | null>(null);
  const [viewing, setViewing] = useState<Widget | null>(null);
  const widgets = $api.useQuery("get", "/api/v1/widgets", { params: { query: { page, page_size: 50 } } });
  return (
    <div className="stack-lg">
      <PageHeader
        title="Website widget"
        description="A chat bubble for your website: one script tag, one assistant, only on the sites you allow."
        actions={
          isAdmin ? (
            <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>
              New widget
            </button>
          ) : null
        }
      />
      {editing ? <WidgetEditor widget={editing === "new" ? null : editing} onDone={() => setEditing(null)} /> : null}
      <section className="card" aria-label="Widgets">
        <ErrorMessage error={widgets.error} />
        {widgets.isPending ? <Loading /> : null}
        {widgets.data ? (
          widgets.data.results.length ? (
            <div className="stack">
              {widgets.data.results.map((widget) => (
                <article
                  key={widget.id}
                  className="stack"
                  data-testid="widget-row"
                  style={{ borderBottom: "1px solid var(--border, #e5e7eb)", paddingBottom: 12 }}
                >
                  <div className="row" style={{ justifyContent: "space-between", flexWrap: "wrap", gap: 8 }}>
                    <div>
                      <strong>{widget.name}</strong>{" "}
                      {widget.is_active ? <Badge tone="success">active</Badge> : <Badge tone="warning">off</Badge>}
                      <div className="muted small">
                        {formatNumber(widget.conversations)} conversations · {formatNumber(widget.messages)} messages ·{" "}
                        {formatCost(widget.cost)}
                      </div>
                      <div className="muted small">
                        Allowed on: {widget.allowed_domains.length ? widget.allowed_domains.join(", ") : "no site yet"}
                      </div>
                    </div>
                    <div className="row" style={{ gap: 4 }}>
                      <button type="button" className="btn btn-sm" onClick={() => setViewing(viewing?.id === widget.id ? null : widget)}>
                        Conversations
                      </button>
                      {isAdmin ? (
                        <button type="button" className="btn btn-sm" onClick={() => setEditing(widget)}>
                          Edit
                        </button>
                      ) : null}
                    </div>
                  </div>
                  <div className="secret">
                    <code data-testid="widget-snippet" style={{ wordBreak: "break-all" }}>
                      {widget.snippet}
                    </code>
                    <CopyButton text={widget.snippet} label="Copy snippet" />
                  </div>
                  {viewing?.id === widget.id ? <Conversations widget={widget} /> : null}
                </article>
              ))}
            </div>
          ) : (
            <Empty title="No widget yet">Create one, allow your site's domain, and paste the snippet into your pages.</Empty>
          )
        ) : null}
        {widgets.data ? <Pager page={page} count={widgets.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>
      <section className="card stack" aria-label="Browser extension">
        <h2 style={{ margin: 0 }}>Browser extension</h2>
        <p className="muted" style={{ margin: 0 }}>
          Ask your assistants about the page you are reading, or save it to a collection, from Chromium's side panel. Unzip it, open
          chrome://extensions, turn on developer mode and load the folder; sign in with an API key.
        </p>
        <div>
          <a className="btn" href="/downloads/browser-extension.zip" download>
            Download the extension (.zip)
          </a>
        </div>
      </section>
    </div>
  );
}

function WidgetEditor({ widget, onDone }: { widget: Widget | null; onDone: () => void }) {
  const assistants = $api.useQuery(
    "get",
    "/api/v1/assistants",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results },
  );
  const [draft, setDraft] = useState<Draft>({
    title: widget?.title ?? "Ask us",
    welcome_message: widget?.welcome_message ?? "Hello! How can we help?",
    primary_color: widget?.primary_color ?? "#2563eb",
    text_color: widget?.text_color ?? "#ffffff",
    position: (widget?.position as Draft["position"]) ?? "bottom-right",
    suggested_questions: widget?.suggested_questions ?? [],
  });
  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body = {
        name: String(form.get("name") ?? ""),
        assistant: String(form.get("assistant") ?? ""),
        ...draft,
        allowed_domains: lines(form.get("allowed_domains")),
        feedback_enabled: form.get("feedback_enabled") === "on",
        show_sources: form.get("show_sources") === "on",
        file_upload_enabled: form.get("file_upload_enabled") === "on",
        is_active: form.get("is_active") === "on",
        messages_per_minute: Number(form.get("messages_per_minute")),
        messages_per_minute_per_address: Number(form.get("messages_per_minute_per_address")),
        max_message_chars: Number(form.get("max_message_chars")),
        max_conversation_messages: Number(form.get("max_conversation_messages")),
      };
      if (widget) {
        await unwrap(client.PATCH("/api/v1/widgets/{widget_id}", { params: { path: { widget_id: widget.id } }, body }));
      } else {
        await unwrap(client.POST("/api/v1/widgets", { body }));
      }
      onDone();
    },
    { invalidates: ["/api/v1/widgets"] },
  );
  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  return (
    <section className="card" aria-label={widget ? `Edit ${widget.name}` : "New widget"}>
      <div className="widget-editor" style={{ display: "grid", gap: 24, gridTemplateColumns: "repeat(auto-fit, minmax(280px, 1fr))" }}>
        <form className="stack" onSubmit={save.run} noValidate>
          <TextField label="Name" name="name" required defaultValue={widget?.name ?? ""} error={save.error} />
          <SelectField label="Assistant" name="assistant" defaultValue={widget?.assistant ?? ""} error={save.error}>
            <option value="">Choose…</option>
            {(assistants.data ?? []).map((assistant) => (
              <option key={assistant.id} value={assistant.id}>
                {assistant.name}
              </option>
            ))}
          </SelectField>
          <TextField label="Title" name="title" value={draft.title} onChange={(e) => set({ title: e.target.value })} error={save.error} />
          <TextAreaField
            label="Welcome message"
            name="welcome_message"
            value={draft.welcome_message}
            onChange={(e) => set({ welcome_message: e.target.value })}
            error={save.error}
          />
          <div className="row" style={{ gap: 12, flexWrap: "wrap" }}>
            <TextField
              label="Colour"
              name="primary_color"
              type="color"
              value={draft.primary_color}
              onChange={(e) => set({ primary_color: e.target.value })}
              error={save.error}
            />
            <TextField
              label="Text colour"
              name="text_color"
              type="color"
              value={draft.text_color}
              onChange={(e) => set({ text_color: e.target.value })}
              error={save.error}
            />
            <SelectField
              label="Position"
              name="position"
              value={draft.position}
              onChange={(e) => set({ position: e.target.value as Draft["position"] })}
              error={save.error}
            >
              <option value="bottom-right">Bottom right</option>
              <option value="bottom-left">Bottom left</option>
            </SelectField>
          </div>
          <TextAreaField
            label="Allowed domains"
            name="allowed_domains"
            hint="One per line: shop.example.com, *.example.com for subdomains, localhost:8080 with a port."
            defaultValue={(widget?.allowed_domains ?? []).join("\n")}
            error={save.error}
          />
          <TextAreaField
            label="Suggested questions"
            name="suggested_questions"
            hint="One per line (up to 6)."
            value={draft.suggested_questions.join("\n")}
            onChange={(e) => set({ suggested_questions: e.target.value.split("\n") })}
            error={save.error}
          />
          <div className="row" style={{ gap: 12, flexWrap: "wrap" }}>
            <TextField
              label="Messages per minute"
              name="messages_per_minute"
              type="number"
              min={1}
              defaultValue={widget?.messages_per_minute ?? 60}
              error={save.error}
            />
            <TextField
              label="Per visitor address"
              name="messages_per_minute_per_address"
              type="number"
              min={1}
              defaultValue={widget?.messages_per_minute_per_address ?? 6}
              error={save.error}
            />
            <TextField
              label="Longest message"
              name="max_message_chars"
              type="number"
              min={10}
              defaultValue={widget?.max_message_chars ?? 1000}
              error={save.error}
            />
            <TextField
              label="Longest conversation"
              name="max_conversation_messages"
              type="number"
              min={2}
              defaultValue={widget?.max_conversation_messages ?? 40}
              error={save.error}
            />
          </div>
          <div className="checks">
            <label className="check">
              <input type="checkbox" name="feedback_enabled" defaultChecked={widget?.feedback_enabled ?? true} /> Feedback buttons
            </label>
            <label className="check">
              <input type="checkbox" name="show_sources" defaultChecked={widget?.show_sources ?? true} /> Show sources
            </label>
            <label className="check">
              <input type="checkbox" name="file_upload_enabled" defaultChecked={widget?.file_upload_enabled ?? false} /> Visitors may attach
              files
            </label>
            <label className="check">
              <input type="checkbox" name="is_active" defaultChecked={widget?.is_active ?? true} /> Active
            </label>
          </div>
          <ErrorMessage error={save.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={onDone}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={save.busy}>
              {widget ? "Save widget" : "Create widget"}
            </button>
          </div>
        </form>
        <Preview draft={draft} />
      </div>
    </section>
  );
}

function Preview({ draft }: { draft: Draft }) {
  const colours = { background: draft.primary_color, color: draft.text_color };
  const left = draft.position === "bottom-left";
  return (
    <div
      aria-label="Preview"
      role="img"
      data-testid="widget-preview"
      style={{
        background: "#f3f4f6",
        borderRadius: 12,
        padding: 16,
        minHeight: 380,
        display: "flex",
        flexDirection: "column",
        justifyContent: "flex-end",
        alignItems: left ? "flex-start" : "flex-end",
      }}
    >
      <div
        style={{
          width: "100%",
          maxWidth: 300,
          background: "#fff",
          borderRadius: 12,
          boxShadow: "0 8px 30px rgba(0,0,0,.15)",
          overflow: "hidden",
          marginBottom: 10,
        }}
      >
        <div style={{ ...colours, padding: "10px 12px", fontWeight: 600 }}>{draft.title || "Ask us"}</div>
        <div style={{ padding: 10, display: "flex", flexDirection: "column", gap: 8, fontSize: 13 }}>
          {draft.welcome_message ? (
            <div style={{ background: "#f3f4f6", borderRadius: 10, padding: "6px 9px", alignSelf: "flex-start" }}>
              {draft.welcome_message}
            </div>
          ) : null}
          <div style={{ display: "flex", flexWrap: "wrap", gap: 6 }}>
            {draft.suggested_questions
              .filter((q) => q.trim())
              .map((q) => (
                <span
                  key={q}
                  style={{
                    border: `1px solid ${draft.primary_color}`,
                    color: draft.primary_color,
                    borderRadius: 14,
                    padding: "2px 8px",
                    fontSize: 12,
                  }}
                >
                  {q}
                </span>
              ))}
          </div>
        </div>
        <div style={{ borderTop: "1px solid #e5e7eb", padding: 8, display: "flex", gap: 6 }}>
          <div style={{ flex: 1, border: "1px solid #d1d5db", borderRadius: 8, padding: 6, color: "#9ca3af", fontSize: 13 }}>
            Ask a question…
          </div>
          <div style={{ ...colours, borderRadius: 8, padding: "6px 10px", fontSize: 13 }}>Send</div>
        </div>
      </div>
      <div style={{ ...colours, width: 48, height: 48, borderRadius: "50%", boxShadow: "0 4px 14px rgba(0,0,0,.25)" }} />
    </div>
  );
}

function Conversations({ widget }: { widget: Widget }) {
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<string | null>(null);
  const sessions = $api.useQuery("get", "/api/v1/widgets/{widget_id}/sessions", {
    params: { path: { widget_id: widget.id }, query: { page, page_size: 20 } },
  });
  const messages = $api.useQuery(
    "get",
    "/api/v1/chat/sessions/{session_id}/messages",
    { params: { path: { session_id: open ?? "" }, query: { page_size: 100 } } },
    { enabled: open !== null, placeholderData: undefined },
  );
  return (
    <div className="stack" aria-label={`Conversations of ${widget.name}`}>
      <ErrorMessage error={sessions.error ?? messages.error} />
      {sessions.data ? (
        sessions.data.results.length ? (
          <ul className="stack" style={{ listStyle: "none", padding: 0 }}>
            {sessions.data.results.map((session) => (
              <li key={session.id}>
                <button
                  type="button"
                  className="btn btn-sm"
                  onClick={() => setOpen(open === session.id ? null : session.id)}
                  aria-expanded={open === session.id}
                >
                  {session.title || "Conversation"}
                </button>{" "}
                <span className="muted small">
                  {session.message_count} messages · {formatDate(session.last_message_at ?? session.created_at)}
                </span>
                {open === session.id && messages.data ? (
                  <div className="stack" data-testid="widget-conversation" style={{ marginTop: 8 }}>
                    {messages.data.results.map((message) => (
                      <div key={message.id} className="small">
                        <strong>{message.role === "user" ? "Visitor" : "Assistant"}:</strong> {message.content}
                      </div>
                    ))}
                  </div>
                ) : null}
              </li>
            ))}
          </ul>
        ) : (
          <Empty title="No conversations yet" />
        )
      ) : (
        <Loading />
      )}
      {sessions.data ? <Pager page={page} count={sessions.data.count} pageSize={20} onPage={setPage} /> : null}
    </div>
  );
}
