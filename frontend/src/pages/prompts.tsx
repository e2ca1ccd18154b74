// Prompt templates: the library, and an editor with highlighted variables, a live
// preview and the version history (publish, roll back, diff).
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { components } from "../api/schema";
import { usePermissions } from "../session";
import {
  Badge,
  Empty,
  ErrorMessage,
  FieldErrors,
  fieldErrors,
  formatCost,
  formatDate,
  formatNumber,
  Loading,
  PageHeader,
  TextField,
} from "../ui";

type Template = components["schemas"]["TemplateOutput"];
type Version = components["schemas"]["VersionWithUsage"];
type Variable = { name: string; type: string; required: boolean; default: unknown; help: string; choices: string[] };

const TYPES = ["short_text", "long_text", "number", "choice", "boolean", "date"];

export function PromptsPage() {
  const { canEdit } = usePermissions();
  const navigate = useNavigate();
  const [search, setSearch] = useState("");
  const templates = $api.useQuery("get", "/api/v1/prompts", { params: { query: { search: search || undefined, page_size: 100 } } });
  const create = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const name = String(new FormData(event.currentTarget).get("name") ?? "");
      const created = await unwrap(
        client.POST("/api/v1/prompts", {
          body: { name, body: "Write about {{ topic }}.", variables: [{ name: "topic", type: "short_text" }], note: "First version" },
        }),
      );
      navigate(`/prompts/${created.id}`);
    },
    { invalidates: ["/api/v1/prompts"] },
  );
  const importFile = useAction(
    async (file: File) => {
      const template = JSON.parse(await file.text());
      const created = await unwrap(client.POST("/api/v1/prompts/import", { body: { template } }));
      navigate(`/prompts/${created.id}`);
    },
    { invalidates: ["/api/v1/prompts"] },
  );
  return (
    <div className="stack-lg">
      <PageHeader title="Prompt templates" description="Reusable prompts with typed variables. Type / in the chat box to use one." />
      {canEdit ? (
        <div className="card">
          <div className="card-body">
            <form className="row" onSubmit={create.run} noValidate>
              <TextField label="New template" name="name" placeholder="Weekly summary" error={create.error} required />
              <button type="submit" className="btn btn-primary" disabled={create.busy} data-testid="prompt-create">
                Create
              </button>
              <label className="btn">
                Import JSON
                <input
                  type="file"
                  accept="application/json"
                  className="sr-only"
                  onChange={(e) => e.target.files?.[0] && void importFile.run(e.target.files[0])}
                />
              </label>
            </form>
            <ErrorMessage error={create.error ?? importFile.error} />
          </div>
        </div>
      ) : null}
      <TextField label="Search" name="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      {templates.isPending ? <Loading /> : null}
      <ErrorMessage error={templates.error} />
      {templates.data && templates.data.results.length === 0 ? <Empty title="No templates yet" /> : null}
      {templates.data && templates.data.results.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Category</th>
                <th className="num">Version</th>
                <th className="num">Uses</th>
                <th className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {templates.data.results.map((t: Template) => (
                <tr key={t.id} data-testid="prompt-row">
                  <td>
                    <Link to={`/prompts/${t.id}`}>{t.name}</Link>
                    {t.visibility === "private" ? <Badge>private</Badge> : null}
                    <div className="muted small">{t.tags.join(", ")}</div>
                  </td>
                  <td>{t.category || "—"}</td>
                  <td className="num">{t.published_version ? `v${t.published_version.number}` : "—"}</td>
                  <td className="num">{t.uses}</td>
                  <td className="num">{formatCost(t.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

/** The body with each {{ … }} expression marked, so variables stand out. */
function HighlightedBody({ body, known }: { body: string; known: Set<string> }) {
  const parts = body.split(/(\{\{[^}]*\}\}|\{%[^%]*%\})/g);
  return (
    <pre className="chunk-text" data-testid="prompt-highlight" style={{ whiteSpace: "pre-wrap" }}>
      {parts.map((part, index) => {
        if (!part.startsWith("{{") && !part.startsWith("{%")) return part;
        const name = part
          .replace(/[{}%]/g, "")
          .trim()
          .split(/[.|\s(]/)[0];
        const ok = part.startsWith("{%") || known.has(name);
        return (
          <mark key={index} className={ok ? "badge badge-accent" : "badge badge-danger"} title={ok ? "variable" : "not declared"}>
            {part}
          </mark>
        );
      })}
    </pre>
  );
}

function VariablesEditor({ variables, onChange, error }: { variables: Variable[]; onChange: (v: Variable[]) => void; error: unknown }) {
  const set = (index: number, patch: Partial<Variable>) => onChange(variables.map((v, i) => (i === index ? { ...v, ...patch } : v)));
  return (
    <div className="stack">
      <strong>Variables</strong>
      {variables.map((variable, index) => (
        <div key={index} className="row" data-testid="prompt-variable">
          <input
            className="input"
            aria-label="Variable name"
            value={variable.name}
            onChange={(e) => set(index, { name: e.target.value })}
            style={{ maxWidth: 160 }}
          />
          <select
            className="select"
            aria-label="Variable type"
            value={variable.type}
            onChange={(e) => set(index, { type: e.target.value })}
          >
            {TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
          {variable.type === "choice" ? (
            <input
              className="input"
              aria-label="Choices"
              placeholder="choices, comma-separated"
              value={variable.choices.join(",")}
              onChange={(e) =>
                set(index, {
                  choices: e.target.value
                    .split(",")
                    .map((c) => c.trim())
                    .filter(Boolean),
                })
              }
            />
          ) : null}
          <label className="check">
            <input type="checkbox" checked={variable.required} onChange={(e) => set(index, { required: e.target.checked })} /> required
          </label>
          <button
            type="button"
            className="btn btn-sm btn-ghost"
            onClick={() => onChange(variables.filter((_, i) => i !== index))}
            aria-label={`Remove ${variable.name}`}
          >
            ✕
          </button>
        </div>
      ))}
      <div>
        <button
          type="button"
          className="btn btn-sm"
          onClick={() =>
            onChange([
              ...variables,
              { name: `var${variables.length + 1}`, type: "short_text", required: true, default: null, help: "", choices: [] },
            ])
          }
        >
          Add variable
        </button>
      </div>
      <FieldErrors error={error} name="variables" />
    </div>
  );
}

export function PromptEditPage() {
  const { templateId = "" } = useParams();
  const { canEdit } = usePermissions();
  const path = { params: { path: { template_id: templateId } } };
  const template = $api.useQuery("get", "/api/v1/prompts/{template_id}", path, { placeholderData: undefined });
  const versions = $api.useQuery(
    "get",
    "/api/v1/prompts/{template_id}/versions",
    { params: { path: { template_id: templateId }, query: { page_size: 100 } } },
    { placeholderData: undefined },
  );
  const [body, setBody] = useState("");
  const [variables, setVariables] = useState<Variable[]>([]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [note, setNote] = useState("");
  const [preview, setPreview] = useState<{ text?: string; error?: unknown }>({});
  const [diff, setDiff] = useState<string>("");

  useEffect(() => {
    const published = template.data?.published_version;
    if (published) {
      setBody(published.body);
      setVariables(published.variables as Variable[]);
    }
  }, [template.data?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  // Live preview, a moment after typing stops.
  useEffect(() => {
    const timer = window.setTimeout(() => {
      const typed: Record<string, unknown> = {};
      for (const v of variables) {
        const raw = values[v.name];
        if (raw === undefined || raw === "") continue;
        typed[v.name] = v.type === "number" ? Number(raw) : v.type === "boolean" ? raw === "true" : raw;
      }
      unwrap(client.POST("/api/v1/prompt-preview", { body: { body, variables, values: typed } }))
        .then((answer) => setPreview({ text: answer.text }))
        .catch((error) => setPreview({ error }));
    }, 350);
    return () => window.clearTimeout(timer);
  }, [body, variables, values]);

  const known = useMemo(() => new Set(variables.map((v) => v.name)), [variables]);
  const save = useAction(
    async (publish: boolean) => {
      await unwrap(client.POST("/api/v1/prompts/{template_id}/versions", { ...path, body: { body, variables, note, publish } }));
      setNote("");
    },
    { invalidates: ["/api/v1/prompts"] },
  );
  const publish = useAction(
    async (number: number) => {
      await unwrap(
        client.POST("/api/v1/prompts/{template_id}/versions/{number}/publish", {
          params: { path: { template_id: templateId, number: String(number) } },
        }),
      );
    },
    { invalidates: ["/api/v1/prompts"] },
  );
  const showDiff = useAction(async (from: number, to: number) => {
    const answer = await unwrap(
      client.GET("/api/v1/prompts/{template_id}/diff", {
        params: { path: { template_id: templateId }, query: { from_version: from, to_version: to } },
      }),
    );
    setDiff(answer.body || "(same text)");
  });
  const exportJson = async () => {
    const data = await unwrap(client.GET("/api/v1/prompts/{template_id}/export", path));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    link.download = `${data.name}.json`;
    link.click();
  };

  if (template.isPending) return <Loading />;
  if (template.error) return <ErrorMessage error={template.error} />;
  const t = template.data!;
  const published = t.published_version?.number;
  return (
    <div className="stack-lg">
      <PageHeader
        title={t.name}
        description={`${t.category || "No category"} · published v${published ?? "—"} · ${t.uses} ${t.uses === 1 ? "use" : "uses"} · ${formatCost(t.cost)}`}
        actions={
          <button type="button" className="btn" onClick={() => void exportJson()}>
            Export JSON
          </button>
        }
      />
      <div className="grid-2">
        <div className="card">
          <div className="card-body stack">
            <label htmlFor="prompt-body">
              <strong>Body</strong>
            </label>
            <textarea
              id="prompt-body"
              className="textarea mono"
              rows={8}
              value={body}
              onChange={(e) => setBody(e.target.value)}
              data-testid="prompt-body"
              readOnly={!canEdit}
              aria-invalid={fieldErrors(save.error, "body") ? true : undefined}
              aria-describedby={fieldErrors(save.error, "body") ? "prompt-body-errors" : undefined}
            />
            <FieldErrors error={save.error} name="body" id="prompt-body-errors" />
            <HighlightedBody body={body} known={known} />
            <VariablesEditor variables={variables} onChange={setVariables} error={save.error} />
            {canEdit ? (
              <div className="row">
                <input
                  className="input grow"
                  aria-label="Version note"
                  placeholder="What changed"
                  value={note}
                  onChange={(e) => setNote(e.target.value)}
                  aria-invalid={fieldErrors(save.error, "note") ? true : undefined}
                  aria-describedby={fieldErrors(save.error, "note") ? "prompt-note-errors" : undefined}
                />
                <button type="button" className="btn" disabled={save.busy} onClick={() => void save.run(false)}>
                  Save version
                </button>
                <button
                  type="button"
                  className="btn btn-primary"
                  disabled={save.busy}
                  onClick={() => void save.run(true)}
                  data-testid="prompt-publish"
                >
                  Save and publish
                </button>
              </div>
            ) : null}
            <FieldErrors error={save.error} name="note" id="prompt-note-errors" />
            <ErrorMessage error={save.error} />
          </div>
        </div>
        <div className="card">
          <div className="card-body stack">
            <strong>Preview</strong>
            {variables.map((v) => (
              <div key={v.name} className="field">
                <label htmlFor={`value-${v.name}`}>{v.name}</label>
                {v.type === "choice" ? (
                  <select
                    id={`value-${v.name}`}
                    className="select"
                    value={values[v.name] ?? ""}
                    onChange={(e) => setValues({ ...values, [v.name]: e.target.value })}
                  >
                    <option value="">—</option>
                    {v.choices.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                  </select>
                ) : (
                  <input
                    id={`value-${v.name}`}
                    className="input"
                    type={v.type === "number" ? "number" : v.type === "date" ? "date" : "text"}
                    value={values[v.name] ?? ""}
                    onChange={(e) => setValues({ ...values, [v.name]: e.target.value })}
                  />
                )}
                {fieldErrors(preview.error, `values.${v.name}`)?.map((m) => (
                  <div key={m} className="field-errors">
                    {m}
                  </div>
                ))}
              </div>
            ))}
            {preview.text !== undefined && !preview.error ? (
              <pre className="chunk-text" data-testid="prompt-preview" style={{ whiteSpace: "pre-wrap" }}>
                {preview.text}
              </pre>
            ) : (
              <div className="muted small" data-testid="prompt-preview-problem">
                {preview.error
                  ? Object.values((preview.error as { fields?: Record<string, string[]> }).fields ?? {})
                      .flat()
                      .join(" ") || "Fill in the variables to see the text."
                  : ""}
              </div>
            )}
          </div>
        </div>
      </div>
      <div className="card">
        <div className="card-header">
          <strong>Versions</strong>
        </div>
        <div className="table-wrap">
          <table className="table">
            <tbody>
              {versions.data?.results.map((v: Version) => (
                <tr key={v.id} data-testid="prompt-version">
                  <td>
                    v{v.number} {v.number === published ? <Badge tone="success">published</Badge> : null}
                    <div className="muted small">{v.note}</div>
                  </td>
                  <td className="muted small">
                    {formatDate(v.created_at)}
                    <div data-testid="prompt-version-usage">
                      {v.uses} {v.uses === 1 ? "use" : "uses"} · {formatNumber(v.tokens)} tokens · {formatCost(v.cost)}
                      {v.last_used_at ? ` · last ${formatDate(v.last_used_at)}` : ""}
                    </div>
                  </td>
                  <td className="num">
                    <div className="row" style={{ justifyContent: "flex-end" }}>
                      {published && v.number !== published ? (
                        <button type="button" className="btn btn-sm" onClick={() => void showDiff.run(v.number, published)}>
                          Diff with v{published}
                        </button>
                      ) : null}
                      {canEdit && v.number !== published ? (
                        <button type="button" className="btn btn-sm" onClick={() => void publish.run(v.number)}>
                          {published && v.number < published ? "Roll back to this" : "Publish"}
                        </button>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <ErrorMessage error={publish.error ?? showDiff.error} />
        {diff ? (
          <pre className="chunk-text" style={{ whiteSpace: "pre-wrap", margin: 12 }} data-testid="prompt-diff">
            {diff}
          </pre>
        ) : null}
      </div>
    </div>
  );
}
