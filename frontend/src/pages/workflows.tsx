// Workflows: the list, a builder (ordered steps with a form per type, triggers, input
// fields, validation before publish), a test run with live step progress, and the run
// history with each step's input, output, error, time and cost.
import { type FormEvent, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction, useInvalidate } from "../api/query";
import { useQueryClient } from "@tanstack/react-query";
import type { components } from "../api/schema";
import { usePermissions } from "../session";
import { Badge, Empty, ErrorMessage, fieldErrors, formatCost, formatDate, Loading, PageHeader, TextField } from "../ui";

type Workflow = components["schemas"]["WorkflowOutput"];
type RunRow = components["schemas"]["RunOutput"];
type StepRun = components["schemas"]["StepRun"];
type Step = Record<string, unknown> & { key: string; type: string };
type InputField = { name: string; type: string; required?: boolean; default?: string };
type Draft = { steps: Step[]; input_schema: InputField[]; triggers: Record<string, unknown>; settings: Record<string, unknown> };

const STEP_TYPES: Record<string, { label: string; fields: [string, string, string][] }> = {
  // [field, label, kind]: kind "text" (one line), "area" (template), "list" (comma-separated)
  transform: {
    label: "Transform",
    fields: [
      ["template", "Template", "area"],
      ["output", "Output (text or json)", "text"],
    ],
  },
  prompt: {
    label: "Prompt template",
    fields: [
      ["template_id", "Template", "template"],
      ["model", "Model (provider/model_id)", "text"],
      ["values", "Values (name=template per line)", "map"],
    ],
  },
  retrieve: {
    label: "Retrieve",
    fields: [
      ["query", "Query", "area"],
      ["collection_ids", "Collections", "collections"],
      ["since_days", "Only documents added in the last N days (7: last week)", "number"],
      ["top_k", "Passages (at most 20)", "number"],
    ],
  },
  ask_assistant: {
    label: "Ask an assistant",
    fields: [
      ["assistant_id", "Assistant", "assistant"],
      ["message", "Message", "area"],
    ],
  },
  condition: {
    label: "Condition",
    fields: [
      ["expression", "Expression (e.g. steps.find.count > 0)", "text"],
      ["else_goto", "If false, go to (step key or end)", "text"],
    ],
  },
  http_request: {
    label: "HTTP request",
    fields: [
      ["method", "Method", "text"],
      ["url", "URL", "text"],
      ["headers", "Headers (Name=value or secret:NAME per line)", "map"],
      ["body", "Body", "area"],
    ],
  },
  save_document: {
    label: "Save to a collection",
    fields: [
      ["collection_id", "Collection", "collection"],
      ["title", "Title", "text"],
      ["text", "Text", "area"],
    ],
  },
  notify: {
    label: "Notify (e-mail, Slack, Teams)",
    fields: [
      ["to", "To (comma-separated)", "list"],
      ["subject", "Subject", "text"],
      ["body", "Body", "area"],
    ],
  },
  approval: {
    label: "Approval",
    fields: [
      ["message", "Message", "area"],
      ["timeout_hours", "Timeout (hours)", "number"],
    ],
  },
};
// Where a notify step sends: e-mail, or a channel of an installed Slack or Teams bot.
const NOTIFY_TARGETS: [string, string][] = [
  ["email", "E-mail"],
  ["slack", "Slack channel"],
  ["teams", "Teams channel"],
];
type Destination = components["schemas"]["NotifyDestination"];

function notifyFields(step: Step): [string, string, string][] {
  const target = String(step.target ?? "email");
  if (target === "email") return STEP_TYPES.notify.fields;
  return [
    ["channel", target === "slack" ? "Slack channel" : "Teams channel", "destination"],
    ["subject", "Title (optional)", "text"],
    ["body", "Message", "area"],
  ];
}

function destinationLabel(d: Destination): string {
  const name = d.name || (d.target === "slack" ? `#${d.channel_id}` : d.channel_id);
  return `${d.integration_name} · ${name}`;
}

const EVENTS = ["document.completed", "document.failed", "conversation.ended", "conversation.imported"];
const FINISHED = ["succeeded", "failed", "cancelled", "timed_out"];

function tone(status?: string): "success" | "danger" | "warning" | "info" | undefined {
  if (status === "succeeded" || status === "copied") return "success";
  if (status === "failed" || status === "timed_out") return "danger";
  if (status === "waiting_approval" || status === "waiting" || status === "retrying") return "warning";
  if (status === "running" || status === "queued") return "info";
  return undefined;
}

export function WorkflowsPage() {
  const { canEdit } = usePermissions();
  const navigate = useNavigate();
  const workflows = $api.useQuery("get", "/api/v1/workflows", { params: { query: { page_size: 100 } } });
  const create = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const name = String(new FormData(event.currentTarget).get("name") ?? "");
      const created = await unwrap(client.POST("/api/v1/workflows", { body: { name } }));
      navigate(`/workflows/${created.id}`);
    },
    { invalidates: ["/api/v1/workflows"] },
  );
  return (
    <div className="stack-lg">
      <PageHeader
        title="Workflows"
        description="Steps that run on a schedule, a webhook, a platform event or by hand; every run is recorded step by step."
      />
      {canEdit ? (
        <form className="row" onSubmit={create.run} noValidate>
          <TextField label="New workflow" name="name" placeholder="Monday digest" error={create.error} />
          <button type="submit" className="btn btn-primary" disabled={create.busy} data-testid="workflow-create">
            Create
          </button>
        </form>
      ) : null}
      {workflows.isPending ? <Loading /> : null}
      <ErrorMessage error={workflows.error} />
      {workflows.data?.results.length === 0 ? <Empty title="No workflows yet" /> : null}
      {workflows.data && workflows.data.results.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Version</th>
                <th>Triggers</th>
                <th>Next run</th>
              </tr>
            </thead>
            <tbody>
              {workflows.data.results.map((w: Workflow) => (
                <tr key={w.id} data-testid="workflow-row">
                  <td>
                    <Link to={`/workflows/${w.id}`}>{w.name}</Link>
                  </td>
                  <td>{w.published_version ? `v${w.published_version.number}` : <Badge>draft</Badge>}</td>
                  <td className="small">
                    {[w.schedule_cron && `cron ${w.schedule_cron}`, ...w.event_types].filter(Boolean).join(", ") || "manual"}
                  </td>
                  <td className="small">{formatDate(w.next_run_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function useOptions() {
  const templates = $api.useQuery("get", "/api/v1/prompts", { params: { query: { page_size: 100 } } });
  const assistants = $api.useQuery("get", "/api/v1/assistants", { params: { query: { page_size: 100 } } });
  const collections = $api.useQuery("get", "/api/v1/collections", { params: { query: { page_size: 100 } } });
  const destinations = $api.useQuery("get", "/api/v1/workflow-notify-destinations", { params: { query: { page_size: 100 } } });
  return {
    destinations: destinations.data?.results ?? [],
    templates: templates.data?.results.map((t) => ({ id: t.id, name: t.name })) ?? [],
    assistants: assistants.data?.results.map((a) => ({ id: a.id, name: a.name })) ?? [],
    collections: collections.data?.results.map((c) => ({ id: c.id, name: c.name })) ?? [],
  };
}

// "topic=refunds": a field with its default (what a scheduled or event run, which has no
// caller to fill it in, gets); "topic": a field without one.
function inputField(text: string): InputField {
  const at = text.indexOf("=");
  const name = (at > 0 ? text.slice(0, at) : text).trim();
  const value = at > 0 ? text.slice(at + 1).trim() : "";
  return value ? { name, type: "short_text", required: false, default: value } : { name, type: "short_text", required: false };
}

function mapToText(value: unknown): string {
  return Object.entries((value as Record<string, string>) ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

function textToMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function StepForm({
  step,
  index,
  earlier,
  error,
  options,
  onChange,
}: {
  step: Step;
  index: number;
  earlier: string[];
  error: unknown;
  options: ReturnType<typeof useOptions>;
  onChange: (s: Step) => void;
}) {
  const spec = STEP_TYPES[step.type];
  const problem = (field: string) =>
    fieldErrors(error, `steps.${index}.${field}`)?.map((m) => (
      <div key={m} className="field-errors" data-testid={`step-error-${index}-${field}`}>
        {m}
      </div>
    ));
  const pick = (field: string, list: { id: string; name: string }[]) => (
    <select
      className="select"
      aria-labelledby={`step-${index}-${field}-label`}
      value={String(step[field] ?? "")}
      onChange={(e) => onChange({ ...step, [field]: e.target.value })}
    >
      <option value="">—</option>
      {list.map((o) => (
        <option key={o.id} value={o.id}>
          {o.name}
        </option>
      ))}
    </select>
  );
  return (
    <div className="stack">
      <div className="muted small" data-testid={`step-available-${index}`}>
        Available here: <span className="mono">input.*</span>
        {earlier.map((k) => (
          <span key={k} className="mono">
            {" "}
            · steps.{k}
          </span>
        ))}
      </div>
      {problem("key")}
      {problem("type")}
      {step.type === "notify" ? (
        <div className="field">
          <label htmlFor={`step-${index}-target`}>Send to</label>
          <select
            id={`step-${index}-target`}
            className="select"
            data-testid={`step-target-${index}`}
            value={String(step.target ?? "email")}
            onChange={(e) => {
              const { to: _to, integration_id: _i, channel_id: _c, target: _t, ...rest } = step;
              onChange(e.target.value === "email" ? { ...rest, to: [] } : { ...rest, target: e.target.value });
            }}
          >
            {NOTIFY_TARGETS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          {problem("target")}
        </div>
      ) : null}
      {(step.type === "notify" ? notifyFields(step) : spec.fields).map(([field, label, kind]) => (
        <div className="field" key={field}>
          {/* A picker's id is on its wrapper (browser tests select "#step-N-field select"):
              the select takes its name from the label by id. */}
          <label htmlFor={`step-${index}-${field}`} id={`step-${index}-${field}-label`}>
            {label}
          </label>
          {kind === "area" ? (
            <textarea
              id={`step-${index}-${field}`}
              className="textarea mono"
              rows={3}
              value={String(step[field] ?? "")}
              onChange={(e) => onChange({ ...step, [field]: e.target.value })}
            />
          ) : kind === "template" ? (
            <div id={`step-${index}-${field}`}>{pick(field, options.templates)}</div>
          ) : kind === "destination" ? (
            <>
              <select
                id={`step-${index}-${field}`}
                className="select"
                data-testid={`step-destination-${index}`}
                value={step.integration_id ? `${String(step.integration_id)}|${String(step.channel_id ?? "")}` : ""}
                onChange={(e) => {
                  const [integration_id, ...channel] = e.target.value.split("|");
                  onChange({ ...step, integration_id: integration_id || undefined, channel_id: channel.join("|") || undefined });
                }}
              >
                <option value="">—</option>
                {options.destinations
                  .filter((d) => d.target === step.target)
                  .map((d) => (
                    <option key={`${d.integration_id}|${d.channel_id}`} value={`${d.integration_id}|${d.channel_id}`}>
                      {destinationLabel(d)}
                    </option>
                  ))}
              </select>
              {options.destinations.every((d) => d.target !== step.target) ? (
                <div className="muted small" data-testid={`step-destination-empty-${index}`}>
                  No {step.target === "slack" ? "Slack" : "Teams"} channel yet: an admin connects the bot on the Integrations page and adds
                  it to a channel.
                </div>
              ) : null}
              {problem("integration_id")}
              {problem("channel_id")}
            </>
          ) : kind === "assistant" ? (
            <div id={`step-${index}-${field}`}>{pick(field, options.assistants)}</div>
          ) : kind === "collection" ? (
            <div id={`step-${index}-${field}`}>{pick(field, options.collections)}</div>
          ) : kind === "collections" ? (
            <select
              id={`step-${index}-${field}`}
              multiple
              className="select"
              value={(step[field] as string[]) ?? []}
              onChange={(e) => onChange({ ...step, [field]: Array.from(e.target.selectedOptions).map((o) => o.value) })}
            >
              {options.collections.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          ) : kind === "map" ? (
            <textarea
              id={`step-${index}-${field}`}
              className="textarea mono"
              rows={2}
              defaultValue={mapToText(step[field])}
              onBlur={(e) => onChange({ ...step, [field]: textToMap(e.target.value) })}
            />
          ) : kind === "list" ? (
            <input
              id={`step-${index}-${field}`}
              className="input"
              value={((step[field] as string[]) ?? []).join(", ")}
              onChange={(e) =>
                onChange({
                  ...step,
                  [field]: e.target.value
                    .split(",")
                    .map((s) => s.trim())
                    .filter(Boolean),
                })
              }
            />
          ) : kind === "number" ? (
            <input
              id={`step-${index}-${field}`}
              className="input"
              type="number"
              value={String(step[field] ?? "")}
              onChange={(e) => onChange({ ...step, [field]: e.target.value === "" ? undefined : Number(e.target.value) })}
            />
          ) : (
            <input
              id={`step-${index}-${field}`}
              className="input"
              value={String(step[field] ?? "")}
              onChange={(e) => onChange({ ...step, [field]: e.target.value })}
            />
          )}
          {problem(field)}
        </div>
      ))}
    </div>
  );
}

function StepDetails({ step }: { step: StepRun }) {
  return (
    <details data-testid="run-step">
      <summary>
        <Badge tone={tone(step.status)}>{step.status}</Badge> <strong>{step.key}</strong> <span className="muted small">({step.type})</span>{" "}
        <span className="muted small">
          {step.duration_ms !== null && step.duration_ms !== undefined ? `${step.duration_ms} ms` : ""} · {step.attempts} attempt(s) ·{" "}
          {step.tokens} tokens · {formatCost(step.cost)}
        </span>
      </summary>
      {step.error ? <div className="alert alert-error">{step.error}</div> : null}
      <div className="grid-2">
        <pre className="chunk-text small">input {JSON.stringify(step.input, null, 2)}</pre>
        <pre className="chunk-text small">output {JSON.stringify(step.output, null, 2)}</pre>
      </div>
    </details>
  );
}

function RunView({ runId }: { runId: string }) {
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  const init = { params: { path: { run_id: runId } } };
  const running = (status?: string) => !FINISHED.includes(status ?? "") && status !== "waiting_approval";
  // Polled while it runs; once it stops, the workflow's run list is fetched again.
  const query = $api.useQuery("get", "/api/v1/workflow-runs/{run_id}", init, {
    refetchInterval: (q) => (q.state.data && !running(q.state.data.status) ? false : 700),
    staleTime: 0,
    placeholderData: undefined,
  });
  const run = query.data;
  const error = query.error;
  const stopped = run !== undefined && !running(run.status);
  useEffect(() => {
    // Its steps may have used templates and assistants (usage, cost): those are asked again.
    if (stopped) void invalidate("/api/v1/workflows", "/api/v1/prompts", "/api/v1/usage");
  }, [stopped, invalidate]);
  const act = useAction(
    async (what: "approve" | "reject" | "cancel" | "rerun") => {
      const params = { params: { path: { run_id: runId } } };
      const next =
        what === "approve"
          ? await unwrap(client.POST("/api/v1/workflow-runs/{run_id}/approve", { ...params, body: {} }))
          : what === "reject"
            ? await unwrap(client.POST("/api/v1/workflow-runs/{run_id}/reject", { ...params, body: {} }))
            : what === "cancel"
              ? await unwrap(client.POST("/api/v1/workflow-runs/{run_id}/cancel", params))
              : await unwrap(client.POST("/api/v1/workflow-runs/{run_id}/rerun", params));
      queryClient.setQueryData($api.queryOptions("get", "/api/v1/workflow-runs/{run_id}", init).queryKey, next);
    },
    { invalidates: ["/api/v1/workflows", "/api/v1/workflow-runs"] },
  );
  if (error) return <ErrorMessage error={error} />;
  if (!run) return <Loading />;
  return (
    <div className="stack" data-testid="run-view">
      <div className="row row-between">
        <div>
          <Badge tone={tone(run.status)} testId="run-status">
            {run.status}
          </Badge>{" "}
          <span className="muted small">
            v{run.version} · {run.trigger} · {run.total_tokens} tokens · <span data-testid="run-cost">{formatCost(run.cost)}</span>
          </span>
        </div>
        <div className="row">
          {run.status === "waiting_approval" ? (
            <>
              <button type="button" className="btn btn-primary btn-sm" onClick={() => void act.run("approve")} data-testid="run-approve">
                Approve
              </button>
              <button type="button" className="btn btn-sm" onClick={() => void act.run("reject")}>
                Reject
              </button>
            </>
          ) : null}
          {!FINISHED.includes(run.status ?? "") ? (
            <button type="button" className="btn btn-sm btn-danger" onClick={() => void act.run("cancel")}>
              Cancel
            </button>
          ) : null}
          {["failed", "timed_out", "cancelled"].includes(run.status ?? "") ? (
            <button type="button" className="btn btn-sm" onClick={() => void act.run("rerun")}>
              Re-run from the failed step
            </button>
          ) : null}
        </div>
      </div>
      {run.error ? <div className="alert alert-error">{run.error}</div> : null}
      <ErrorMessage error={act.error} />
      {run.steps.map((step) => (
        <StepDetails key={step.index} step={step} />
      ))}
    </div>
  );
}

export function WorkflowEditPage() {
  const { workflowId = "" } = useParams();
  const { canEdit } = usePermissions();
  const path = { params: { path: { workflow_id: workflowId } } };
  const workflow = $api.useQuery("get", "/api/v1/workflows/{workflow_id}", path, { placeholderData: undefined });
  const runs = $api.useQuery("get", "/api/v1/workflows/{workflow_id}/runs", {
    params: { path: { workflow_id: workflowId }, query: { page_size: 20 } },
  });
  const options = useOptions();
  const [draft, setDraft] = useState<Draft>({ steps: [], input_schema: [], triggers: {}, settings: {} });
  const [adding, setAdding] = useState("transform");
  const [input, setInput] = useState<Record<string, string>>({});
  const [openRun, setOpenRun] = useState<string | null>(null);
  const [published, setPublished] = useState("");

  useEffect(() => {
    if (workflow.data) setDraft(Object.assign({ steps: [], input_schema: [], triggers: {}, settings: {} }, workflow.data.draft) as Draft);
  }, [workflow.data?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  const setStep = (index: number, step: Step) => setDraft({ ...draft, steps: draft.steps.map((s, i) => (i === index ? step : s)) });
  const move = (index: number, by: number) => {
    const steps = [...draft.steps];
    const [step] = steps.splice(index, 1);
    steps.splice(index + by, 0, step);
    setDraft({ ...draft, steps });
  };
  const addStep = () => {
    const n = draft.steps.length + 1;
    const base: Step = {
      key: `${adding}_${n}`.replace("http_request", "http").replace("ask_assistant", "ask").replace("save_document", "save"),
      type: adding,
    };
    if (adding === "http_request") base.method = "POST";
    setDraft({ ...draft, steps: [...draft.steps, base] });
  };
  const save = useAction(
    async () => {
      await unwrap(client.PATCH("/api/v1/workflows/{workflow_id}", { ...path, body: { draft } }));
    },
    { invalidates: ["/api/v1/workflows"] },
  );
  const publish = useAction(
    async () => {
      await unwrap(client.PATCH("/api/v1/workflows/{workflow_id}", { ...path, body: { draft } }));
      const version = await unwrap(client.POST("/api/v1/workflows/{workflow_id}/publish", { ...path, body: {} }));
      setPublished(`Published version ${version.number}.`);
    },
    { invalidates: ["/api/v1/workflows"] },
  );
  const start = useAction(
    async () => {
      const run = await unwrap(client.POST("/api/v1/workflows/{workflow_id}/runs", { ...path, body: { input } }));
      setOpenRun(run.id);
    },
    { invalidates: ["/api/v1/workflows"] },
  );

  if (workflow.isPending) return <Loading />;
  if (workflow.error) return <ErrorMessage error={workflow.error} />;
  const w = workflow.data!;
  const schedule = (draft.triggers.schedule as { cron?: string; timezone?: string }) ?? {};
  const events = (draft.triggers.events as string[]) ?? [];
  const problems = publish.error;
  return (
    <div className="stack-lg">
      <PageHeader
        title={w.name}
        description={
          w.published_version
            ? `Published v${w.published_version.number}${w.next_run_at ? ` · next run ${formatDate(w.next_run_at)}` : ""}`
            : "Not published yet"
        }
      />
      <div className="card">
        <div className="card-header">
          <strong>Steps</strong>
        </div>
        <div className="card-body stack">
          {draft.steps.length === 0 ? <div className="muted">No steps yet: add the first one below.</div> : null}
          {draft.steps.map((step, index) => (
            <div key={index} className="card" data-testid="builder-step">
              <div className="card-header row row-between">
                <div className="row">
                  <Badge tone="accent">{index + 1}</Badge>
                  <input
                    className="input mono"
                    aria-label={`Key of step ${index + 1}`}
                    value={step.key}
                    onChange={(e) => setStep(index, { ...step, key: e.target.value })}
                    style={{ maxWidth: 180 }}
                  />
                  <span className="muted small">{STEP_TYPES[step.type]?.label ?? step.type}</span>
                  {step.type === "condition" ? <Badge tone="warning">branch → {String(step.else_goto || "end")} if false</Badge> : null}
                </div>
                <div className="row">
                  <button
                    type="button"
                    className="btn btn-sm btn-ghost"
                    disabled={index === 0}
                    onClick={() => move(index, -1)}
                    aria-label="Move up"
                  >
                    ↑
                  </button>
                  <button
                    type="button"
                    className="btn btn-sm btn-ghost"
                    disabled={index === draft.steps.length - 1}
                    onClick={() => move(index, 1)}
                    aria-label="Move down"
                  >
                    ↓
                  </button>
                  <button
                    type="button"
                    className="btn btn-sm btn-ghost"
                    onClick={() => setDraft({ ...draft, steps: draft.steps.filter((_, i) => i !== index) })}
                    aria-label="Remove step"
                  >
                    ✕
                  </button>
                </div>
              </div>
              <div className="card-body">
                <StepForm
                  step={step}
                  index={index}
                  earlier={draft.steps.slice(0, index).map((s) => s.key)}
                  error={problems}
                  options={options}
                  onChange={(s) => setStep(index, s)}
                />
              </div>
            </div>
          ))}
          {canEdit ? (
            <div className="row">
              <select
                className="select"
                aria-label="Step type"
                value={adding}
                onChange={(e) => setAdding(e.target.value)}
                data-testid="step-type"
              >
                {Object.entries(STEP_TYPES).map(([value, spec]) => (
                  <option key={value} value={value}>
                    {spec.label}
                  </option>
                ))}
              </select>
              <button type="button" className="btn" onClick={addStep} data-testid="step-add">
                Add step
              </button>
            </div>
          ) : null}
        </div>
      </div>
      <div className="grid-2">
        <div className="card">
          <div className="card-header">
            <strong>Triggers</strong>
          </div>
          <div className="card-body stack">
            <div className="row">
              <TextField
                label="Schedule (cron)"
                name="cron"
                placeholder="0 9 * * 1"
                value={schedule.cron ?? ""}
                error={problems}
                onChange={(e) =>
                  setDraft({
                    ...draft,
                    triggers: {
                      ...draft.triggers,
                      schedule: e.target.value
                        ? {
                            ...schedule,
                            cron: e.target.value,
                            timezone: schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
                          }
                        : undefined,
                    },
                  })
                }
              />
              <TextField
                label="Time zone"
                name="timezone"
                value={schedule.timezone ?? ""}
                onChange={(e) =>
                  setDraft({ ...draft, triggers: { ...draft.triggers, schedule: { ...schedule, timezone: e.target.value } } })
                }
              />
            </div>
            {fieldErrors(problems, "triggers.schedule.cron")?.map((m) => (
              <div key={m} className="field-errors">
                {m}
              </div>
            ))}
            {fieldErrors(problems, "triggers.schedule.timezone")?.map((m) => (
              <div key={m} className="field-errors">
                {m}
              </div>
            ))}
            <div className="checks">
              {EVENTS.map((event) => (
                <label key={event} className="check">
                  <input
                    type="checkbox"
                    checked={events.includes(event)}
                    onChange={(e) =>
                      setDraft({
                        ...draft,
                        triggers: { ...draft.triggers, events: e.target.checked ? [...events, event] : events.filter((x) => x !== event) },
                      })
                    }
                  />{" "}
                  {event}
                </label>
              ))}
              <label className="check">
                <input
                  type="checkbox"
                  checked={Boolean(draft.triggers.webhook)}
                  onChange={(e) => setDraft({ ...draft, triggers: { ...draft.triggers, webhook: e.target.checked } })}
                />{" "}
                inbound webhook
              </label>
            </div>
            {draft.triggers.webhook ? <div className="muted small mono">POST {w.webhook_path}</div> : null}
          </div>
        </div>
        <div className="card">
          <div className="card-header">
            <strong>Input fields</strong>
          </div>
          <div className="card-body stack">
            <input
              className="input"
              aria-label="Input fields"
              placeholder="topic=refunds, recipient"
              defaultValue={draft.input_schema.map((v) => (v.default ? `${v.name}=${v.default}` : v.name)).join(", ")}
              key={w.id}
              onBlur={(e) =>
                setDraft({
                  ...draft,
                  input_schema: e.target.value
                    .split(",")
                    .map((n) => n.trim())
                    .filter(Boolean)
                    .map(inputField),
                })
              }
              data-testid="workflow-inputs"
            />
            <div className="muted small">
              Comma-separated; <span className="mono">name=default</span> gives a scheduled run (which nobody fills in) its value.
            </div>
            {fieldErrors(problems, "input_schema")?.map((m) => (
              <div key={m} className="field-errors">
                {m}
              </div>
            ))}
          </div>
        </div>
      </div>
      {canEdit ? (
        <div className="row">
          <button type="button" className="btn" disabled={save.busy} onClick={() => void save.run()}>
            Save draft
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={publish.busy}
            onClick={() => void publish.run()}
            data-testid="workflow-publish"
          >
            Check and publish
          </button>
          {published && !publish.error ? (
            <span className="muted" data-testid="workflow-published">
              {published}
            </span>
          ) : null}
        </div>
      ) : null}
      <ErrorMessage error={save.error ?? publish.error} testId="workflow-error" />
      <div className="card">
        <div className="card-header">
          <strong>Test run</strong>
        </div>
        <div className="card-body stack">
          {(w.published_version?.definition as Draft | undefined)?.input_schema?.map((v) => (
            <TextField
              key={v.name}
              label={v.name}
              name={`input.${v.name}`}
              placeholder={v.default}
              value={input[v.name] ?? ""}
              error={start.error}
              onChange={(e) => setInput({ ...input, [v.name]: e.target.value })}
            />
          ))}
          <div>
            <button
              type="button"
              className="btn btn-primary"
              disabled={!w.published_version || start.busy}
              onClick={() => void start.run()}
              data-testid="workflow-run"
            >
              Run now
            </button>
          </div>
          <ErrorMessage error={start.error} />
          {openRun ? <RunView key={openRun} runId={openRun} /> : null}
        </div>
      </div>
      <div className="card">
        <div className="card-header">
          <strong>Run history</strong>
        </div>
        <div className="table-wrap">
          <table className="table">
            <tbody>
              {runs.data?.results.map((r: RunRow) => (
                <tr key={r.id} data-testid="run-row">
                  <td>
                    <button type="button" className="btn btn-sm btn-ghost" onClick={() => setOpenRun(r.id)}>
                      {formatDate(r.created_at)}
                    </button>
                  </td>
                  <td>
                    <Badge tone={tone(r.status)}>{r.status}</Badge>
                  </td>
                  <td className="small">{r.trigger}</td>
                  <td className="num small">{formatCost(r.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}
