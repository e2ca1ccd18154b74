// Sign-up and accepting an invitation without an account: refusals under their fields
// with the draft kept, the button disabled while the request runs, and what comes next.
import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { config } from "../config";
import { ME } from "../test/setup";
import { expectFieldError, fakeServer, gate, invalid, json, renderPage } from "../test/harness";
import { InvitationAcceptPage, SignupPage } from "./public";

function fillSignup() {
  fireEvent.change(screen.getByLabelText("Your name"), { target: { value: "Ada" } });
  fireEvent.change(screen.getByLabelText("Work e-mail"), { target: { value: "ada@acme.test" } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: "a long passphrase" } });
  fireEvent.change(screen.getByLabelText("Organization name"), { target: { value: "Acme Corp" } });
}

describe("Sign-up", () => {
  it("puts the refusal under its field, keeps the draft, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/signup": async () => {
        await answer.promise;
        return invalid({ slug: ["This address is taken."], email: ["An account with this e-mail exists: log in instead."] });
      },
    });
    renderPage(<SignupPage />, { route: "/signup" });
    fillSignup();
    // The address follows the organization's name until it is edited.
    expect(screen.getByLabelText("Address")).toHaveProperty("value", "acmecorp");
    fireEvent.click(screen.getByRole("button", { name: "Create organization" }));
    expect(await screen.findByRole("button", { name: "Creating your organization…" })).toHaveProperty("disabled", true);
    answer.open();

    await waitFor(() => expectFieldError("Address", "slug", "This address is taken."));
    expectFieldError("Work e-mail", "email", "An account with this e-mail exists: log in instead.");
    expect(screen.getByRole("button", { name: "Create organization" })).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/api/v1/signup")).toEqual([
      { email: "ada@acme.test", password: "a long passphrase", name: "Ada", organization_name: "Acme Corp", slug: "acmecorp" },
    ]);
    for (const [label, value] of [
      ["Your name", "Ada"],
      ["Work e-mail", "ada@acme.test"],
      ["Password", "a long passphrase"],
      ["Organization name", "Acme Corp"],
      ["Address", "acmecorp"],
    ])
      expect(screen.getByLabelText(label)).toHaveProperty("value", value);
  });

  it("says where the confirmation link went when the address must be confirmed", async () => {
    fakeServer({
      "POST /api/v1/signup": async () =>
        json(
          {
            user: { id: "u1", email: "ada@acme.test", name: "Ada" },
            organization: { id: "o1", name: "Acme Corp", slug: "acmecorp", url: "http://acmecorp.localhost:8000" },
            email_verification_required: true,
            redirect_url: "",
          },
          201,
        ),
    });
    renderPage(<SignupPage />, { route: "/signup" });
    fillSignup();
    fireEvent.click(screen.getByRole("button", { name: "Create organization" }));
    const verify = await screen.findByTestId("signup-verify");
    expect(verify.textContent).toContain("We sent a confirmation link to ada@acme.test");
    expect(verify.textContent).toContain("acmecorp.localhost:8000");
  });
});

describe("Accepting an invitation without an account", () => {
  beforeEach(() => {
    config.user.authenticated = false;
  });
  afterEach(() => {
    config.user.authenticated = true;
  });

  it("puts the refusal under the password, keeps the draft, and joins once accepted", async () => {
    let attempts = 0;
    const answer = gate();
    const server = fakeServer({
      "POST /api/v1/invitations/accept": async () => {
        if (++attempts === 1) return invalid({ password: ["This password is too short. It must contain at least 8 characters."] });
        await answer.promise;
        return json({ organization: { id: "o1", name: "Acme", slug: "acme" }, role: "member" });
      },
      "GET /api/v1/me": async () => json(ME),
    });
    renderPage(<InvitationAcceptPage />, { route: "/invitations/accept?token=t-1", path: "/invitations/accept" });
    fireEvent.change(screen.getByLabelText("Your name"), { target: { value: "Bob" } });
    fireEvent.change(screen.getByLabelText("Choose a password"), { target: { value: "short" } });
    fireEvent.click(screen.getByRole("button", { name: "Accept invitation" }));
    await waitFor(() => expectFieldError("Choose a password", "password", "This password is too short."));
    expect(screen.getByLabelText("Your name")).toHaveProperty("value", "Bob");
    expect(screen.getByLabelText("Choose a password")).toHaveProperty("value", "short");

    fireEvent.change(screen.getByLabelText("Choose a password"), { target: { value: "a long passphrase" } });
    fireEvent.click(screen.getByRole("button", { name: "Accept invitation" }));
    expect(await screen.findByRole("button", { name: "Joining…" })).toHaveProperty("disabled", true);
    answer.open();
    expect((await screen.findByTestId("location")).textContent).toBe("/");
    expect(server.sent("POST", "/api/v1/invitations/accept")).toEqual([
      { token: "t-1", password: "short", name: "Bob" },
      { token: "t-1", password: "a long passphrase", name: "Bob" },
    ]);
  });
});
