// The audit log: who changed what, when, from where. (Issue #6 endpoint.)
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api } from "../api/query";
import type { AuditAction } from "../api/types";
import { usePermissions } from "../session";
import { Empty, ErrorMessage, formatDate, Loading, PageHeader, Pager, SelectField, TextField } from "../ui";

// Kept in step with the schema's ActionEnum by the type checker.
const ACTIONS: AuditAction[] = [
  "api_key.created",
  "api_key.revoked",
  "member.role_changed",
  "member.removed",
  "assistant.created",
  "assistant.updated",
  "assistant.deleted",
  "credential.created",
  "credential.updated",
  "credential.deleted",
  "billing.plan_changed",
];

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
        params: { query: { page, page_size: 100, action: (filters.action || undefined) as AuditAction | undefined, start: filters.start || undefined, end: filters.end || undefined } },
      }),
    );
    for (const event of data.results) {
      const base = [event.created_at, event.actor?.email ?? "", event.api_key?.label ?? "", event.ip_address ?? "", event.action, event.target_type, event.target_label || event.target_id];
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
  const events = $api.useQuery(
    "get",
    "/api/v1/audit-events",
    {
      params: {
        query: {
          page,
          page_size: 50,
          action: (filters.action || undefined) as AuditAction | undefined,
          start: filters.start || undefined,
          end: filters.end || undefined,
        },
      },
    },
  );
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
                  {action}
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
                      <td className="mono small">{event.action}</td>
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
