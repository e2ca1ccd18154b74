// Prompt templates: a new template's refusal under its name (else its editor opens); in
// the editor a refused version says why next to the body and the note, keeps both, and a
// saved one empties the note and is listed.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { PromptEditPage, PromptsPage } from "./prompts";

const version = (number: number, body: string, note = "") => ({
  id: "v" + number,
  number,
  body,
  variables: [{ name: "topic", type: "short_text", required: true, default: null, help: "", choices: [] }],
  model_hints: {},
  note,
  created_at: "2026-12-01T08:00:00Z",
  uses: 0,
  last_used_at: null,
  tokens: 0,
  cost: "0",
});

const TEMPLATE = {
  id: "p1",
  name: "Weekly summary",
  description: "",
  category: "",
  tags: [],
  published_version: version(1, "Write about {{ topic }}."),
  uses: 0,
  cost: "0",
  created_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};

describe("Prompt templates: new", () => {
  it("puts the refusal under the name with the draft kept, then opens the editor", async () => {
    let attempts = 0;
    const answer = gate();
    fakeServer({
      "POST /api/v1/prompts": async () => {
        if (++attempts === 1) return invalid({ name: ["A template with this name exists."] });
        await answer.promise;
        return json({ ...TEMPLATE, id: "p2" }, 201);
      },
    });
    renderPage(<PromptsPage />, { route: "/prompts" });
    fireEvent.change(screen.getByLabelText("New template"), { target: { value: "Weekly summary" } });
    fireEvent.click(screen.getByTestId("prompt-create"));
    await waitFor(() => expectFieldError("New template", "name", "A template with this name exists."));
    expect(screen.getByLabelText("New template")).toHaveProperty("value", "Weekly summary");

    fireEvent.change(screen.getByLabelText("New template"), { target: { value: "Monday summary" } });
    fireEvent.click(screen.getByTestId("prompt-create"));
    await waitFor(() => expect(screen.getByTestId("prompt-create")).toHaveProperty("disabled", true));
    answer.open();
    expect((await screen.findByTestId("location")).textContent).toBe("/prompts/p2");
  });
});

/** The element that describes `control` for screen readers (its errors). */
const describedBy = (control: HTMLElement) => document.getElementById(control.getAttribute("aria-describedby") ?? "");

describe("Prompt templates: the editor", () => {
  it("says next to the body and the note why a version was refused, keeps both, and is disabled while it runs", async () => {
    const answer = gate();
    const versions = [version(1, "Write about {{ topic }}.")];
    const server = fakeServer({
      "GET /api/v1/prompts/p1": async () => json(TEMPLATE),
      "GET /api/v1/prompts/p1/versions": async () => json(page(versions)),
      "POST /api/v1/prompt-preview": async () => json({ text: "Write about ." }),
      "POST /api/v1/prompts/p1/versions": async ({ body }) => {
        const { body: text, note } = body as { body: string; note: string };
        if (!text.includes("}}")) {
          await answer.promise;
          return invalid({ body: ["Syntax error on line 1: unexpected '}'"], note: ["At most 300 characters."] });
        }
        versions.unshift(version(2, text, note));
        return json(versions[0], 201);
      },
    });
    renderPage(<PromptEditPage />, { route: "/prompts/p1", path: "/prompts/:templateId" });
    const body = await screen.findByTestId("prompt-body");
    await waitFor(() => expect(body).toHaveProperty("value", "Write about {{ topic }}."));
    const longNote = "n".repeat(301);
    fireEvent.change(body, { target: { value: "Summarise {{ topic }." } });
    fireEvent.change(screen.getByLabelText("Version note"), { target: { value: longNote } });
    const save = screen.getByRole("button", { name: "Save version" });
    fireEvent.click(save);
    await waitFor(() => expect(save).toHaveProperty("disabled", true));
    expect(screen.getByTestId("prompt-publish")).toHaveProperty("disabled", true);
    answer.open();

    await waitFor(() => expect(describedBy(body)?.textContent).toBe("Syntax error on line 1: unexpected '}'"));
    expect(body.getAttribute("aria-invalid")).toBe("true");
    const note = screen.getByLabelText("Version note");
    expect(describedBy(note)?.textContent).toBe("At most 300 characters.");
    expect(body).toHaveProperty("value", "Summarise {{ topic }.");
    expect(note).toHaveProperty("value", longNote);
    expect(save).toHaveProperty("disabled", false);

    fireEvent.change(body, { target: { value: "Summarise {{ topic }}." } });
    fireEvent.change(note, { target: { value: "Shorter" } });
    fireEvent.click(save);
    await waitFor(() => expect(screen.getAllByTestId("prompt-version")).toHaveLength(2));
    expect(within(screen.getAllByTestId("prompt-version")[0]).getByText("Shorter")).toBeTruthy();
    expect(note).toHaveProperty("value", "");
    expect(body.getAttribute("aria-invalid")).toBeNull();
    expect(server.sent("POST", "/api/v1/prompts/p1/versions")).toHaveLength(2);
  });
});
