// Webhooks: the endpoint form's refusals land next to their fields (the URL, the event
// checkboxes) with the draft kept; the signing secret is shown once and the row appears.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { WebhooksPage } from "./webhooks";

const TYPES = page([
  { type: "document.completed", description: "A document is ready." },
  { type: "chat.completed", description: "An answer is complete." },
]);

const endpoint = (url: string, event_types: string[]) => ({
  id: "e1",
  url,
  description: "",
  event_types,
  is_active: true,
  consecutive_failures: 0,
  disabled_reason: "",
  created_at: "2026-12-01T08:00:00Z",
});

async function openForm() {
  renderPage(<WebhooksPage />, { route: "/webhooks" });
  await screen.findByText("No endpoints yet");
  fireEvent.click(screen.getByRole("button", { name: "New endpoint" }));
  const dialog = screen.getByRole("dialog", { name: "New webhook endpoint" });
  await within(dialog).findByLabelText("chat.completed");
  return dialog;
}

describe("Webhooks: new endpoint", () => {
  it("puts each refusal next to its field, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "GET /api/v1/webhooks/event-types": async () => json(TYPES),
      "POST /api/v1/webhooks/endpoints": async () => {
        await answer.promise;
        return invalid({
          url: ["Addresses in private networks are not allowed."],
          event_types: ["Subscribe to at least one event type."],
        });
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("URL"), { target: { value: "http://10.0.0.5/hook" } });
    fireEvent.change(within(dialog).getByLabelText("Description (optional)"), { target: { value: "CRM" } });
    fireEvent.click(within(dialog).getByLabelText("document.completed")); // unticks the default
    const submit = within(dialog).getByRole("button", { name: "Create endpoint" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();

    await waitFor(() => expectFieldError("URL", "url", "Addresses in private networks are not allowed."));
    const events = within(dialog).getByRole("group", { name: "Events" });
    expect(within(events).getByTestId("field-error-event_types").textContent).toBe("Subscribe to at least one event type.");
    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/webhooks/endpoints")).toEqual([
      { url: "http://10.0.0.5/hook", description: "CRM", event_types: [] },
    ]);
    expect(within(dialog).getByLabelText("URL")).toHaveProperty("value", "http://10.0.0.5/hook");
    expect(within(dialog).getByLabelText("Description (optional)")).toHaveProperty("value", "CRM");
    expect(within(dialog).getByLabelText("document.completed")).toHaveProperty("checked", false);
  });

  it("shows the signing secret once and lists the endpoint", async () => {
    const endpoints: ReturnType<typeof endpoint>[] = [];
    fakeServer({
      "GET /api/v1/webhooks/event-types": async () => json(TYPES),
      "GET /api/v1/webhooks/endpoints": async () => json(page(endpoints)),
      "POST /api/v1/webhooks/endpoints": async ({ body }) => {
        const { url, event_types } = body as { url: string; event_types: string[] };
        endpoints.push(endpoint(url, event_types));
        return json({ ...endpoints[0], secret: "whsec_shown-once" }, 201);
      },
    });
    const dialog = await openForm();
    fireEvent.change(within(dialog).getByLabelText("URL"), { target: { value: "https://crm.example.com/hook" } });
    fireEvent.click(within(dialog).getByLabelText("chat.completed"));
    fireEvent.click(within(dialog).getByRole("button", { name: "Create endpoint" }));

    expect((await screen.findByTestId("webhook-secret")).textContent).toBe("whsec_shown-once");
    const row = await screen.findByTestId("webhook-row");
    expect(row.textContent).toContain("https://crm.example.com/hook");
    expect(row.textContent).toContain("chat.completed");
    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(document.body.textContent).not.toContain("whsec_shown-once");
  });
});
