// The audit log: who changed what, when, from where. (Issue #6 endpoint.)
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api } from "../api/query";
import type { AuditAction } from "../api/types";
import { usePermissions } from "../session";
import { Empty, ErrorMessage, formatDate, Loading, PageHeader, Pager, SelectField, TextField } from "../ui";

// Every action the log records, with its label: a Record over the schema's enum, so the
// type checker fails when the server gains an action this list lacks.
const ACTION_LABELS: Record<AuditAction, string> = {
  "api_key.created": "API key created",
  "api_key.revoked": "API key revoked",
  "member.role_changed": "Member role changed",
  "member.removed": "Member removed",
  "organization.updated": "Organization settings changed",
  "assistant.created": "Assistant created",
  "assistant.updated": "Assistant changed",
  "assistant.deleted": "Assistant deleted",
  "credential.created": "Credential created",
  "credential.updated": "Credential changed",
  "credential.deleted": "Credential deleted",
  "billing.plan_changed": "Plan changed",
  "integration.connected": "Integration connected",
  "integration.updated": "Integration changed",
  "integration.disconnected": "Integration disconnected",
  "webhook.created": "Webhook endpoint created",
  "webhook.updated": "Webhook endpoint changed",
  "webhook.deleted": "Webhook endpoint deleted",
  "webhook.redelivered": "Webhook delivery sent again",
  "widget.created": "Widget created",
  "widget.updated": "Widget changed",
  "widget.deleted": "Widget deleted",
  "conversations.imported": "Conversations imported",
  "prompt.created": "Prompt template created",
  "prompt.updated": "Prompt template changed",
  "prompt.deleted": "Prompt template deleted",
  "prompt.version_saved": "Prompt version saved",
  "prompt.published": "Prompt version published",
  "workflow.created": "Workflow created",
  "workflow.updated": "Workflow changed",
  "workflow.deleted": "Workflow deleted",
  "workflow.published": "Workflow version published",
  "workflow.run_cancelled": "Workflow run cancelled",
  "workflow.approval_decided": "Workflow approval decided",
  "workflow.secret_saved": "Workflow secret saved",
  "workflow.secret_deleted": "Workflow secret deleted",
  "collection.created": "Collection created",
  "collection.updated": "Collection changed",
  "collection.deleted": "Collection deleted",
  "document.added": "Document added",
  "document.reprocessed": "Document reprocessed",
  "document.deleted": "Document deleted",
  "invitation.sent": "Invitation sent",
  "invitation.revoked": "Invitation revoked",
  "invitation.accepted": "Invitation accepted",
  "two_factor.enabled": "Two-factor authentication turned on",
  "two_factor.disabled": "Two-factor authentication turned off",
  "sign_in.succeeded": "Signed in",
  "sign_in.failed": "Sign-in failed",
  "knowledge.web_page_added": "Web page added to a collection",
  "knowledge.sitemap_added": "Sitemap added to a collection",
  "knowledge.sitemap_deleted": "Sitemap removed from a collection",
  "knowledge.eval_question_added": "Test question added",
  "knowledge.eval_questions_uploaded": "Test questions uploaded",
  "knowledge.eval_question_deleted": "Test question deleted",
  "knowledge.eval_questions_drafted": "Test questions drafted",
  "knowledge.eval_question_reviewed": "Test question reviewed",
  "knowledge.eval_run_started": "Retrieval evaluation started",
};
const ACTIONS = Object.keys(ACTION_LABELS) as AuditAction[];

function shown(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `changes` is {field: [before, after]}: a small before/after table. */
function Changes({ changes }: { changes: unknown }) {
  const rows = changes && typeof changes === "object" ? Object.entries(changes as Record<string, unknown>) : [];
  if (!rows.length) return <span className="muted">—</span>;
  return (
    <table className="changes-table" data-testid="audit-changes">
      <thead>
        <tr>
          <th>Field</th>
          <th>Before</th>
          <th>After</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([field, value]) => {
          const [before, after] = Array.isArray(value) && value.length === 2 ? value : [undefined, value];
          return (
            <tr key={field}>
              <th scope="row">{field.replace(/_/g, " ")}</th>
              <td className="before">{shown(before)}</td>
              <td className="after">{shown(after)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

type Filters = { action: string; start: string; end: string };

function csvCell(value: unknown): string {
  const text = shown(value).replace(/^—$/, "");
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Every event matching the filters (page by page), as a CSV file download. */
async function exportCsv(filters: Filters): Promise<void> {
  const lines = ["time,actor,api_key,ip_address,action,target_type,target,field,before,after"];
  for (let page = 1; page <= 100; page += 1) {
    const data = await unwrap(
      client.GET("/api/v1/audit-events", {
        params: {
          query: {
            page,
            page_size: 100,
            action: (filters.action || undefined) as AuditAction | undefined,
            start: filters.start || undefined,
            end: filters.end || undefined,
          },
        },
      }),
    );
    for (const event of data.results) {
      const base = [
        event.created_at,
        event.actor?.email ?? "",
        event.api_key?.label ?? "",
        event.ip_address ?? "",
        event.action,
        event.target_type,
        event.target_label || event.target_id,
      ];
      const changes = Object.entries((event.changes ?? {}) as Record<string, unknown>);
      if (!changes.length) lines.push([...base, "", "", ""].map(csvCell).join(","));
      for (const [field, value] of changes) {
        const [before, after] = Array.isArray(value) && value.length === 2 ? value : ["", value];
        lines.push([...base, field, before, after].map(csvCell).join(","));
      }
    }
    if (!data.next) break;
  }
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `audit-log-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function AuditPage() {
  // Admins only: others (who came by address) get the API's 403 and no filters.
  const { isAdmin } = usePermissions();
  const [filters, setFilters] = useState<Filters>({ action: "", start: "", end: "" });
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  const [page, setPage] = useState(1);
  const events = $api.useQuery("get", "/api/v1/audit-events", {
    params: {
      query: {
        page,
        page_size: 50,
        action: (filters.action || undefined) as AuditAction | undefined,
        start: filters.start || undefined,
        end: filters.end || undefined,
      },
    },
  });
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPage(1);
    setFilters({ action: String(form.get("action") ?? ""), start: String(form.get("start") ?? ""), end: String(form.get("end") ?? "") });
  };
  return (
    <div className="stack-lg">
      <PageHeader title="Audit log" description="Every change to the organization's settings, members, keys and content." />
      {isAdmin ? (
        <form className="card card-body row" style={{ alignItems: "flex-end" }} onSubmit={apply} aria-label="Filter events">
          <div className="grow">
            <SelectField label="Action" name="action" defaultValue="">
              <option value="">All actions</option>
              {ACTIONS.map((action) => (
                <option key={action} value={action}>
                  {ACTION_LABELS[action]}
                </option>
              ))}
            </SelectField>
          </div>
          <div>
            <TextField label="From" name="start" type="date" />
          </div>
          <div>
            <TextField label="To" name="end" type="date" />
          </div>
          <button type="submit" className="btn">
            Filter
          </button>
          <button
            type="button"
            className="btn"
            disabled={exporting}
            onClick={() => {
              setExporting(true);
              setExportError(null);
              exportCsv(filters)
                .catch(setExportError)
                .finally(() => setExporting(false));
            }}
          >
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
        </form>
      ) : null}
      <section className="card" aria-label="Events">
        <ErrorMessage error={events.error} />
        <ErrorMessage error={exportError} />
        {events.isPending ? <Loading /> : null}
        {events.data ? (
          events.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Who</th>
                    <th>Action</th>
                    <th>Target</th>
                    <th>Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {events.data.results.map((event) => (
                    <tr key={event.id} data-testid="audit-row">
                      <td className="small nowrap">{formatDate(event.created_at)}</td>
                      <td className="small">
                        {event.actor?.email ?? (event.api_key ? `API key ${event.api_key.label}` : "system")}
                        {event.ip_address ? <div className="muted small">{event.ip_address}</div> : null}
                      </td>
                      <td className="small" title={event.action}>
                        {ACTION_LABELS[event.action as AuditAction] ?? event.action}
                      </td>
                      <td className="small">
                        {event.target_label || event.target_id}
                        <div className="muted small">{event.target_type}</div>
                      </td>
                      <td className="small audit-changes-cell">
                        <Changes changes={event.changes} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No events match" />
          )
        ) : null}
        {events.data ? <Pager page={page} count={events.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>
    </div>
  );
}
