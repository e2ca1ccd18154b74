// Knowledge: collections, documents (upload, live status, reprocess, delete) and the
// search playground.
import { type DragEvent, type FormEvent, useEffect, useRef, useState } from "react";
import { useIngestionToasts } from "../components/useIngestionToasts";
import { useToast } from "../ui/toast";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { client, postFormWithProgress, unwrap } from "../api/client";
import { $api, useAction, useInvalidate } from "../api/query";
import type { Collection, DocumentItem, FetchStatus, Hit, RerankOutcome, SearchMode, SitemapItem, UploadResponse } from "../api/types";
import { usePermissions } from "../session";
import {
  Badge,
  Empty,
  ErrorMessage,
  FieldErrors,
  formatBytes,
  formatDate,
  formatNumber,
  Highlighted,
  Loading,
  Modal,
  PageHeader,
  Pager,
  Relevance,
  SelectField,
  TextAreaField,
  TextField,
} from "../ui";

// ---------------------------------------------------------------- collections

// PostgreSQL's text-search configurations a collection may use (knowledge_base/models.py).
const LANGUAGES = [
  "english",
  "simple",
  "arabic",
  "danish",
  "dutch",
  "finnish",
  "french",
  "german",
  "greek",
  "hungarian",
  "indonesian",
  "irish",
  "italian",
  "lithuanian",
  "nepali",
  "norwegian",
  "portuguese",
  "romanian",
  "russian",
  "spanish",
  "swedish",
  "tamil",
  "turkish",
] as const;
type CollectionLanguage = NonNullable<Collection["language"]>;
type Chunking = NonNullable<Collection["chunking"]>;

export function KnowledgePage() {
  const { canEdit } = usePermissions();
  const navigate = useNavigate();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const collections = $api.useQuery("get", "/api/v1/collections", { params: { query: { page, page_size: 50 } } });
  const create = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body = {
        name: String(form.get("name")),
        description: String(form.get("description") ?? ""),
        language: String(form.get("language") || "english") as CollectionLanguage,
        unaccent: form.get("unaccent") === "on",
      };
      const collection = await unwrap(client.POST("/api/v1/collections", { body }));
      navigate(`/knowledge/${collection.id}`);
    },
    { invalidates: ["/api/v1/collections"] },
  );
  return (
    <>
      <PageHeader
        title="Knowledge"
        description="Collections of documents your assistants answer from."
        actions={
          <>
            <Link className="btn" to="/search">
              Search playground
            </Link>
            {canEdit ? (
              <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
                New collection
              </button>
            ) : null}
          </>
        }
      />
      <ErrorMessage error={collections.error} />
      {collections.isPending ? <Loading /> : null}
      {collections.data ? (
        <div className="card">
          {collections.data.results.length ? (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th className="num">Documents</th>
                    <th className="num hide-sm">Chunks</th>
                    <th className="hide-sm">Embedding model</th>
                    <th className="hide-sm">Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {collections.data.results.map((collection) => (
                    <tr key={collection.id} data-testid="collection-row">
                      <td>
                        <Link to={`/knowledge/${collection.id}`}>
                          <strong>{collection.name}</strong>
                        </Link>
                        {collection.description ? <div className="muted small">{collection.description}</div> : null}
                      </td>
                      <td className="num">{formatNumber(collection.document_count)}</td>
                      <td className="num hide-sm">{formatNumber(collection.chunk_count)}</td>
                      <td className="hide-sm mono small">{collection.embedding_model}</td>
                      <td className="hide-sm muted small">{formatDate(collection.updated_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No collections yet">
              {canEdit ? "Create one, then drop your documents in." : "An admin or member can create one."}
            </Empty>
          )}
          <Pager page={page} count={collections.data.count} pageSize={50} onPage={setPage} />
        </div>
      ) : null}
      <Modal open={creating} title="New collection" onClose={() => setCreating(false)}>
        <form className="stack" onSubmit={create.run} noValidate>
          <TextField label="Name" name="name" required autoFocus error={create.error} />
          <TextAreaField label="Description" name="description" rows={3} error={create.error} />
          <SelectField
            label="Keyword search language"
            name="language"
            defaultValue="english"
            hint="Stemming and stop words of the keyword index; fixed once created. “Simple” keeps every word as written."
            error={create.error}
          >
            {LANGUAGES.map((language) => (
              <option key={language} value={language}>
                {language === "simple" ? "Simple (no stemming)" : language[0].toUpperCase() + language.slice(1)}
              </option>
            ))}
          </SelectField>
          <label className="check">
            <input type="checkbox" name="unaccent" /> Ignore accents (café matches cafe)
          </label>
          <ErrorMessage error={create.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={() => setCreating(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={create.busy}>
              Create collection
            </button>
          </div>
        </form>
      </Modal>
    </>
  );
}

// ---------------------------------------------------------------- documents

const isProcessing = (document: DocumentItem) => document.status === "pending" || document.status === "processing";

const STATUS_TONE = { pending: "info", processing: "warning", completed: "success", failed: "danger" } as const;

/** The status as the API reports it; a stalled document (its worker stopped or its task
 * was lost) says so and that it is being retried, rather than spinning as if all were well. */
export function documentStatusText(document: DocumentItem): string {
  const status = document.status ?? "pending";
  if (document.stalled) {
    const attempt = document.recovery_attempts ? ` (retry ${document.recovery_attempts})` : "";
    return `stalled, retrying${attempt}`;
  }
  return status;
}

export function DocumentStatusBadge({ document }: { document: DocumentItem }) {
  const status = document.status ?? "pending";
  const tone = document.stalled ? "warning" : STATUS_TONE[status];
  return (
    <Badge tone={tone} testId="document-status">
      {status === "processing" || status === "pending" ? (
        <span className="spin" aria-hidden="true" style={{ width: 10, height: 10 }} />
      ) : (
        <span className="dot" />
      )}
      {documentStatusText(document)}
    </Badge>
  );
}

interface UploadItem {
  key: string;
  name: string;
  size: number;
  progress: number;
  state: "uploading" | "done" | "duplicate" | "failed";
  error?: string;
}

/** One request per file, so each shows its own progress and its own refusal. */
function uploadFile(collectionId: string, file: File, onProgress: (fraction: number) => void): Promise<UploadResponse> {
  const data = new FormData();
  data.append("files", file);
  return postFormWithProgress<UploadResponse>(`/api/v1/collections/${collectionId}/documents`, data, onProgress);
}

function Uploader({ collectionId }: { collectionId: string }) {
  const invalidate = useInvalidate();
  const [over, setOver] = useState(false);
  const [items, setItems] = useState<UploadItem[]>([]);
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const update = (key: string, change: Partial<UploadItem>) =>
    setItems((list) => list.map((item) => (item.key === key ? { ...item, ...change } : item)));

  const start = (files: File[]) => {
    const batch = files.map((file, index) => ({ file, key: `${Date.now()}-${index}-${file.name}` }));
    setItems((list) => [
      ...batch.map(({ file, key }) => ({ key, name: file.name, size: file.size, progress: 0, state: "uploading" as const })),
      ...list,
    ]);
    for (const { file, key } of batch) {
      uploadFile(collectionId, file, (progress) => update(key, { progress }))
        .then((response) => {
          const duplicate = response.results[0]?.status === "duplicate";
          update(key, { progress: 1, state: duplicate ? "duplicate" : "done" });
          toast(
            duplicate ? `“${file.name}” is already in this collection.` : `“${file.name}” uploaded: reading it now.`,
            duplicate ? "info" : "success",
          );
          void invalidate("/api/v1/collections");
        })
        .catch((error: Error) => update(key, { state: "failed", error: error.message }));
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const files = Array.from(event.dataTransfer.files);
    if (files.length) start(files);
  };
  return (
    <div className="stack">
      <div
        className={`dropzone ${over ? "over" : ""}`}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>
          <strong>Drop files here</strong> <span className="muted">or</span>{" "}
          <button type="button" className="btn btn-sm" onClick={() => input.current?.click()}>
            Choose files
          </button>
        </p>
        <p className="hint" style={{ marginTop: 6 }}>
          PDF, DOCX, HTML, Markdown, text, CSV or JSON. Several at once.
        </p>
        <label className="sr-only" htmlFor="upload-input">
          Upload files
        </label>
        <input
          id="upload-input"
          ref={input}
          type="file"
          multiple
          hidden
          data-testid="upload-input"
          onChange={(event) => {
            const files = Array.from(event.target.files ?? []);
            if (files.length) start(files);
            event.target.value = "";
          }}
        />
      </div>
      {items.length ? (
        <ul className="upload-list" aria-label="Uploads" aria-live="polite">
          {items.map((item) => (
            <li key={item.key} className="upload-item" data-testid="upload-item">
              <span className="grow" style={{ overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>
                {item.name} <span className="muted small">{formatBytes(item.size)}</span>
              </span>
              <div
                className="progress"
                role="progressbar"
                aria-label={`Upload of ${item.name}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(item.progress * 100)}
              >
                <span style={{ width: `${Math.round(item.progress * 100)}%` }} />
              </div>
              <span className="small nowrap" data-testid="upload-state">
                {item.state === "uploading" ? (
                  `${Math.round(item.progress * 100)}%`
                ) : item.state === "done" ? (
                  <Badge tone="success">uploaded</Badge>
                ) : item.state === "duplicate" ? (
                  <Badge tone="info">already there</Badge>
                ) : (
                  <Badge tone="danger">failed</Badge>
                )}
              </span>
              {item.error ? (
                <div className="alert alert-error small" role="alert" style={{ gridColumn: "1 / -1" }}>
                  {item.error.includes(item.name) ? item.error : `${item.name}: ${item.error}`}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

// ---------------------------------------------------------------- documents from URLs

const FETCH_TONE = { pending: "info", changed: "success", unchanged: "success", failed: "danger", blocked: "warning" } as const;
const FETCH_TEXT: Record<FetchStatus, string> = {
  pending: "not fetched yet",
  changed: "updated",
  unchanged: "unchanged",
  failed: "fetch failed",
  blocked: "blocked by robots.txt",
};
// Minutes between fetches (the API's refresh_minutes; 0: fetched once).
const REFRESH_CHOICES = [
  [60, "Every hour"],
  [1440, "Every day"],
  [10080, "Every week"],
  [0, "Never (fetch once)"],
] as const;

function refreshText(minutes: number | null | undefined): string {
  const choice = REFRESH_CHOICES.find(([value]) => value === minutes);
  return choice ? choice[1].toLowerCase() : minutes ? `every ${minutes} min` : "never";
}

/** Source URL, last fetch and its outcome: what a page or sitemap in the collection is. */
function FetchState({
  url,
  status,
  fetchedAt,
  error,
  refreshMinutes,
}: {
  url: string;
  status?: FetchStatus | "";
  fetchedAt?: string | null;
  error?: string;
  refreshMinutes?: number | null;
}) {
  const known = status ? (status as FetchStatus) : "pending";
  return (
    <div className="small stack" style={{ gap: 2, marginTop: 4 }} data-testid="fetch-state">
      <a
        href={url}
        target="_blank"
        rel="noreferrer noopener"
        className="mono"
        style={{ overflowWrap: "anywhere" }}
        data-testid="source-url"
      >
        {url}
      </a>
      <span className="muted row" style={{ gap: 6, flexWrap: "wrap" }}>
        <Badge tone={FETCH_TONE[known]} testId="fetch-status">
          {FETCH_TEXT[known]}
        </Badge>
        <span>
          <span data-testid="fetched-at">{fetchedAt ? `fetched ${formatDate(fetchedAt)}` : "not fetched yet"}</span> · refreshed{" "}
          {refreshText(refreshMinutes)}
        </span>
      </span>
      {error && (known === "failed" || known === "blocked") ? (
        <span className="muted" data-testid="fetch-error">
          {error}
        </span>
      ) : null}
    </div>
  );
}

function AddFromURL({ collectionId, open, onClose }: { collectionId: string; open: boolean; onClose: () => void }) {
  const [kind, setKind] = useState<"page" | "sitemap">("page");
  const path = { collection_id: collectionId };
  const add = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body = { url: String(form.get("url") ?? "").trim(), refresh_minutes: Number(form.get("refresh_minutes")) };
      if (kind === "page") await unwrap(client.POST("/api/v1/collections/{collection_id}/documents/url", { params: { path }, body }));
      else await unwrap(client.POST("/api/v1/collections/{collection_id}/sitemaps", { params: { path }, body }));
      onClose();
    },
    { invalidates: ["/api/v1/collections"] },
  );
  return (
    <Modal open={open} title="Add from URL" onClose={onClose} testId="add-from-url">
      <form className="stack" onSubmit={add.run} noValidate>
        <fieldset className="stack" style={{ border: 0, padding: 0, margin: 0, gap: 6 }}>
          <legend className="small" style={{ fontWeight: 600, marginBottom: 4 }}>
            What to add
          </legend>
          <label className="row" style={{ gap: 8 }}>
            <input type="radio" name="kind" value="page" checked={kind === "page"} onChange={() => setKind("page")} /> A web page
          </label>
          <label className="row" style={{ gap: 8 }}>
            <input type="radio" name="kind" value="sitemap" checked={kind === "sitemap"} onChange={() => setKind("sitemap")} /> Every page
            of a sitemap
          </label>
        </fieldset>
        <TextField
          label={kind === "page" ? "Page URL" : "Sitemap URL"}
          name="url"
          type="url"
          inputMode="url"
          placeholder={kind === "page" ? "https://example.com/help/shipping" : "https://example.com/sitemap.xml"}
          required
          error={add.error}
          hint={
            kind === "page"
              ? "Its main content is read (no menus or footers) and kept up to date."
              : "Pages added to the sitemap are added here; pages removed from it are deleted."
          }
        />
        <SelectField
          label="Fetch again"
          name="refresh_minutes"
          defaultValue="1440"
          error={add.error}
          hint="Only a page whose text changed is processed again; a page that is gone (404) is deleted."
        >
          {REFRESH_CHOICES.map(([value, text]) => (
            <option key={value} value={value}>
              {text}
            </option>
          ))}
        </SelectField>
        <ErrorMessage error={add.error} />
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={add.busy}>
            Add
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Text typed or pasted in (meeting notes, an e-mail, an answer written once): a document
 * like an uploaded file, read and chunked the same way. */
function AddText({ collectionId, open, onClose }: { collectionId: string; open: boolean; onClose: () => void }) {
  const toast = useToast();
  const add = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body = { title: String(form.get("title") ?? "").trim(), text: String(form.get("text") ?? "") };
      const response = await unwrap(
        client.POST("/api/v1/collections/{collection_id}/documents/text", { params: { path: { collection_id: collectionId } }, body }),
      );
      const duplicate = response.results[0]?.status === "duplicate";
      toast(
        duplicate ? `“${body.title}” is already in this collection.` : `“${body.title}” added: reading it now.`,
        duplicate ? "info" : "success",
      );
      onClose();
    },
    { invalidates: ["/api/v1/collections"] },
  );
  return (
    <Modal open={open} title="Add text" onClose={onClose} testId="add-text">
      <form className="stack" onSubmit={add.run} noValidate>
        <TextField label="Title" name="title" required autoFocus error={add.error} />
        <TextAreaField label="Text" name="text" rows={10} required error={add.error} hint="Markdown is kept: headings become sections." />
        <ErrorMessage error={add.error} />
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={add.busy}>
            Add text
          </button>
        </div>
      </form>
    </Modal>
  );
}

function SitemapRow({ collectionId, sitemap, canEdit }: { collectionId: string; sitemap: SitemapItem; canEdit: boolean }) {
  const remove = useAction(
    async () => {
      if (!window.confirm(`Remove the sitemap ${sitemap.url} and its ${sitemap.page_count ?? 0} pages?`)) return;
      await unwrap(
        client.DELETE("/api/v1/collections/{collection_id}/sitemaps/{sitemap_id}", {
          params: { path: { collection_id: collectionId, sitemap_id: sitemap.id } },
        }),
      );
    },
    { invalidates: ["/api/v1/collections"] },
  );
  return (
    <tr data-testid="sitemap-row">
      <td>
        <FetchState
          url={sitemap.url}
          status={sitemap.fetch_status}
          fetchedAt={sitemap.fetched_at}
          error={sitemap.fetch_error}
          refreshMinutes={sitemap.refresh_minutes}
        />
        {sitemap.fetch_error && sitemap.fetch_status === "changed" ? <div className="muted small">{sitemap.fetch_error}</div> : null}
        <ErrorMessage error={remove.error} />
      </td>
      <td className="num" data-testid="sitemap-pages">
        {formatNumber(sitemap.page_count ?? 0)}
      </td>
      <td className="num">
        {canEdit ? (
          <button
            type="button"
            className="btn btn-sm btn-danger"
            disabled={remove.busy}
            onClick={() => void remove.run()}
            aria-label={`Remove sitemap ${sitemap.url}`}
          >
            Remove
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function DocumentRow({ collectionId, document, canEdit }: { collectionId: string; document: DocumentItem; canEdit: boolean }) {
  const path = { collection_id: collectionId, document_id: document.id };
  const reprocess = useAction(
    async () => {
      await unwrap(client.POST("/api/v1/collections/{collection_id}/documents/{document_id}/reprocess", { params: { path } }));
    },
    { invalidates: ["/api/v1/collections"] },
  );
  const remove = useAction(
    async () => {
      if (!window.confirm(`Delete "${document.title}" and its chunks?`)) return;
      await unwrap(client.DELETE("/api/v1/collections/{collection_id}/documents/{document_id}", { params: { path } }));
    },
    { invalidates: ["/api/v1/collections"] },
  );
  const active = document.status === "pending" || document.status === "processing";
  // Linked to (#document-<id>, e.g. from a History answer that cited it): shown and marked.
  const linked = useLocation().hash === `#document-${document.id}`;
  const row = useRef<HTMLTableRowElement>(null);
  useEffect(() => {
    if (linked) row.current?.scrollIntoView({ block: "center" });
  }, [linked]);
  return (
    <tr
      data-testid="document-row"
      id={`document-${document.id}`}
      ref={row}
      aria-current={linked ? "true" : undefined}
      style={linked ? { background: "var(--accent-soft)" } : undefined}
    >
      <td>
        <strong data-testid="document-title">{document.title}</strong>
        {document.source === "url" ? (
          <FetchState
            url={document.source_url ?? ""}
            status={document.fetch_status}
            fetchedAt={document.fetched_at}
            error={document.fetch_error}
            refreshMinutes={document.refresh_minutes}
          />
        ) : (
          <div className="muted small">
            {document.content_type} · {formatBytes(document.size)}
            {document.page_count ? ` · ${document.page_count} pages` : ""}
          </div>
        )}
        {document.status === "failed" && document.error ? (
          <div className="alert alert-error small" style={{ marginTop: 6 }} data-testid="document-error">
            {document.error}
          </div>
        ) : null}
        <ErrorMessage error={reprocess.error ?? remove.error} />
      </td>
      <td>
        <div className="stack" style={{ gap: 6 }}>
          <DocumentStatusBadge document={document} />
          {active && document.chunks_total ? (
            <div
              className="progress"
              role="progressbar"
              aria-label={`Processing ${document.title}`}
              aria-valuenow={Math.round((document.progress ?? 0) * 100)}
              aria-valuemin={0}
              aria-valuemax={100}
            >
              <span style={{ width: `${Math.round((document.progress ?? 0) * 100)}%` }} />
            </div>
          ) : null}
        </div>
      </td>
      <td className="num hide-sm">
        {document.status === "completed"
          ? formatNumber(document.chunks_total)
          : active && document.chunks_total
            ? `${document.chunks_done}/${document.chunks_total}`
            : "—"}
      </td>
      <td className="hide-sm muted small">{formatDate(document.processed_at ?? document.created_at)}</td>
      <td className="num">
        {canEdit ? (
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button
              type="button"
              className="btn btn-sm"
              disabled={reprocess.busy || active}
              onClick={() => void reprocess.run()}
              aria-label={`Reprocess ${document.title}`}
            >
              Reprocess
            </button>
            <button
              type="button"
              className="btn btn-sm btn-danger"
              disabled={remove.busy}
              onClick={() => void remove.run()}
              aria-label={`Delete ${document.title}`}
            >
              Delete
            </button>
          </div>
        ) : null}
      </td>
    </tr>
  );
}

export function CollectionPage() {
  const { collectionId = "" } = useParams();
  const { canEdit } = usePermissions();
  const navigate = useNavigate();
  const [page, setPage] = useState(1);
  const [editing, setEditing] = useState(false);
  const [addingURL, setAddingURL] = useState(false);
  const [addingText, setAddingText] = useState(false);
  const invalidate = useInvalidate();
  const collectionInit = { params: { path: { collection_id: collectionId } } };
  const collection = $api.useQuery("get", "/api/v1/collections/{collection_id}", collectionInit, { placeholderData: undefined });
  // Live status: a sitemap not read yet is polled until it is (its pages then arrive).
  const sitemaps = $api.useQuery(
    "get",
    "/api/v1/collections/{collection_id}/sitemaps",
    { params: { path: { collection_id: collectionId }, query: { page_size: 100 } } },
    { refetchInterval: (query) => (query.state.data?.results.some((sitemap) => sitemap.fetch_status === "pending") ? 1500 : false) },
  );
  const sitemapsBusy = Boolean(sitemaps.data?.results.some((sitemap) => sitemap.fetch_status === "pending"));
  // Live status: polled every 1.5 s while any document is still pending or processing
  // (or a sitemap is still bringing its pages).
  const documents = $api.useQuery(
    "get",
    "/api/v1/collections/{collection_id}/documents",
    { params: { path: { collection_id: collectionId }, query: { page, page_size: 50 } } },
    { refetchInterval: (query) => (query.state.data?.results.some(isProcessing) || sitemapsBusy ? 1500 : false) },
  );
  useIngestionToasts(documents.data?.results);
  // A sitemap read (its status or page count changed) added or removed pages: ask for
  // the documents again, even when the last poll came just before they were written.
  const sitemapState = sitemaps.data?.results.map((sitemap) => `${sitemap.id}:${sitemap.fetch_status}:${sitemap.page_count}`).join(",");
  const seenSitemapState = useRef(sitemapState);
  useEffect(() => {
    if (sitemapState === seenSitemapState.current) return;
    seenSitemapState.current = sitemapState;
    void invalidate("/api/v1/collections/{collection_id}/documents");
  }, [sitemapState, invalidate]);
  const busy = documents.data?.results.some(isProcessing);
  // When the last one finishes, the collection's counts (documents, chunks) changed too.
  const wasBusy = useRef(false);
  useEffect(() => {
    if (wasBusy.current && !busy) {
      void invalidate("/api/v1/collections/{collection_id}");
    }
    wasBusy.current = Boolean(busy);
  }, [busy, invalidate]);

  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const updated = await unwrap(
        client.PATCH("/api/v1/collections/{collection_id}", {
          params: { path: { collection_id: collectionId } },
          body: {
            name: String(form.get("name")),
            description: String(form.get("description") ?? ""),
            chunking: String(form.get("chunking")) as Chunking,
            chunk_size: Number(form.get("chunk_size")),
            parent_size: Number(form.get("parent_size")),
          },
        }),
      );
      setEditing(false);
      return updated;
    },
    { invalidates: ["/api/v1/collections"] },
  );
  const remove = useAction(
    async () => {
      if (!window.confirm("Delete this collection with all its documents?")) return;
      await unwrap(client.DELETE("/api/v1/collections/{collection_id}", { params: { path: { collection_id: collectionId } } }));
      navigate("/knowledge");
    },
    { invalidates: ["/api/v1/collections"] },
  );

  if (collection.error) {
    return (
      <>
        <PageHeader title="Collection" />
        <ErrorMessage error={collection.error} />
      </>
    );
  }
  if (!collection.data) return <Loading />;
  const data: Collection = collection.data;
  return (
    <div className="stack-lg">
      <PageHeader
        title={data.name}
        description={
          <>
            <Link to="/knowledge">Knowledge</Link> · {formatNumber(data.document_count)} documents · {formatNumber(data.chunk_count)} chunks
            · <span className="mono">{data.embedding_model}</span> ·{" "}
            <span data-testid="collection-language">
              {data.language}
              {data.unaccent ? ", accents ignored" : ""}
            </span>{" "}
            ·{" "}
            <span data-testid="collection-chunking">
              {data.chunking === "parent_child"
                ? `chunks of ${String(data.chunk_size)} in sections of ${String(data.parent_size)} tokens`
                : `chunks of ${String(data.chunk_size)} tokens`}
            </span>
          </>
        }
        actions={
          canEdit ? (
            <>
              <Link className="btn" to={`/knowledge/${collectionId}/evaluation`}>
                Evaluation
              </Link>
              <button type="button" className="btn btn-primary" onClick={() => setAddingURL(true)}>
                Add from URL
              </button>
              <button type="button" className="btn" onClick={() => setAddingText(true)}>
                Add text
              </button>
              <button type="button" className="btn" onClick={() => setEditing(true)}>
                Edit collection
              </button>
              <button type="button" className="btn btn-danger" disabled={remove.busy} onClick={() => void remove.run()}>
                Delete collection
              </button>
            </>
          ) : (
            <Link className="btn" to={`/knowledge/${collectionId}/evaluation`}>
              Evaluation
            </Link>
          )
        }
      />
      <ErrorMessage error={remove.error} />
      {data.description ? <p className="muted">{data.description}</p> : null}
      {canEdit ? <Uploader collectionId={collectionId} /> : null}
      <div className="card">
        <div className="card-header">
          <h2>Documents</h2>
          {busy ? (
            <span className="muted small" role="status">
              <span className="spin" aria-hidden="true" style={{ width: 10, height: 10 }} /> Processing…
            </span>
          ) : null}
        </div>
        <ErrorMessage error={documents.error} />
        {documents.data ? (
          documents.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack" data-testid="documents-table">
                <thead>
                  <tr>
                    <th>Document</th>
                    <th>Status</th>
                    <th className="num hide-sm">Chunks</th>
                    <th className="hide-sm">Processed</th>
                    <th className="num">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {documents.data.results.map((document) => (
                    <DocumentRow key={document.id} collectionId={collectionId} document={document} canEdit={canEdit} />
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No documents yet">
              {canEdit ? "Drop files above, add a web page or a sitemap with “Add from URL”, or paste text with “Add text”." : null}
            </Empty>
          )
        ) : (
          <Loading />
        )}
        {documents.data ? <Pager page={page} count={documents.data.count} pageSize={50} onPage={setPage} /> : null}
      </div>
      {sitemaps.data?.results.length ? (
        <div className="card" data-testid="sitemaps">
          <div className="card-header">
            <h2>Sitemaps</h2>
          </div>
          <ErrorMessage error={sitemaps.error} />
          <div className="table-wrap">
            <table className="table table-stack" data-testid="sitemaps-table">
              <thead>
                <tr>
                  <th>Sitemap</th>
                  <th className="num">Pages</th>
                  <th className="num">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {sitemaps.data.results.map((sitemap) => (
                  <SitemapRow key={sitemap.id} collectionId={collectionId} sitemap={sitemap} canEdit={canEdit} />
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
      <AddFromURL collectionId={collectionId} open={addingURL} onClose={() => setAddingURL(false)} />
      <AddText collectionId={collectionId} open={addingText} onClose={() => setAddingText(false)} />
      <Modal open={editing} title="Edit collection" onClose={() => setEditing(false)}>
        <form className="stack" onSubmit={save.run} noValidate>
          <TextField label="Name" name="name" defaultValue={data.name} required error={save.error} />
          <TextAreaField label="Description" name="description" defaultValue={data.description ?? ""} rows={3} error={save.error} />
          <SelectField
            label="Chunking"
            name="chunking"
            defaultValue={data.chunking}
            hint="Parent-child: small chunks are searched and the model reads the section around them. Applies to documents processed from now on (reprocess to apply)."
            error={save.error}
          >
            <option value="parent_child">Parent-child (search small chunks, read their section)</option>
            <option value="flat">Flat (the model reads the searched chunk)</option>
          </SelectField>
          <div className="row">
            <TextField
              label="Chunk size (tokens)"
              name="chunk_size"
              type="number"
              min={50}
              max={8000}
              defaultValue={data.chunk_size}
              hint="The searched chunks (bounded by the embedding model's window)."
              error={save.error}
            />
            <TextField
              label="Parent size (tokens)"
              name="parent_size"
              type="number"
              min={100}
              max={8000}
              defaultValue={data.parent_size}
              hint="Parent-child only: the section the model reads."
              error={save.error}
            />
          </div>
          <ErrorMessage error={save.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={save.busy}>
              Save
            </button>
          </div>
        </form>
      </Modal>
    </div>
  );
}

// ---------------------------------------------------------------- search playground

const MODES: SearchMode[] = ["hybrid", "vector", "keyword"];

const SKIPPED: Record<string, string> = { timeout: "the reranker did not answer in time", error: "the reranker failed" };

/** How a mode's results were reranked, or why they were not (they keep the fused order). */
function RerankNote({ outcome }: { outcome: RerankOutcome }) {
  if (outcome.applied) {
    return (
      <div className="small muted" data-testid="search-rerank-applied">
        <Badge tone="accent">reranked</Badge> {outcome.candidates} candidates · {outcome.latency_ms} ms
      </div>
    );
  }
  return (
    <div className="alert alert-warning small" role="status" data-testid="search-rerank-skipped">
      Not reranked: {SKIPPED[outcome.skipped_reason] ?? outcome.skipped_reason ?? "unknown"}. These results keep their un-reranked order.
    </div>
  );
}

export function SearchPage() {
  const { isAdmin } = usePermissions();
  const collections = $api.useQuery(
    "get",
    "/api/v1/collections",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results },
  );
  // Admins see the organization's rerankers; others may rerank with its only one (the
  // API explains under the checkbox when there is none, or several).
  const rerankers = $api.useQuery(
    "get",
    "/api/v1/rerankers",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results, enabled: isAdmin },
  );
  const canRerank = !isAdmin || Boolean(rerankers.data?.length);
  const [selected, setSelected] = useState<string[] | null>(null);
  const [modes, setModes] = useState<SearchMode[]>(MODES);
  const [rerank, setRerank] = useState(false);
  const [results, setResults] = useState<Partial<Record<SearchMode, { hits: Hit[]; rerank?: RerankOutcome | null }>>>({});
  const chosen = selected ?? (collections.data ?? []).map((collection) => collection.id);
  const search = useAction(async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const query = String(form.get("query") ?? "");
    const topK = Number(form.get("top_k") || 5);
    const collapse = form.get("collapse") === "on" ? "document" : "none";
    const reranking =
      rerank && canRerank
        ? {
            rerank: true,
            rerank_candidates: Number(form.get("rerank_candidates") || 30),
            ...(form.get("reranker") ? { reranker: String(form.get("reranker")) } : {}),
          }
        : {};
    const answers = await Promise.all(
      modes.map(async (mode) => {
        const answer = await unwrap(
          client.POST("/api/v1/search", { body: { query, collections: chosen, mode, top_k: topK, collapse, ...reranking } }),
        );
        return [mode, { hits: answer.results, rerank: answer.rerank }] as const;
      }),
    );
    setResults(Object.fromEntries(answers));
  });
  const toggle = <T,>(list: T[], value: T) => (list.includes(value) ? list.filter((item) => item !== value) : [...list, value]);
  return (
    <>
      <PageHeader
        title="Search playground"
        description="See what each retrieval mode finds: rank, match (relative to the best result), documents, pages and highlighted snippets."
      />
      <div className="card" style={{ marginBottom: 20 }}>
        <form className="card-body stack" onSubmit={search.run} noValidate>
          <div className="row" style={{ alignItems: "flex-end" }}>
            <div className="grow">
              <TextField label="Query" name="query" required placeholder="e.g. How many vacation days do I get?" error={search.error} />
            </div>
            <div style={{ width: 110 }}>
              <TextField label="Top k" name="top_k" type="number" min={1} max={100} defaultValue={5} error={search.error} />
            </div>
            <label className="check" style={{ marginBottom: 8 }}>
              <input type="checkbox" name="collapse" data-testid="search-collapse" /> One per document
            </label>
            {canRerank ? (
              <label className="check" style={{ marginBottom: 8 }}>
                <input type="checkbox" name="rerank" checked={rerank} onChange={(event) => setRerank(event.target.checked)} /> Rerank
              </label>
            ) : null}
            <button type="submit" className="btn btn-primary" disabled={search.busy || !chosen.length || !modes.length}>
              {search.busy ? "Searching…" : "Search"}
            </button>
          </div>
          <div className="grid-2">
            <fieldset>
              <legend>Collections</legend>
              {collections.error ? <ErrorMessage error={collections.error} /> : null}
              <div className="checks">
                {(collections.data ?? []).map((collection) => (
                  <label key={collection.id} className="check">
                    <input
                      type="checkbox"
                      checked={chosen.includes(collection.id)}
                      onChange={() => setSelected(toggle(chosen, collection.id))}
                    />
                    {collection.name}
                  </label>
                ))}
              </div>
              {collections.data && !collections.data.length ? <p className="muted small">No collections yet.</p> : null}
            </fieldset>
            <fieldset>
              <legend>Modes</legend>
              <div className="checks">
                {MODES.map((mode) => (
                  <label key={mode} className="check">
                    <input type="checkbox" checked={modes.includes(mode)} onChange={() => setModes(toggle(modes, mode))} />
                    {mode}
                  </label>
                ))}
              </div>
            </fieldset>
          </div>
          <FieldErrors error={search.error} name="rerank" />
          {rerank && canRerank ? (
            <div className="grid-2">
              {isAdmin ? (
                <SelectField label="Reranker" name="reranker" error={search.error}>
                  {(rerankers.data ?? []).map((reranker) => (
                    <option key={reranker.id} value={reranker.id}>
                      {reranker.name}
                    </option>
                  ))}
                </SelectField>
              ) : (
                <FieldErrors error={search.error} name="reranker" />
              )}
              <TextField
                label="Candidates to rerank"
                name="rerank_candidates"
                type="number"
                min={1}
                max={100}
                defaultValue={30}
                error={search.error}
                hint="The best fused passages the reranker reads."
              />
            </div>
          ) : null}
          <ErrorMessage error={search.error} />
        </form>
      </div>
      <div className={`grid-${Math.max(1, Object.keys(results).length)}`} style={{ alignItems: "start" }} aria-live="polite">
        {MODES.filter((mode) => results[mode]).map((mode) => {
          const { hits, rerank: outcome } = results[mode]!;
          // Reranked hits are ordered by the reranker's score: their match is read from it.
          const reranked = Boolean(outcome?.applied) && hits[0]?.rerank_score != null;
          const scoreOf = (hit: Hit) => (reranked ? (hit.rerank_score ?? 0) : hit.score);
          return (
            <section key={mode} className="stack" data-testid={`search-results-${mode}`} aria-label={`${mode} results`}>
              <h2 style={{ textTransform: "capitalize" }}>
                {mode} <span className="muted small">({hits.length})</span>
              </h2>
              {outcome ? <RerankNote outcome={outcome} /> : null}
              <div className="hits">
                {hits.map((hit, index) => (
                  <article key={hit.chunk_id} className="hit" data-testid="search-hit">
                    <div className="row-between small">
                      <strong>
                        {index + 1}. {hit.document_title}
                      </strong>
                      <Relevance rank={index + 1} score={scoreOf(hit)} best={hits[0] ? scoreOf(hits[0]) : 0} testId="search-score" />
                    </div>
                    <div className="muted small">
                      {hit.page
                        ? hit.page_end && hit.page_end !== hit.page
                          ? `Pages ${hit.page}–${hit.page_end}`
                          : `Page ${hit.page}`
                        : "No page"}
                      {hit.section ? ` · ${hit.section}` : ""}
                      {hit.rerank_score != null ? (
                        <span data-testid="search-rerank-score"> · rerank score {hit.rerank_score.toFixed(3)}</span>
                      ) : null}
                    </div>
                    <p className="small" style={{ marginTop: 6 }}>
                      <Highlighted text={hit.snippet} />
                    </p>
                    {hit.parent ? (
                      <details className="small" data-testid="search-hit-section">
                        <summary className="muted">Section the assistant reads ({formatNumber(hit.parent.token_count)} tokens)</summary>
                        <p className="chunk-text">{hit.parent.text}</p>
                      </details>
                    ) : null}
                  </article>
                ))}
                {!hits.length ? <p className="muted small">Nothing found.</p> : null}
              </div>
            </section>
          );
        })}
      </div>
    </>
  );
}
