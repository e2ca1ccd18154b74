// Chat: the assistant picker. A pick made in a conversation is the next question's
// assistant, also when the conversation's detail arrives after the pick (a slow reply
// must not put the conversation's own assistant back without a word).
import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ME } from "../test/setup";
import { fakeServer, gate, json, page, renderPage } from "../test/harness";
import { ChatPage } from "./chat";

const ASSISTANTS = page([
  { id: "a1", name: "Help Center", is_active: true, model: null },
  { id: "a2", name: "Markdown bot", is_active: true, model: { model_id: "gpt-4o-mini", display_name: "" } },
]);

const SESSION = {
  id: "s1",
  title: "Which days is the office closed?",
  assistant: "a1",
  assistant_name: "Help Center",
  created_by: ME.user.id,
  source: "platform",
  message_count: 2,
};

describe("Chat: switching assistant", () => {
  it("keeps the assistant picked while the conversation was still loading", async () => {
    const detail = gate();
    fakeServer({
      "GET /api/v1/assistants": async () => json(ASSISTANTS),
      "GET /api/v1/chat/sessions/:id": async () => {
        await detail.promise;
        return json(SESSION);
      },
    });
    renderPage(<ChatPage />, { route: "/chat/s1", path: ["/chat", "/chat/:sessionId"] });
    const picker = screen.getByLabelText("Assistant", { selector: "select" });
    await screen.findByRole("option", { name: "Markdown bot" });
    fireEvent.change(picker, { target: { value: "a2" } });

    detail.open();
    await screen.findByRole("heading", { name: SESSION.title }); // the detail has arrived
    await waitFor(() =>
      expect(screen.getByTestId("switch-hint").textContent).toContain("The next answer comes from Markdown bot (gpt-4o-mini)"),
    );
    expect((picker as HTMLSelectElement).value).toBe("a2");
  });

  it("shows the conversation's own assistant when nothing was picked", async () => {
    fakeServer({
      "GET /api/v1/assistants": async () => json(ASSISTANTS),
      "GET /api/v1/chat/sessions/:id": async () => json(SESSION),
    });
    renderPage(<ChatPage />, { route: "/chat/s1", path: ["/chat", "/chat/:sessionId"] });
    const picker = screen.getByLabelText("Assistant", { selector: "select" }) as HTMLSelectElement;
    await waitFor(() => expect(picker.value).toBe("a1"));
    expect(screen.queryByTestId("switch-hint")).toBeNull();
  });
});
