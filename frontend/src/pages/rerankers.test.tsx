// Rerankers (a card of the credentials page): a refused address is said under its field
// with the draft kept (the key too); a saved one closes the form and its row shows only
// the key's last characters; a change keeps the stored key unless a new one is typed; a
// delete asks first.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { CredentialsPage } from "./credentials";

const reranker = {
  id: "r1",
  name: "TEI cross-encoder",
  api_format: "tei",
  base_url: "https://rerank.example.com",
  model: "",
  api_key_hint: "…9zKp",
  created_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};

function card() {
  return screen.getByRole("region", { name: "Rerankers" });
}

async function openForm() {
  renderPage(<CredentialsPage />, { route: "/credentials" });
  await within(await screen.findByRole("region", { name: "Rerankers" })).findByText("No rerankers");
  fireEvent.click(within(card()).getByRole("button", { name: "Add reranker" }));
  return screen.getByRole("dialog", { name: "Add a reranker" });
}

afterEach(() => vi.restoreAllMocks());

describe("Rerankers: add", () => {
  it("shows the refusal under its field, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/rerankers": async () => {
        await answer.promise;
        return invalid({ base_url: ["Addresses in private networks are not allowed."] });
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Cohere" } });
    fireEvent.change(within(dialog).getByLabelText("Base URL"), { target: { value: "http://10.0.0.5:8080/v1" } });
    fireEvent.change(within(dialog).getByLabelText("Model"), { target: { value: "rerank-v3.5" } });
    fireEvent.change(within(dialog).getByLabelText("API key (optional)"), { target: { value: "co-secret-1234" } });
    const submit = within(dialog).getByRole("button", { name: "Save reranker" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();

    await waitFor(() => expectFieldError("Base URL", "base_url", "Addresses in private networks are not allowed."));
    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/rerankers")).toEqual([
      { name: "Cohere", api_format: "cohere", base_url: "http://10.0.0.5:8080/v1", model: "rerank-v3.5", api_key: "co-secret-1234" },
    ]);
    expect(within(dialog).getByLabelText("Name")).toHaveProperty("value", "Cohere");
    expect(within(dialog).getByLabelText("Format")).toHaveProperty("value", "cohere");
    expect(within(dialog).getByLabelText("Base URL")).toHaveProperty("value", "http://10.0.0.5:8080/v1");
    expect(within(dialog).getByLabelText("Model")).toHaveProperty("value", "rerank-v3.5");
    expect(within(dialog).getByLabelText("API key (optional)")).toHaveProperty("value", "co-secret-1234");
  });

  it("closes the form and lists the reranker with its format and its key masked", async () => {
    const saved: (typeof reranker)[] = [];
    const server = fakeServer({
      "GET /api/v1/rerankers": async () => json(page(saved)),
      "POST /api/v1/rerankers": async () => {
        saved.push(reranker);
        return json(reranker, 201);
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "TEI cross-encoder" } });
    fireEvent.change(within(dialog).getByLabelText("Format"), { target: { value: "tei" } });
    // text-embeddings-inference takes no model name.
    expect(within(dialog).queryByLabelText("Model")).toBeNull();
    fireEvent.change(within(dialog).getByLabelText("Base URL"), { target: { value: "https://rerank.example.com" } });
    fireEvent.change(within(dialog).getByLabelText("API key (optional)"), { target: { value: "tei-secret-9zKp" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save reranker" }));

    const row = await within(card()).findByTestId("reranker-row");
    expect(screen.queryByRole("dialog", { name: "Add a reranker" })).toBeNull();
    expect(server.sent("POST", "/api/v1/rerankers")).toEqual([expect.objectContaining({ api_format: "tei", model: "" })]);
    expect(row.textContent).toContain("TEI cross-encoder");
    expect(row.textContent).toContain("text-embeddings-inference");
    expect(row.textContent).toContain("https://rerank.example.com");
    expect(within(row).getByTestId("reranker-key").textContent).toBe("••••9zKp");
    expect(document.body.textContent).not.toContain("tei-secret");
  });
});

describe("Rerankers: change and delete", () => {
  it("keeps the stored key when none is typed, and shows a refusal under its field", async () => {
    const server = fakeServer({
      "GET /api/v1/rerankers": async () => json(page([reranker])),
      "PATCH /api/v1/rerankers/:id": async () => invalid({ name: ["A reranker with this name exists."] }),
    });
    renderPage(<CredentialsPage />, { route: "/credentials" });
    fireEvent.click(await screen.findByRole("button", { name: "Change the reranker TEI cross-encoder" }));
    const dialog = screen.getByRole("dialog", { name: "Change the reranker TEI cross-encoder" });
    expect(within(dialog).getByLabelText("Base URL")).toHaveProperty("value", "https://rerank.example.com");
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Cohere" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save changes" }));

    await waitFor(() => expectFieldError("Name", "name", "A reranker with this name exists."));
    expect(server.sent("PATCH", "/api/v1/rerankers/r1")).toEqual([
      { name: "Cohere", api_format: "tei", base_url: "https://rerank.example.com", model: "" },
    ]);
    expect(within(dialog).getByLabelText("Name")).toHaveProperty("value", "Cohere");
  });

  it("deletes only once confirmed", async () => {
    const saved = [reranker];
    const server = fakeServer({
      "GET /api/v1/rerankers": async () => json(page(saved)),
      "DELETE /api/v1/rerankers/:id": async () => {
        saved.pop();
        return json(null, 204);
      },
    });
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    renderPage(<CredentialsPage />, { route: "/credentials" });
    const remove = await screen.findByRole("button", { name: "Delete the reranker TEI cross-encoder" });

    fireEvent.click(remove);
    await waitFor(() => expect(confirm).toHaveBeenCalledTimes(1));
    expect(server.calls.filter((call) => call.method === "DELETE")).toEqual([]);

    fireEvent.click(remove);
    await within(card()).findByText("No rerankers");
    expect(server.calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual(["/api/v1/rerankers/r1"]);
  });
});
