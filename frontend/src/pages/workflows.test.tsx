// The workflow builder's step form: publishing checks the whole draft, and each problem
// the server finds (`steps.<n>.<field>`) is shown in that step's field, with the draft
// kept as built; once it passes, the published version is said.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { WorkflowEditPage } from "./workflows";

const WORKFLOW = {
  id: "w1",
  name: "Monday digest",
  description: "",
  draft: { steps: [{ key: "ask_1", type: "ask_assistant" }], input_schema: [], triggers: {}, settings: {} },
  published_version: null,
  is_enabled: true,
  event_types: [],
  webhook_path: "/api/v1/workflows/w1/webhook",
  created_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};

/** The step's field labelled `label`, and the errors shown in it. */
function stepField(step: HTMLElement, label: string) {
  const control = within(step).getByLabelText(label);
  const field = control.closest(".field") as HTMLElement;
  return { control, errors: () => [...field.querySelectorAll(".field-errors")].map((e) => e.textContent) };
}

describe("Workflows: the step form", () => {
  it("shows each publishing problem in its step's field, keeps the draft, and is disabled while it checks", async () => {
    let attempts = 0;
    const answer = gate();
    const server = fakeServer({
      "GET /api/v1/workflows/w1": async () => json(WORKFLOW),
      "GET /api/v1/assistants": async () => json(page([{ id: "a1", name: "Support" }])),
      "PATCH /api/v1/workflows/w1": async ({ body }) => json({ ...WORKFLOW, draft: (body as { draft: unknown }).draft }),
      "POST /api/v1/workflows/w1/publish": async () => {
        await answer.promise;
        if (++attempts === 1) return invalid({ "steps.0.message": ["A message is required."] });
        return json({ number: 1, created_at: "2026-12-01T08:00:00Z" }, 201);
      },
    });
    renderPage(<WorkflowEditPage />, { route: "/workflows/w1", path: "/workflows/:workflowId" });
    const [step] = await screen.findAllByTestId("builder-step");
    const assistant = stepField(step, "Assistant");
    await within(step).findByRole("option", { name: "Support" });
    fireEvent.change(assistant.control, { target: { value: "a1" } });
    const publish = screen.getByTestId("workflow-publish");
    fireEvent.click(publish);
    await waitFor(() => expect(publish).toHaveProperty("disabled", true));
    answer.open();

    const message = stepField(step, "Message");
    await waitFor(() => expect(message.errors()).toEqual(["A message is required."]));
    expect(assistant.errors()).toEqual([]);
    expect(publish).toHaveProperty("disabled", false);
    expect(assistant.control).toHaveProperty("value", "a1");
    expect(screen.queryByTestId("workflow-published")).toBeNull();

    fireEvent.change(message.control, { target: { value: "Summarise {{ input.topic }}" } });
    fireEvent.click(publish);
    expect((await screen.findByTestId("workflow-published")).textContent).toBe("Published version 1.");
    expect(message.errors()).toEqual([]);
    expect(server.sent("PATCH", "/api/v1/workflows/w1").slice(-1)[0]).toEqual({
      draft: {
        ...WORKFLOW.draft,
        steps: [{ key: "ask_1", type: "ask_assistant", assistant_id: "a1", message: "Summarise {{ input.topic }}" }],
      },
    });
  });
});
