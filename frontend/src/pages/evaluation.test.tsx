// The evaluation page with a reranker (ADR 0099, addendum): admins compare a run with one
// of the organization's rerankers; the reranked rows show apart (and say when the reranker
// failed); "Use these settings" gives the assistant the reranker when its row is best.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fakeServer, json, page, renderPage, toasts } from "../test/harness";
import EvaluationPage from "./evaluation";

// The chart's container measures itself; jsdom has no ResizeObserver.
class NoResizeObserver {
  observe = vi.fn();
  unobserve = vi.fn();
  disconnect = vi.fn();
}
beforeEach(() => {
  vi.stubGlobal("ResizeObserver", NoResizeObserver);
});

const result = (reranked: boolean, ndcg: number, rerank_failures = 0) => ({
  mode: "hybrid",
  top_k: 10,
  reranked,
  rerank_failures,
  ndcg_at_10: ndcg,
  recall_at_10: ndcg,
  mrr: ndcg,
  questions: 2,
});

const run = (results: ReturnType<typeof result>[]) => ({
  id: "run1",
  collection: "c1",
  status: "completed",
  modes: ["hybrid"],
  top_ks: [10],
  reranker: "r1",
  rerank_candidates: 40,
  config: { chunk_size: 500, chunk_overlap: 50, chunks: 12, reranker: { id: "r1", name: "Cohere rerank", candidates: 40 } },
  questions_total: 2,
  steps_done: 4,
  steps_total: 4,
  error: "",
  results,
  started_at: "2026-12-02T02:00:00Z",
  finished_at: "2026-12-02T02:01:00Z",
  created_at: "2026-12-02T02:00:00Z",
});

function server(results: ReturnType<typeof result>[]) {
  return fakeServer({
    "GET /api/v1/collections/:id": async () => json({ id: "c1", name: "Handbook" }),
    "GET /api/v1/collections/:id/evaluation/questions": async () =>
      json(page([{ id: "q1", text: "reset my password", documents: [], source: "entered", approved: true }])),
    "GET /api/v1/collections/:id/evaluation/runs": async () => json(page([run(results)])),
    "POST /api/v1/collections/:id/evaluation/runs": async () => json(run([]), 201),
    "GET /api/v1/rerankers": async () => json(page([{ id: "r1", name: "Cohere rerank" }])),
    "GET /api/v1/assistants": async () => json(page([{ id: "a1", name: "Support" }])),
    "PATCH /api/v1/assistants/:id": async () => json({ id: "a1", name: "Support" }),
  });
}

const open = () => renderPage(<EvaluationPage />, { route: "/knowledge/c1/evaluation", path: "/knowledge/:collectionId/evaluation" });

describe("Evaluation: comparing with a reranker", () => {
  it("shows the reranked row apart and gives the assistant the reranker when it is best", async () => {
    const fake = server([result(false, 0.6), result(true, 0.8)]);
    open();

    const reranked = await screen.findByTestId("result-hybrid-10-reranked");
    expect(within(reranked).getByText("reranked")).toBeTruthy();
    expect(within(reranked).getByText("best")).toBeTruthy();
    expect(within(screen.getByTestId("result-hybrid-10")).queryByText("best")).toBeNull();
    fireEvent.click(await screen.findByRole("button", { name: /Use these settings \(hybrid, top 10, reranked\)/ }));

    await waitFor(() => expect(fake.sent("PATCH", "/api/v1/assistants/a1")).toHaveLength(1));
    expect(fake.sent("PATCH", "/api/v1/assistants/a1")[0]).toEqual({
      retrieval_mode: "hybrid",
      retrieval_top_k: 10,
      reranker: "r1",
      rerank_candidates: 40,
    });
    await waitFor(() => expect(toasts().join()).toContain("reranked by “Cohere rerank”"));
  });

  it("says when the reranker failed, and does not recommend that row", async () => {
    const fake = server([result(false, 0.6), result(true, 0.6, 2)]);
    open();

    const reranked = await screen.findByTestId("result-hybrid-10-reranked");
    expect(within(reranked).getByText("reranker failed for 2 of 2")).toBeTruthy();
    expect(within(screen.getByTestId("result-hybrid-10")).getByText("best")).toBeTruthy();
    fireEvent.click(await screen.findByRole("button", { name: "Use these settings (hybrid, top 10)" }));

    await waitFor(() => expect(fake.sent("PATCH", "/api/v1/assistants/a1")).toHaveLength(1));
    expect(fake.sent("PATCH", "/api/v1/assistants/a1")[0]).toEqual(expect.objectContaining({ reranker: null }));
  });

  it("starts a run compared with the chosen reranker", async () => {
    const fake = server([result(false, 0.6)]);
    open();
    const form = await screen.findByTestId("start-run");
    await within(form).findByRole("option", { name: "Cohere rerank" });

    fireEvent.change(within(form).getByLabelText("Compare with reranker"), { target: { value: "r1" } });
    fireEvent.click(within(form).getByRole("button", { name: "Run evaluation" }));

    await waitFor(() => expect(fake.sent("POST", "/api/v1/collections/c1/evaluation/runs")).toHaveLength(1));
    expect(fake.sent("POST", "/api/v1/collections/c1/evaluation/runs")[0]).toEqual(
      expect.objectContaining({ reranker: "r1", top_ks: [10] }),
    );
  });
});
