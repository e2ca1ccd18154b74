// Members and invitations: an invitation's refusal lands under the e-mail with the draft
// kept; a sent one says so, empties the form and appears in the list; a role change the
// server refuses (the last admin's 409) is said on that member's row.
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { apiError, expectFieldError, fakeServer, gate, invalid, json, page, renderPage } from "../test/harness";
import { MembersPage } from "./members";

const member = (id: string, email: string, role: string) => ({
  id,
  user: { id: "u-" + id, email, name: "" },
  role,
  created_at: "2026-11-01T08:00:00Z",
});

const invitation = (email: string, role: string) => ({
  id: "i-" + email,
  email,
  role,
  status: "pending",
  expires_at: "2026-12-08T08:00:00Z",
  created_at: "2026-12-01T08:00:00Z",
});

describe("Members: invitations", () => {
  it("shows the refusal under the e-mail, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "GET /api/v1/members": async () => json(page([member("m1", "ada@acme.test", "admin")])),
      "POST /api/v1/invitations": async () => {
        await answer.promise;
        return invalid({ email: ["bob@acme.test is already a member."] });
      },
    });
    renderPage(<MembersPage />, { route: "/members" });
    await screen.findByText("No invitations");
    fireEvent.change(screen.getByLabelText("E-mail to invite"), { target: { value: "bob@acme.test" } });
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "viewer" } });
    const submit = screen.getByRole("button", { name: "Send invitation" });
    fireEvent.click(submit);
    await waitFor(() => expect(submit).toHaveProperty("disabled", true));
    answer.open();

    await waitFor(() => expectFieldError("E-mail to invite", "email", "bob@acme.test is already a member."));
    expect(submit).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/invitations")).toEqual([{ email: "bob@acme.test", role: "viewer" }]);
    expect(screen.getByLabelText("E-mail to invite")).toHaveProperty("value", "bob@acme.test");
    expect(screen.getByLabelText("Role")).toHaveProperty("value", "viewer");
    expect(screen.queryByText(/Invitation sent/)).toBeNull();
  });

  it("says the invitation was sent, empties the form and lists it", async () => {
    const invitations: ReturnType<typeof invitation>[] = [];
    fakeServer({
      "GET /api/v1/members": async () => json(page([member("m1", "ada@acme.test", "admin")])),
      "GET /api/v1/invitations": async () => json(page(invitations)),
      "POST /api/v1/invitations": async ({ body }) => {
        const { email, role } = body as { email: string; role: string };
        invitations.push(invitation(email, role));
        return json(invitations[invitations.length - 1], 201);
      },
    });
    renderPage(<MembersPage />, { route: "/members" });
    await screen.findByText("No invitations");
    fireEvent.change(screen.getByLabelText("E-mail to invite"), { target: { value: "bob@acme.test" } });
    fireEvent.click(screen.getByRole("button", { name: "Send invitation" }));

    expect((await screen.findByText("Invitation sent to bob@acme.test.")).getAttribute("role")).toBe("status");
    expect(screen.getByLabelText("E-mail to invite")).toHaveProperty("value", "");
    const row = await screen.findByTestId("invitation-row");
    expect(row.textContent).toContain("bob@acme.test");
    expect(row.textContent).toContain("pending");
  });

  it("says on the member's row why the server refused a role change", async () => {
    fakeServer({
      "GET /api/v1/members": async () => json(page([member("m1", "ada@acme.test", "admin"), member("m2", "bob@acme.test", "member")])),
      "PATCH /api/v1/members/m1": async () => apiError(409, "conflict", "The organization needs at least one admin."),
    });
    renderPage(<MembersPage />, { route: "/members" });
    const role = await screen.findByLabelText("Role of ada@acme.test");
    fireEvent.change(role, { target: { value: "member" } });

    const [ada, bob] = screen.getAllByTestId("member-row");
    await waitFor(() => expect(within(ada).getByRole("alert").textContent).toBe("The organization needs at least one admin."));
    expect(within(bob).queryByRole("alert")).toBeNull();
    // The select shows the role the member still has.
    expect(role).toHaveProperty("value", "admin");
    expect(role.getAttribute("aria-describedby")).toBe(within(ada).getByRole("alert").parentElement?.id);
  });
});
