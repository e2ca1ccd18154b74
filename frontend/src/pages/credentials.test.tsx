// Provider credentials: a refused key is said under its field with the draft kept (the
// key itself included: nobody wants to paste it again); a saved one closes the form and
// its row appears with only the key's last characters.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { CredentialsPage } from "./credentials";

const credential = {
  id: "c1",
  provider: "anthropic",
  api_key_hint: "…7xQa",
  base_url: "",
  organization_id: "",
  last_tested_at: null,
  last_test_ok: null,
  last_test_message: "",
  created_at: "2026-12-01T08:00:00Z",
};

async function openForm() {
  renderPage(<CredentialsPage />, { route: "/credentials" });
  await screen.findByText("No credentials");
  fireEvent.click(screen.getByRole("button", { name: "Add credential" }));
  return screen.getByRole("dialog", { name: "Add a provider credential" });
}

describe("Credentials: add", () => {
  it("shows the refusal under its field, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/credentials": async () => {
        await answer.promise;
        return invalid({ base_url: ["Addresses in private networks are not allowed."] });
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Provider"), { target: { value: "openai_compatible" } });
    fireEvent.change(within(dialog).getByLabelText("API key"), { target: { value: "sk-local" } });
    fireEvent.change(within(dialog).getByLabelText("Base URL"), { target: { value: "http://10.1.2.3:11434/v1" } });
    const submit = within(dialog).getByRole("button", { name: "Save credential" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();

    await waitFor(() => expectFieldError("Base URL", "base_url", "Addresses in private networks are not allowed."));
    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/credentials")).toEqual([
      { provider: "openai_compatible", api_key: "sk-local", base_url: "http://10.1.2.3:11434/v1", organization_id: "" },
    ]);
    expect(within(dialog).getByLabelText("Provider")).toHaveProperty("value", "openai_compatible");
    expect(within(dialog).getByLabelText("API key")).toHaveProperty("value", "sk-local");
    expect(within(dialog).getByLabelText("Base URL")).toHaveProperty("value", "http://10.1.2.3:11434/v1");
  });

  it("closes the form and lists the credential with its key masked", async () => {
    const saved: (typeof credential)[] = [];
    fakeServer({
      "GET /api/v1/credentials": async () => json(page(saved)),
      "POST /api/v1/credentials": async () => {
        saved.push(credential);
        return json(credential, 201);
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("Provider"), { target: { value: "anthropic" } });
    fireEvent.change(within(dialog).getByLabelText("API key"), { target: { value: "sk-ant-secret-7xQa" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save credential" }));

    const row = await screen.findByTestId("credential-row");
    expect(screen.queryByRole("dialog", { name: "Add a provider credential" })).toBeNull();
    expect(within(row).getByTestId("credential-key").textContent).toBe("••••7xQa");
    expect(document.body.textContent).not.toContain("sk-ant-secret");
  });
});
