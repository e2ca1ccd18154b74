// Files attached to a chat question: the composer's tray (pick, drop, paste, upload
// progress, remove before sending), the files shown on a question, the note of what an
// answer left out, and the panel a citation of an attached file opens.
import { type ClipboardEvent, type DragEvent, useCallback, useEffect, useRef, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { ApiError, client, postFormWithProgress, unwrap } from "../api/client";
import type { Source } from "../api/types";
import { $api, useAction } from "../api/query";
import { ErrorMessage, formatNumber, Loading, TextField } from "../ui";

export interface AttachedFile {
  id: string;
  name: string;
  kind: string;
  content_type: string;
  size: number;
}

interface Pending {
  key: string;
  name: string;
  size: number;
  progress: number; // 0..1 while uploading
  file?: AttachedFile; // once stored
  status?: string; // pending | processed | failed (the server reading it)
  error?: unknown;
}

type StoredFile = AttachedFile & { status: string; error: string };

/** Uploads one file, with its progress. */
async function uploadWithProgress(file: File, onProgress: (fraction: number) => void): Promise<StoredFile> {
  const form = new FormData();
  form.append("files", file);
  const body = await postFormWithProgress<{ results: StoredFile[] }>("/api/v1/files", form, onProgress);
  return body.results[0];
}

export function useAttachments() {
  const [items, setItems] = useState<Pending[]>([]);
  const [dragging, setDragging] = useState(false);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);

  const patch = (key: string, change: Partial<Pending>) =>
    mounted.current && setItems((list) => list.map((item) => (item.key === key ? { ...item, ...change } : item)));

  /** Polls until the server has read the file (text, data summary or image size). */
  const watch = useCallback(async (key: string, id: string) => {
    for (let attempt = 0; attempt < 120 && mounted.current; attempt += 1) {
      try {
        const file = await unwrap(client.GET("/api/v1/files/{file_id}", { params: { path: { file_id: id } } }));
        if (file.status !== "pending") {
          patch(key, {
            status: file.status,
            error: file.status === "failed" ? new ApiError(400, "file_failed", `${file.name}: ${file.error}`) : undefined,
          });
          return;
        }
      } catch (error) {
        patch(key, { error });
        return;
      }
      await new Promise((resolve) => window.setTimeout(resolve, 500));
    }
    // Still queued (a busy worker): the turn reads a pending file itself, so it may go.
    patch(key, { status: "queued" });
  }, []);

  const add = useCallback(
    (files: FileList | File[]) => {
      for (const file of Array.from(files)) {
        const key = `${file.name}-${file.size}-${Math.random()}`;
        setItems((list) => [...list, { key, name: file.name, size: file.size, progress: 0 }]);
        uploadWithProgress(file, (progress) => patch(key, { progress }))
          .then((stored) => {
            patch(key, { progress: 1, file: stored, status: stored.status });
            if (stored.status === "pending") void watch(key, stored.id);
          })
          .catch((error: unknown) => patch(key, { error }));
      }
    },
    [watch],
  );

  const remove = (key: string) => {
    const item = items.find((entry) => entry.key === key);
    setItems((list) => list.filter((entry) => entry.key !== key));
    // Not sent yet: the stored copy goes too.
    if (item?.file) void client.DELETE("/api/v1/files/{file_id}", { params: { path: { file_id: item.file.id } } }).catch(() => undefined);
  };

  const ready = items.filter((item) => item.file && (item.status === "processed" || item.status === "queued") && !item.error);
  return {
    items,
    dragging,
    remove,
    add,
    /** Empties the tray for a question being sent and returns what it held. */
    take: () => {
      const taken = items;
      setItems([]);
      return taken;
    },
    /** A refused question: its files go back into the tray (ahead of any added since). */
    restore: (taken: Pending[]) =>
      mounted.current && setItems((list) => [...taken.filter((item) => !list.some((entry) => entry.key === item.key)), ...list]),
    /** Still uploading or being read: sending waits. */
    busy: items.some((item) => !item.error && (!item.file || item.status === "pending")),
    ids: ready.map((item) => item.file!.id),
    files: ready.map((item) => item.file!),
    dropProps: {
      onDragOver: (event: DragEvent) => {
        if (!Array.from(event.dataTransfer.types).includes("Files")) return;
        event.preventDefault();
        setDragging(true);
      },
      onDragLeave: () => setDragging(false),
      onDrop: (event: DragEvent) => {
        if (!event.dataTransfer.files.length) return;
        event.preventDefault();
        setDragging(false);
        add(event.dataTransfer.files);
      },
    },
    onPaste: (event: ClipboardEvent) => {
      if (event.clipboardData.files.length) {
        event.preventDefault();
        add(event.clipboardData.files);
      }
    },
  };
}

export type Attachments = ReturnType<typeof useAttachments>;

/** Bytes as people read them: 45 B, 12 KB, 3.4 MB. */
function sizeLabel(bytes: number) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(Math.round(bytes / 1024))} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A short label of the file's type (no emoji: not every system has the font). */
function kindIcon(kind?: string, name?: string) {
  const extension = name?.includes(".") ? name.split(".").pop()!.slice(0, 4).toUpperCase() : "";
  return <span className={`attach-kind attach-kind-${kind ?? "file"}`}>{extension || (kind ?? "file").toUpperCase()}</span>;
}

function PaperClip() {
  return (
    <svg
      width="18"
      height="18"
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
    >
      <path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48" />
    </svg>
  );
}

/** The button that picks files (drop and paste work on the whole composer too). */
export function AttachButton({ attach, disabled }: { attach: Attachments; disabled?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <input
        ref={input}
        type="file"
        multiple
        hidden
        data-testid="attach-input"
        onChange={(event) => {
          if (event.target.files) attach.add(event.target.files);
          event.target.value = "";
        }}
      />
      <button
        type="button"
        className="btn btn-icon"
        aria-label="Attach files"
        title="Attach files (or drop or paste them here)"
        disabled={disabled}
        onClick={() => input.current?.click()}
      >
        <PaperClip />
      </button>
    </>
  );
}

/** The files waiting to go with the next question: progress, reading, remove. */
export function AttachmentTray({ attach }: { attach: Attachments }) {
  return (
    <>
      {attach.items.length ? (
        <ul className="attach-tray" aria-label="Attached files" data-testid="attach-tray">
          {attach.items.map((item) => (
            <li
              key={item.key}
              className={`attach-chip ${item.error ? "attach-error" : ""}`}
              data-testid="attach-chip"
              data-status={item.error ? "error" : (item.status ?? "uploading")}
            >
              {kindIcon(item.file?.kind, item.name)}
              <span className="attach-name">{item.name}</span>
              <span className="muted small">
                {item.error
                  ? "failed"
                  : !item.file
                    ? `${Math.round(item.progress * 100)}%`
                    : item.status === "pending"
                      ? "reading…"
                      : sizeLabel(item.size)}
              </span>
              <button
                type="button"
                className="btn btn-ghost btn-sm"
                aria-label={`Remove ${item.name}`}
                onClick={() => attach.remove(item.key)}
              >
                ×
              </button>
              {!item.file && !item.error ? <progress max={1} value={item.progress} aria-label={`Uploading ${item.name}`} /> : null}
            </li>
          ))}
        </ul>
      ) : null}
      {attach.items
        .filter((item) => item.error)
        .map((item) => (
          <div key={item.key} className="attach-tray-error">
            <ErrorMessage error={item.error} />
          </div>
        ))}
      {attach.dragging ? (
        <div className="attach-drop" aria-hidden>
          Drop files to attach them
        </div>
      ) : null}
    </>
  );
}

/** The files a question carried, each downloadable. */
export function MessageAttachments({ files }: { files?: AttachedFile[] | null }) {
  if (!files?.length) return null;
  return (
    <div className="attach-tray attach-sent" data-testid="message-attachments">
      {files.map((file) => (
        <a key={file.id} className="attach-chip" href={`/api/v1/files/${file.id}/download`} download>
          {kindIcon(file.kind, file.name)}
          <span className="attach-name">{file.name}</span>
        </a>
      ))}
    </div>
  );
}

/** What an answer's context could not hold, said rather than silently cut. */
export function OmittedNote({ omitted }: { omitted?: { name: string; reason: string }[] | null }) {
  if (!omitted?.length) return null;
  return (
    <div className="msg-meta" data-testid="context-omitted">
      {omitted.map((item) => (
        <div key={item.name + item.reason}>
          {item.name}: {item.reason}
        </div>
      ))}
    </div>
  );
}

/** A citation of an attached file: the passage quoted in the answer's context. */
export function FileSourcePanel({ source, onClose }: { source: Source; onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => closeRef.current?.focus(), [source.index]);
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
            {source.document_title} <span className="badge">attached file</span>
          </div>
          {source.section ? <div className="muted small">{source.section}</div> : null}
        </div>
        {source.excerpt ? (
          <div className="chunk-text" data-testid="source-chunk">
            {source.excerpt}
          </div>
        ) : null}
        <p className="muted small">Attached files are read for this conversation only; they are not added to your knowledge collections.</p>
        <a className="btn btn-sm" href={`/api/v1/files/${source.file_id}/download`} download>
          Download the file
        </a>
      </div>
    </aside>
  );
}

/** How long the organization keeps chat attachments (admins; 0 keeps them forever). A
 * sweep (hourly by default) deletes older ones, bytes and rows, and records it in the audit log. */
export function AttachmentRetention() {
  const queryClient = useQueryClient();
  const current = $api.useQuery("get", "/api/v1/files/settings");
  const [saved, setSaved] = useState("");
  const save = useAction(async (days: number) => {
    const row = await unwrap(client.PATCH("/api/v1/files/settings", { body: { attachment_retention_days: days } }));
    queryClient.setQueryData($api.queryOptions("get", "/api/v1/files/settings").queryKey, row);
    setSaved(
      row.attachment_retention_days
        ? `Attachments are now kept ${formatNumber(row.attachment_retention_days)} days.`
        : "Attachments are now kept until someone deletes them.",
    );
  });
  const days = current.data?.attachment_retention_days;
  return (
    <section className="card card-body stack" aria-labelledby="attachment-retention-title">
      <h2 id="attachment-retention-title" style={{ margin: 0 }}>
        Chat attachments
      </h2>
      <p className="muted small" style={{ margin: 0 }}>
        Files attached to conversations count against the plan's storage. Once older than this they are deleted with their contents (0 keeps
        them forever); the conversations keep their text and the passages their answers quoted.
      </p>
      <ErrorMessage error={current.error} />
      {current.isPending ? <Loading /> : null}
      {days !== undefined ? (
        <form
          className="row"
          style={{ alignItems: "flex-end", flexWrap: "wrap" }}
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            setSaved("");
            const value = String(new FormData(event.currentTarget).get("attachment_retention_days") ?? "").trim();
            void save.run(value === "" ? Number.NaN : Number(value));
          }}
        >
          <div style={{ width: 260, maxWidth: "100%" }}>
            <TextField
              label="Keep attachments for (days)"
              name="attachment_retention_days"
              type="number"
              min={0}
              max={3650}
              defaultValue={days}
              key={days}
              error={save.error}
            />
          </div>
          <button type="submit" className="btn btn-primary" disabled={save.busy}>
            {save.busy ? "Saving…" : "Save"}
          </button>
        </form>
      ) : null}
      {save.error && !(save.error instanceof ApiError && save.error.fields.attachment_retention_days) ? (
        <ErrorMessage error={save.error} />
      ) : null}
      {saved ? (
        <div className="alert alert-success" role="status" data-testid="attachment-retention-saved">
          {saved}
        </div>
      ) : null}
    </section>
  );
}
