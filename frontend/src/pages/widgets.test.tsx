// Website widget: the editor's refusals land next to their fields with everything typed
// kept (the uncontrolled fields and the previewed ones); a created widget closes the
// editor and its row appears with the snippet to copy.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { WidgetsPage } from "./widgets";

const ASSISTANTS = page([{ id: "a1", name: "Support" }]);

const widget = (name: string, allowed_domains: string[]) => ({
  id: "w1",
  name,
  assistant: "a1",
  title: "Ask us",
  welcome_message: "Hello! How can we help?",
  primary_color: "#2563eb",
  text_color: "#ffffff",
  position: "bottom-right",
  suggested_questions: [],
  allowed_domains,
  feedback_enabled: true,
  show_sources: true,
  file_upload_enabled: false,
  is_active: true,
  messages_per_minute: 60,
  messages_per_minute_per_address: 6,
  max_message_chars: 1000,
  max_conversation_messages: 40,
  conversations: 0,
  messages: 0,
  cost: "0",
  snippet: '<script src="http://acme.localhost/widget.js" data-widget="w1" async></script>',
  created_at: "2026-12-01T08:00:00Z",
});

async function openEditor() {
  renderPage(<WidgetsPage />, { route: "/widgets" });
  await screen.findByText("No widget yet");
  fireEvent.click(screen.getByRole("button", { name: "New widget" }));
  const editor = screen.getByRole("region", { name: "New widget" });
  await within(editor).findByRole("option", { name: "Support" });
  return editor;
}

function fill(editor: HTMLElement) {
  fireEvent.change(within(editor).getByLabelText("Name"), { target: { value: "Shop bubble" } });
  fireEvent.change(within(editor).getByLabelText("Assistant"), { target: { value: "a1" } });
  fireEvent.change(within(editor).getByLabelText("Title"), { target: { value: "Questions?" } });
  fireEvent.change(within(editor).getByLabelText("Allowed domains"), { target: { value: "shop example.com\nshop.example.com" } });
}

describe("Widgets: the editor", () => {
  it("puts the refusal under its field, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "GET /api/v1/assistants": async () => json(ASSISTANTS),
      "POST /api/v1/widgets": async () => {
        await answer.promise;
        return invalid({ allowed_domains: ["Not a host name: 'shop example.com'."] });
      },
    });
    const editor = await openEditor();
    fill(editor);
    const submit = within(editor).getByRole("button", { name: "Create widget" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();

    await waitFor(() => expectFieldError("Allowed domains", "allowed_domains", "Not a host name: 'shop example.com'."));
    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/widgets")[0]).toMatchObject({
      name: "Shop bubble",
      assistant: "a1",
      title: "Questions?",
      allowed_domains: ["shop example.com", "shop.example.com"],
    });
    expect(within(editor).getByLabelText("Name")).toHaveProperty("value", "Shop bubble");
    expect(within(editor).getByLabelText("Assistant")).toHaveProperty("value", "a1");
    expect(within(editor).getByLabelText("Title")).toHaveProperty("value", "Questions?");
    expect(within(editor).getByLabelText("Allowed domains")).toHaveProperty("value", "shop example.com\nshop.example.com");
  });

  it("closes the editor and lists the new widget with its snippet", async () => {
    const widgets: ReturnType<typeof widget>[] = [];
    fakeServer({
      "GET /api/v1/assistants": async () => json(ASSISTANTS),
      "GET /api/v1/widgets": async () => json(page(widgets)),
      "POST /api/v1/widgets": async ({ body }) => {
        const { name, allowed_domains } = body as { name: string; allowed_domains: string[] };
        widgets.push(widget(name, allowed_domains));
        return json(widgets[0], 201);
      },
    });
    const editor = await openEditor();
    fill(editor);
    fireEvent.change(within(editor).getByLabelText("Allowed domains"), { target: { value: "shop.example.com" } });
    fireEvent.click(within(editor).getByRole("button", { name: "Create widget" }));

    const row = await screen.findByTestId("widget-row");
    expect(screen.queryByRole("region", { name: "New widget" })).toBeNull();
    expect(row.textContent).toContain("Shop bubble");
    expect(row.textContent).toContain("Allowed on: shop.example.com");
    expect(within(row).getByTestId("widget-snippet").textContent).toContain('data-widget="w1"');
  });
});
