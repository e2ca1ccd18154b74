// API keys: the create form's refusals land next to their fields with the draft kept;
// the key is shown once (a toast says so, the new row appears, "Done" hides it for good).
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage, toasts } from "../test/harness";
import { ApiKeysPage } from "./apikeys";

const key = (id: string, name: string) => ({
  id,
  name,
  prefix: "ap_" + id,
  scopes: ["chat:write", "knowledge:read"],
  assistants: [],
  created_at: "2026-12-01T08:00:00Z",
  created_by: null,
  last_used_at: null,
  last_used_ip: null,
  expires_at: null,
  revoked_at: null,
  is_active: true,
});

async function openForm() {
  renderPage(<ApiKeysPage />, { route: "/api-keys" });
  await screen.findByText("No API keys yet");
  fireEvent.click(screen.getByRole("button", { name: "New API key" }));
  return screen.getByRole("dialog", { name: "New API key" });
}

describe("API keys: create", () => {
  it("shows the server's field error under the name, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/api-keys": async () => {
        await answer.promise;
        return invalid({ name: ["A key with this name exists."] });
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Support site" } });
    fireEvent.click(within(dialog).getByLabelText("knowledge:read"));
    const submit = within(dialog).getByRole("button", { name: "Create key" });
    fireEvent.click(submit);

    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    fireEvent.click(submit); // a second click while it runs sends nothing
    answer.open();
    await waitFor(() => expectFieldError("Name", "name", "A key with this name exists."));

    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/api-keys")).toEqual([
      { name: "Support site", scopes: ["chat:write", "knowledge:read"], assistants: [], expires_at: null },
    ]);
    // Still open, still holding what was typed and ticked.
    expect(within(dialog).getByLabelText("Name")).toHaveProperty("value", "Support site");
    expect(within(dialog).getByLabelText("knowledge:read")).toHaveProperty("checked", true);
    expect(screen.queryByTestId("api-key-secret")).toBeNull();
  });

  it("shows the new key once, with a toast and the new row", async () => {
    const keys: ReturnType<typeof key>[] = [];
    fakeServer({
      "GET /api/v1/api-keys": async () => json(page(keys)),
      "POST /api/v1/api-keys": async ({ body }) => {
        const created = key("k1", (body as { name: string }).name);
        keys.push(created);
        return json({ ...created, key: "ap_k1_secret-shown-once" }, 201);
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Support site" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create key" }));

    expect((await screen.findByTestId("api-key-secret")).textContent).toBe("ap_k1_secret-shown-once");
    expect(screen.queryByRole("dialog", { name: "New API key" })).toBeNull();
    expect(toasts()).toEqual([expect.stringContaining("“Support site” created: copy it now")]);
    await waitFor(() => expect(screen.getAllByTestId("api-key-row")).toHaveLength(1));
    expect(screen.getByTestId("api-key-row").textContent).toContain("Support site");

    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("api-key-secret")).toBeNull();
    expect(document.body.textContent).not.toContain("secret-shown-once");
  });
});
