// The assistant form: refusals under their fields (a linked collection's under the
// collections) with every setting kept; "Saving…" while it runs; once created, a toast
// and the assistant's own page.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage, toasts } from "../test/harness";
import { AssistantEditPage } from "./assistants";

const model = (id: string, display_name: string) => ({
  id,
  provider: "openai",
  model_id: id,
  display_name,
  capabilities: ["chat"],
  input_price_per_million: "0.15",
  output_price_per_million: "0.60",
  currency: "USD",
  answer_mode: "generative",
});
const MODELS = page([model("m1", "GPT mini"), model("m2", "GPT large")]);
const COLLECTIONS = page([
  { id: "c1", name: "Handbook" },
  { id: "c2", name: "Archive" },
]);

function server(post: (body: Record<string, unknown>) => Promise<Response>) {
  let created: unknown = null;
  return fakeServer({
    "GET /api/v1/models": async () => json(MODELS),
    "GET /api/v1/collections": async () => json(COLLECTIONS),
    "POST /api/v1/assistants": async ({ body }) => {
      const response = await post(body as Record<string, unknown>);
      if (response.ok) created = await response.clone().json();
      return response;
    },
    "GET /api/v1/assistants/:id": async () => json(created),
  });
}

async function openNew() {
  renderPage(<AssistantEditPage />, { route: "/assistants/new", path: ["/assistants/new", "/assistants/:assistantId"] });
  const form = await screen.findByRole("form", { name: "Assistant settings" });
  await within(form).findByLabelText("Handbook");
  fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "Support" } });
  fireEvent.change(within(form).getByLabelText("Model"), { target: { value: "m2" } });
  fireEvent.change(within(form).getByLabelText("System instructions"), { target: { value: "Answer from the handbook." } });
  fireEvent.click(within(form).getByLabelText("Archive"));
  return form;
}

describe("Assistants: the settings form", () => {
  it("puts refusals under their fields, keeps every setting, and says it is saving", async () => {
    const answer = gate();
    const sent: Record<string, unknown>[] = [];
    server(async (body) => {
      sent.push(body);
      await answer.promise;
      return invalid({ name: ["An assistant with this name exists."], collections: ["Archive is being deleted."] });
    });
    const form = await openNew();
    fireEvent.click(within(form).getByRole("button", { name: "Create assistant" }));
    expect(await within(form).findByRole("button", { name: "Saving…" })).toHaveProperty("disabled", true);
    answer.open();

    await waitFor(() => expectFieldError("Name", "name", "An assistant with this name exists."));
    const collections = within(form).getByRole("group", { name: "Linked collections" });
    expect(within(collections).getByTestId("field-error-collections").textContent).toBe("Archive is being deleted.");
    expect(within(form).getByRole("button", { name: "Create assistant" })).toHaveProperty("disabled", false);
    expect(sent).toEqual([
      expect.objectContaining({ name: "Support", model: "m2", collections: ["c2"], system_instructions: "Answer from the handbook." }),
    ]);
    expect(within(form).getByLabelText("Name")).toHaveProperty("value", "Support");
    expect(within(form).getByLabelText("Model")).toHaveProperty("value", "m2");
    expect(within(form).getByLabelText("System instructions")).toHaveProperty("value", "Answer from the handbook.");
    expect(within(form).getByLabelText("Archive")).toHaveProperty("checked", true);
    expect(toasts()).toEqual([]);
  });

  it("once created: a toast, and the assistant's own page", async () => {
    server(async (body) =>
      json(
        {
          ...body,
          id: "a9",
          model: model("m2", "GPT large"),
          fallback_model: null,
          answer_mode: "generative",
          created_at: "2026-12-01T08:00:00Z",
          updated_at: "2026-12-01T08:00:00Z",
        },
        201,
      ),
    );
    const form = await openNew();
    fireEvent.click(within(form).getByRole("button", { name: "Create assistant" }));

    await waitFor(() => expect(toasts()).toEqual([expect.stringContaining("“Support” saved.")]));
    // Now the assistant's page (its heading, "Save changes"), holding what was saved.
    expect(await screen.findByRole("heading", { name: "Support" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Save changes" })).toBeTruthy();
    expect(screen.getByLabelText("Archive")).toHaveProperty("checked", true);
  });
});

describe("Assistants: reranking", () => {
  const saved = {
    id: "a1",
    name: "Support",
    description: "",
    model: model("m1", "GPT mini"),
    fallback_model: null,
    answer_mode: "generative",
    system_instructions: "",
    temperature: "0.70",
    retrieval_mode: "hybrid",
    retrieval_top_k: 8,
    reranker: null as string | null,
    rerank_candidates: 30,
    collections: [],
    is_active: true,
    suggested_questions: [],
    created_at: "2026-12-01T08:00:00Z",
    updated_at: "2026-12-01T08:00:00Z",
  };

  it("chooses a reranker and its candidates, with the refusal under the field, then clears it", async () => {
    let current = { ...saved };
    let refuse = true;
    const server = fakeServer({
      "GET /api/v1/models": async () => json(MODELS),
      "GET /api/v1/rerankers": async () => json(page([{ id: "r1", name: "Cohere rerank" }])),
      "GET /api/v1/assistants/:id": async () => json(current),
      "PATCH /api/v1/assistants/:id": async ({ body }) => {
        if (refuse) {
          refuse = false;
          return invalid({ rerank_candidates: ["Ensure this value is less than or equal to 100."] });
        }
        current = { ...current, ...(body as object) };
        return json(current);
      },
    });
    renderPage(<AssistantEditPage />, { route: "/assistants/a1", path: "/assistants/:assistantId" });
    const form = await screen.findByRole("form", { name: "Assistant settings" });
    await within(form).findByRole("option", { name: "Cohere rerank" });
    expect(within(form).getByLabelText("Reranker")).toHaveProperty("value", "");
    fireEvent.change(within(form).getByLabelText("Reranker"), { target: { value: "r1" } });
    fireEvent.change(within(form).getByLabelText("Candidates to rerank"), { target: { value: "500" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save changes" }));

    await waitFor(() => expectFieldError("Candidates to rerank", "rerank_candidates", "less than or equal to 100"));
    expect(within(form).getByLabelText("Reranker")).toHaveProperty("value", "r1");
    fireEvent.change(within(form).getByLabelText("Candidates to rerank"), { target: { value: "40" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save changes" }));
    await within(form).findByText("Saved.");

    fireEvent.change(within(form).getByLabelText("Reranker"), { target: { value: "" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(server.sent("PATCH", "/api/v1/assistants/a1")).toHaveLength(3));
    expect(server.sent("PATCH", "/api/v1/assistants/a1").map((body) => body as Record<string, unknown>)).toEqual([
      expect.objectContaining({ reranker: "r1", rerank_candidates: 500 }),
      expect.objectContaining({ reranker: "r1", rerank_candidates: 40 }),
      expect.objectContaining({ reranker: null, rerank_candidates: 40 }),
    ]);
  });
});
