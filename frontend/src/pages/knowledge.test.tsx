// Knowledge: a new collection (refusal under its field, draft kept, then its page), files
// added (each upload's refusal said on its own line, a success toasted and listed), a
// page added from its URL and text pasted in (refusal under its field with the draft
// kept; added: the form closes and the document appears).
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage, toasts } from "../test/harness";
import { CollectionPage, KnowledgePage, SearchPage } from "./knowledge";

const COLLECTION = {
  id: "c1",
  name: "Handbook",
  description: "",
  language: "english",
  unaccent: false,
  chunking: "flat",
  chunk_size: 400,
  chunk_overlap: 60,
  parent_size: 1000,
  document_count: 0,
  chunk_count: 0,
  embedding_model: "all-MiniLM-L6-v2",
  created_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};

const document = (id: string, title: string) => ({
  id,
  title,
  status: "completed",
  error: "",
  chunk_count: 3,
  source_type: "upload",
  size: 1200,
  processed_at: "2026-12-01T08:00:00Z",
  created_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
});

describe("Knowledge: new collection", () => {
  it("puts the refusal under the name, keeps the draft, is disabled while it runs, then opens the collection", async () => {
    let attempts = 0;
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/collections": async () => {
        if (++attempts === 1) return invalid({ name: ["A collection with this name exists."] });
        await answer.promise;
        return json({ ...COLLECTION, id: "c7", name: "Policies" }, 201);
      },
    });
    renderPage(<KnowledgePage />, { route: "/knowledge" });
    await screen.findByText("No collections yet");
    fireEvent.click(screen.getByRole("button", { name: "New collection" }));
    const dialog = screen.getByRole("dialog", { name: "New collection" });
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Handbook" } });
    fireEvent.change(within(dialog).getByLabelText("Description"), { target: { value: "HR rules" } });
    fireEvent.change(within(dialog).getByLabelText("Keyword search language"), { target: { value: "german" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create collection" }));

    await waitFor(() => expectFieldError("Name", "name", "A collection with this name exists."));
    expect(within(dialog).getByLabelText("Description")).toHaveProperty("value", "HR rules");
    expect(within(dialog).getByLabelText("Keyword search language")).toHaveProperty("value", "german");

    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Policies" } });
    const submit = within(dialog).getByRole("button", { name: "Create collection" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();
    expect((await screen.findByTestId("location")).textContent).toBe("/knowledge/c7");
    expect(server.sent("POST", "/api/v1/collections")).toEqual([
      { name: "Handbook", description: "HR rules", language: "german", unaccent: false },
      { name: "Policies", description: "HR rules", language: "german", unaccent: false },
    ]);
  });
});

/** XMLHttpRequest as the uploader uses it (one request per file, progress events), answered
 * by `respond` once the test says so. */
function fakeUploads(respond: (file: File) => { status: number; body: unknown }) {
  const sent: { url: string; file: File; finish: () => void }[] = [];
  class FakeXHR {
    status = 0;
    responseText = "";
    upload: { onprogress: ((event: ProgressEvent) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    withCredentials = false;
    private url = "";
    open(_method: string, url: string) {
      this.url = url;
    }
    setRequestHeader() {}
    send(data: FormData) {
      const file = data.get("files") as File;
      sent.push({
        url: this.url,
        file,
        finish: () => {
          const { status, body } = respond(file);
          this.upload.onprogress?.({ lengthComputable: true, loaded: file.size, total: file.size } as ProgressEvent);
          this.status = status;
          this.responseText = JSON.stringify(body);
          this.onload?.();
        },
      });
    }
  }
  vi.stubGlobal("XMLHttpRequest", FakeXHR);
  return sent;
}

function collectionServer(documents: ReturnType<typeof document>[], routes = {}) {
  return fakeServer({
    "GET /api/v1/collections/c1": async () => json(COLLECTION),
    "GET /api/v1/collections/c1/documents": async () => json(page(documents)),
    ...routes,
  });
}

describe("Knowledge: adding documents", () => {
  it("files: each upload's refusal on its own line, a success toasted and listed", async () => {
    const documents: ReturnType<typeof document>[] = [];
    collectionServer(documents);
    const uploads = fakeUploads((file) =>
      file.name.endsWith(".exe")
        ? { status: 415, body: { error: { code: "unsupported_type", message: "This file type is not supported (.exe).", fields: {} } } }
        : (documents.push(document("d1", file.name)), { status: 201, body: { results: [{ status: "created", document: documents[0] }] } }),
    );
    renderPage(<CollectionPage />, { route: "/knowledge/c1", path: "/knowledge/:collectionId" });
    await screen.findByText("No documents yet");
    fireEvent.change(screen.getByTestId("upload-input"), {
      target: { files: [new File(["# Leave"], "leave.md", { type: "text/markdown" }), new File(["MZ"], "setup.exe")] },
    });
    const [first, second] = screen.getAllByTestId("upload-item");
    expect(within(first).getByTestId("upload-state").textContent).toBe("0%");
    expect(uploads.map((upload) => [upload.url, upload.file.name])).toEqual([
      ["/api/v1/collections/c1/documents", "leave.md"],
      ["/api/v1/collections/c1/documents", "setup.exe"],
    ]);
    uploads.forEach((upload) => upload.finish());

    await waitFor(() => expect(within(second).getByRole("alert").textContent).toBe("setup.exe: This file type is not supported (.exe)."));
    expect(within(second).getByTestId("upload-state").textContent).toBe("failed");
    expect(within(first).getByTestId("upload-state").textContent).toBe("uploaded");
    expect(within(first).queryByRole("alert")).toBeNull();
    expect(toasts()).toEqual([expect.stringContaining("“leave.md” uploaded: reading it now.")]);
    expect((await screen.findByTestId("document-row")).textContent).toContain("leave.md");
  });

  it("a page from its URL: the refusal under the URL with the draft kept; added: the form closes and it is listed", async () => {
    const documents: ReturnType<typeof document>[] = [];
    let attempts = 0;
    const answer = gate();
    const server = collectionServer(documents, {
      "POST /api/v1/collections/c1/documents/url": async ({ body }: { body: unknown }) => {
        if (++attempts === 1) return invalid({ url: ["Addresses in private networks are not allowed."] });
        await answer.promise;
        documents.push(document("d2", (body as { url: string }).url));
        return json(documents[0], 201);
      },
    });
    renderPage(<CollectionPage />, { route: "/knowledge/c1", path: "/knowledge/:collectionId" });
    fireEvent.click(await screen.findByRole("button", { name: "Add from URL" }));
    const dialog = screen.getByRole("dialog", { name: "Add from URL" });
    fireEvent.change(within(dialog).getByLabelText("Page URL"), { target: { value: "http://192.168.1.4/help" } });
    fireEvent.change(within(dialog).getByLabelText("Fetch again"), { target: { value: "60" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Add" }));

    await waitFor(() => expectFieldError("Page URL", "url", "Addresses in private networks are not allowed."));
    expect(within(dialog).getByLabelText("Page URL")).toHaveProperty("value", "http://192.168.1.4/help");
    expect(within(dialog).getByLabelText("Fetch again")).toHaveProperty("value", "60");

    fireEvent.change(within(dialog).getByLabelText("Page URL"), { target: { value: "https://example.com/help" } });
    const submit = within(dialog).getByRole("button", { name: "Add" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();
    expect((await screen.findByTestId("document-row")).textContent).toContain("https://example.com/help");
    expect(screen.queryByRole("dialog", { name: "Add from URL" })).toBeNull();
    expect(server.sent("POST", "/api/v1/collections/c1/documents/url")).toEqual([
      { url: "http://192.168.1.4/help", refresh_minutes: 60 },
      { url: "https://example.com/help", refresh_minutes: 60 },
    ]);
  });

  it("text: the refusal under its field with the draft kept; added: a toast, the form closes and it is listed", async () => {
    const documents: ReturnType<typeof document>[] = [];
    let attempts = 0;
    const answer = gate();
    const server = collectionServer(documents, {
      "POST /api/v1/collections/c1/documents/text": async ({ body }: { body: unknown }) => {
        if (++attempts === 1) return invalid({ text: ["This field may not be blank."] });
        await answer.promise;
        documents.push(document("d3", (body as { title: string }).title));
        return json({ results: [{ status: "created", document: documents[0] }] }, 201);
      },
    });
    renderPage(<CollectionPage />, { route: "/knowledge/c1", path: "/knowledge/:collectionId" });
    fireEvent.click(await screen.findByRole("button", { name: "Add text" }));
    const dialog = screen.getByRole("dialog", { name: "Add text" });
    fireEvent.change(within(dialog).getByLabelText("Title"), { target: { value: "Refund rules " } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Add text" }));

    await waitFor(() => expectFieldError("Text", "text", "This field may not be blank."));
    expect(within(dialog).getByLabelText("Title")).toHaveProperty("value", "Refund rules ");

    fireEvent.change(within(dialog).getByLabelText("Text"), { target: { value: "# Refunds\n\nWithin 30 days." } });
    const submit = within(dialog).getByRole("button", { name: "Add text" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();
    expect((await screen.findByTestId("document-row")).textContent).toContain("Refund rules");
    expect(screen.queryByRole("dialog", { name: "Add text" })).toBeNull();
    expect(toasts()).toEqual([expect.stringContaining("“Refund rules” added: reading it now.")]);
    expect(server.sent("POST", "/api/v1/collections/c1/documents/text")).toEqual([
      { title: "Refund rules", text: "" },
      { title: "Refund rules", text: "# Refunds\n\nWithin 30 days." },
    ]);
  });
});

describe("Knowledge: chunking settings", () => {
  it("switches to parent-child: a refusal under the parent size keeps the form; saved, the header says it", async () => {
    let attempts = 0;
    let current = COLLECTION;
    const server = fakeServer({
      "GET /api/v1/collections/c1": async () => json(current),
      "GET /api/v1/collections/c1/documents": async () => json(page([])),
      "PATCH /api/v1/collections/c1": async ({ body }: { body: unknown }) => {
        if (++attempts === 1) return invalid({ parent_size: ["Make the parent size larger than the chunk size."] });
        current = { ...COLLECTION, ...(body as object) };
        return json(current);
      },
    });
    renderPage(<CollectionPage />, { route: "/knowledge/c1", path: "/knowledge/:collectionId" });
    expect((await screen.findByTestId("collection-chunking")).textContent).toBe("chunks of 400 tokens");
    fireEvent.click(screen.getByRole("button", { name: "Edit collection" }));
    const dialog = screen.getByRole("dialog", { name: "Edit collection" });
    fireEvent.change(within(dialog).getByLabelText("Chunking"), { target: { value: "parent_child" } });
    fireEvent.change(within(dialog).getByLabelText("Parent size (tokens)"), { target: { value: "300" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save" }));

    await waitFor(() => expectFieldError("Parent size (tokens)", "parent_size", "Make the parent size larger than the chunk size."));
    fireEvent.change(within(dialog).getByLabelText("Parent size (tokens)"), { target: { value: "1200" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save" }));

    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Edit collection" })).toBeNull());
    await waitFor(() => expect(screen.getByTestId("collection-chunking").textContent).toBe("chunks of 400 in sections of 1200 tokens"));
    expect(server.sent("PATCH", "/api/v1/collections/c1")).toEqual([
      { name: "Handbook", description: "", chunking: "parent_child", chunk_size: 400, parent_size: 300 },
      { name: "Handbook", description: "", chunking: "parent_child", chunk_size: 400, parent_size: 1200 },
    ]);
  });
});

describe("Search playground: reranking", () => {
  const hit = (chunk_id: number, title: string, score: number, rerank_score: number | null) => ({
    chunk_id,
    document_id: `d${chunk_id}`,
    document_title: title,
    collection_id: "c1",
    text: title,
    page: null,
    page_end: null,
    section: "",
    score,
    rerank_score,
    snippet: title,
  });

  it("asks for reranking, shows each hit's rerank score, and says when reranking did not apply", async () => {
    const server = fakeServer({
      "GET /api/v1/collections": async () => json(page([{ id: "c1", name: "Handbook" }])),
      "GET /api/v1/rerankers": async () => json(page([{ id: "r1", name: "Cohere rerank" }])),
      "POST /api/v1/search": async ({ body }) => {
        const { mode } = body as { mode: string };
        const outcome = { reranker_id: "r1", candidates: 30, latency_ms: 12 };
        return mode === "hybrid"
          ? json({
              mode,
              results: [hit(2, "Shipping", 0.01, 0.91), hit(1, "Refunds", 0.03, 0.12)],
              rerank: { ...outcome, applied: true, skipped_reason: "" },
            })
          : json({ mode, results: [hit(1, "Refunds", 0.5, null)], rerank: { ...outcome, applied: false, skipped_reason: "timeout" } });
      },
    });
    renderPage(<SearchPage />, { route: "/search" });
    await screen.findByLabelText("Handbook");
    fireEvent.click(await screen.findByLabelText("Rerank"));
    fireEvent.click(screen.getByLabelText("keyword"));
    fireEvent.change(screen.getByLabelText("Query"), { target: { value: "when does my parcel arrive" } });
    fireEvent.change(screen.getByLabelText("Candidates to rerank"), { target: { value: "20" } });
    fireEvent.click(screen.getByRole("button", { name: "Search" }));

    const hybrid = await screen.findByTestId("search-results-hybrid");
    expect(
      within(hybrid)
        .getAllByTestId("search-rerank-score")
        .map((score) => score.textContent),
    ).toEqual([" · rerank score 0.910", " · rerank score 0.120"]);
    expect(within(hybrid).getByTestId("search-rerank-applied").textContent).toContain("30 candidates");
    const vector = screen.getByTestId("search-results-vector");
    expect(within(vector).getByTestId("search-rerank-skipped").textContent).toContain("did not answer in time");
    expect(within(vector).queryByTestId("search-rerank-score")).toBeNull();
    expect(server.sent("POST", "/api/v1/search")).toEqual([
      expect.objectContaining({ mode: "hybrid", rerank: true, reranker: "r1", rerank_candidates: 20 }),
      expect.objectContaining({ mode: "vector", rerank: true, reranker: "r1", rerank_candidates: 20 }),
    ]);
  });
});
