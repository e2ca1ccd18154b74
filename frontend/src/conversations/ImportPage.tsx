// Import: drop the exports of ChatGPT, Claude or Gemini (or the generic JSON); each file
// uploads with its own progress bar, then its import job is followed until it ends,
// with per-conversation results and the conversations it could not read.
import { useEffect, useRef, useState, type DragEvent } from "react";
import { Link } from "react-router-dom";
import { client, postFormWithProgress, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { $api, useInvalidate } from "../api/query";
import { Badge, ErrorMessage, formatBytes, formatDate, PageHeader } from "../ui";

type ImportJob = components["schemas"]["ImportOutput"];
const SOURCES = [
  { value: "", label: "Detect from the file" },
  { value: "chatgpt", label: "ChatGPT (export .zip or conversations.json)" },
  { value: "claude", label: "Claude (export .zip or conversations.json)" },
  { value: "gemini", label: "Gemini (Takeout .zip, MyActivity.json or .html)" },
  { value: "json", label: "Generic JSON" },
];

interface Item {
  key: string;
  name: string;
  size: number;
  progress: number;
  job?: ImportJob;
  error?: string;
}

function uploadExport(file: File, source: string, onProgress: (fraction: number) => void): Promise<ImportJob> {
  const data = new FormData();
  data.append("file", file);
  if (source) data.append("source", source);
  return postFormWithProgress<ImportJob>("/api/v1/conversations/imports", data, onProgress);
}

const finished = (job?: ImportJob) => job && (job.status === "completed" || job.status === "failed");

function JobStatus({ job }: { job: ImportJob }) {
  const tone = job.status === "completed" ? "success" : job.status === "failed" ? "danger" : "info";
  return (
    <Badge tone={tone} testId="import-status">
      {job.status}
    </Badge>
  );
}

function JobDetails({ job }: { job: ImportJob }) {
  return (
    <div className="stack small" style={{ gridColumn: "1 / -1" }}>
      {job.status === "failed" ? (
        <div className="alert alert-error" role="alert">
          {job.error}
        </div>
      ) : null}
      <div data-testid="import-summary">
        {job.source ? <strong>{job.source}</strong> : null} {job.conversations_done}/{job.conversations_total} conversations ·{" "}
        {job.conversations_created} new, {job.conversations_updated} updated · {job.messages_imported} messages added,{" "}
        {job.messages_existing} already there
      </div>
      {job.results.length ? (
        <details>
          <summary>Conversations ({job.results.length})</summary>
          <ul>
            {job.results.map((result) => (
              <li key={result.session_id}>
                <Link to={`/chat/${result.session_id}`}>{result.title}</Link>{" "}
                <span className="muted">
                  +{result.added}
                  {result.existing ? `, ${result.existing} already there` : ""}
                </span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      {job.problems.length ? (
        <div className="alert alert-warning" data-testid="import-problems">
          <strong>Not imported ({job.problems.length}):</strong>
          <ul>
            {job.problems.slice(0, 50).map((problem, index) => (
              <li key={index}>
                {problem.conversation} — <code>{problem.field}</code>: {problem.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

export function ImportPage() {
  const [over, setOver] = useState(false);
  const [source, setSource] = useState("");
  const [items, setItems] = useState<Item[]>([]);
  const input = useRef<HTMLInputElement>(null);
  const history = $api.useQuery("get", "/api/v1/conversations/imports", { params: { query: { page_size: 20 } } });
  const invalidate = useInvalidate();
  const update = (key: string, change: Partial<Item>) =>
    setItems((list) => list.map((item) => (item.key === key ? { ...item, ...change } : item)));

  // Follow the running jobs until they end.
  useEffect(() => {
    const running = items.filter((item) => item.job && !finished(item.job));
    if (!running.length) return;
    const timer = window.setTimeout(async () => {
      for (const item of running) {
        try {
          const job = await unwrap(
            client.GET("/api/v1/conversations/imports/{import_id}", { params: { path: { import_id: item.job!.id } } }),
          );
          update(item.key, { job });
          if (finished(job)) void invalidate("/api/v1/conversations", "/api/v1/chat/sessions");
        } catch (cause) {
          update(item.key, { error: (cause as Error).message });
        }
      }
    }, 1000);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [items]);

  const start = (files: File[]) => {
    const batch = files.map((file, index) => ({ file, key: `${Date.now()}-${index}-${file.name}` }));
    setItems((list) => [...batch.map(({ file, key }) => ({ key, name: file.name, size: file.size, progress: 0 })), ...list]);
    for (const { file, key } of batch) {
      uploadExport(file, source, (progress) => update(key, { progress }))
        .then((job) => update(key, { progress: 1, job }))
        .catch((error: Error) => update(key, { error: error.message }));
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const files = Array.from(event.dataTransfer.files);
    if (files.length) start(files);
  };
  return (
    <>
      <PageHeader
        title="Import conversations"
        description="Bring your history from ChatGPT, Claude or Gemini: every conversation becomes a chat you can search, ask about and continue. Importing again adds only what is new."
      />
      <div className="card" style={{ marginBottom: 20 }}>
        <div className="card-body stack">
          <div className="field">
            <label htmlFor="import-source">Source</label>
            <select id="import-source" className="select" value={source} onChange={(event) => setSource(event.target.value)}>
              {SOURCES.map((item) => (
                <option key={item.value} value={item.value}>
                  {item.label}
                </option>
              ))}
            </select>
          </div>
          <div
            className={`dropzone ${over ? "over" : ""}`}
            data-testid="import-dropzone"
            onDragOver={(event) => {
              event.preventDefault();
              setOver(true);
            }}
            onDragLeave={() => setOver(false)}
            onDrop={onDrop}
          >
            <p>
              <strong>Drop export files here</strong> <span className="muted">or</span>{" "}
              <button type="button" className="btn btn-sm" onClick={() => input.current?.click()}>
                Choose files
              </button>
            </p>
            <p className="hint" style={{ marginTop: 6 }}>
              The export's .zip, its conversations.json, or Gemini's MyActivity.json / .html.
            </p>
            <label className="sr-only" htmlFor="import-input">
              Export files
            </label>
            <input
              id="import-input"
              ref={input}
              type="file"
              multiple
              hidden
              accept=".zip,.json,.html"
              data-testid="import-input"
              onChange={(event) => {
                const files = Array.from(event.target.files ?? []);
                if (files.length) start(files);
                event.target.value = "";
              }}
            />
          </div>
          {items.length ? (
            <ul className="upload-list" aria-label="Imports" aria-live="polite">
              {items.map((item) => {
                const fraction = item.job ? (item.job.status === "completed" ? 1 : item.job.progress) : item.progress;
                return (
                  <li key={item.key} className="upload-item" data-testid="import-item">
                    <span className="grow" style={{ overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>
                      {item.name} <span className="muted small">{formatBytes(item.size)}</span>
                    </span>
                    <div
                      className="progress"
                      role="progressbar"
                      aria-label={`Import of ${item.name}`}
                      aria-valuemin={0}
                      aria-valuemax={100}
                      aria-valuenow={Math.round(fraction * 100)}
                    >
                      <span style={{ width: `${Math.round(fraction * 100)}%` }} />
                    </div>
                    <span className="small nowrap">
                      {item.error ? (
                        <Badge tone="danger">refused</Badge>
                      ) : item.job ? (
                        <JobStatus job={item.job} />
                      ) : (
                        `${Math.round(item.progress * 100)}%`
                      )}
                    </span>
                    {item.error ? (
                      <div className="alert alert-error small" role="alert" style={{ gridColumn: "1 / -1" }}>
                        {item.error}
                      </div>
                    ) : null}
                    {item.job ? <JobDetails job={item.job} /> : null}
                  </li>
                );
              })}
            </ul>
          ) : null}
        </div>
      </div>
      <h2>Earlier imports</h2>
      {history.error ? <ErrorMessage error={history.error} /> : null}
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th>File</th>
              <th>Source</th>
              <th>Status</th>
              <th>Conversations</th>
              <th>Messages</th>
              <th>When</th>
            </tr>
          </thead>
          <tbody>
            {(history.data?.results ?? []).map((job) => (
              <tr key={job.id}>
                <td>{job.file_name}</td>
                <td>{job.source || "—"}</td>
                <td>
                  <JobStatus job={job} />
                </td>
                <td>
                  {job.conversations_created} new, {job.conversations_updated} updated
                  {job.problems.length ? <span className="muted"> · {job.problems.length} not imported</span> : null}
                </td>
                <td>{job.messages_imported}</td>
                <td>{formatDate(job.created_at)}</td>
              </tr>
            ))}
            {history.data && !history.data.results.length ? (
              <tr>
                <td colSpan={6} className="muted">
                  No imports yet.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </>
  );
}
