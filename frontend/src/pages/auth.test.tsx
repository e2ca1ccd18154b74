// The sign-in forms against allauth's headless API (its own error shape: `errors:
// [{message, code, param}]`, a pending flow in a 401): log in, the two-factor step with
// the recovery-code switch, and the password reset (asking for the link, then choosing
// the new password).
import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ME } from "../test/setup";
import { expectFieldError, fakeServer, gate, json, renderPage } from "../test/harness";
import { LoginPage, PasswordResetKeyPage, PasswordResetPage } from "./auth";

const allauthErrors = (status: number, errors: { message: string; code: string; param?: string }[]) => json({ status, errors }, status);
const mfaPending = () =>
  json(
    { status: 401, data: { flows: [{ id: "login" }, { id: "mfa_authenticate", is_pending: true }] }, meta: { is_authenticated: false } },
    401,
  );
const loggedIn = () => json({ status: 200, data: { user: { email: ME.user.email } }, meta: { is_authenticated: true } });

function logIn(email = "ada@acme.test", password = "correct horse") {
  fireEvent.change(screen.getByLabelText("E-mail"), { target: { value: email } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Log in" }));
}

describe("Log in", () => {
  it("shows allauth's refusal, keeps what was typed, and is disabled while it runs", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /_allauth/browser/v1/auth/login": async () => {
        await answer.promise;
        return allauthErrors(400, [
          {
            message: "The e-mail address and/or password you specified are not correct.",
            code: "email_password_mismatch",
            param: "password",
          },
        ]);
      },
    });
    renderPage(<LoginPage />, { route: "/login" });
    logIn("ada@acme.test", "wrong");
    const submit = await screen.findByRole("button", { name: "Logging in…" });
    expect(submit).toHaveProperty("disabled", true);
    answer.open();

    await waitFor(() => expectFieldError("Password", "password", "are not correct"));
    expect(screen.getByRole("button", { name: "Log in" })).toHaveProperty("disabled", false);
    expect(server.sent("POST", "/_allauth/browser/v1/auth/login")).toEqual([{ email: "ada@acme.test", password: "wrong" }]);
    expect(screen.getByLabelText("E-mail")).toHaveProperty("value", "ada@acme.test");
  });

  it("goes on to the page asked for (`next`) once logged in", async () => {
    fakeServer({
      "POST /_allauth/browser/v1/auth/login": async () => loggedIn(),
      "GET /api/v1/me": async () => json(ME),
    });
    renderPage(<LoginPage />, { route: "/login?next=/members", path: "/login" });
    logIn();
    expect((await screen.findByTestId("location")).textContent).toBe("/members");
  });
});

describe("Log in: the two-factor step", () => {
  it("asks for the code in an empty field, says what to check when it is wrong, and keeps it", async () => {
    const answer = gate();
    const server = fakeServer({
      "POST /_allauth/browser/v1/auth/login": async () => mfaPending(),
      "POST /_allauth/browser/v1/auth/2fa/authenticate": async () => {
        await answer.promise;
        return allauthErrors(400, [{ message: "Incorrect code.", code: "incorrect_code", param: "code" }]);
      },
    });
    renderPage(<LoginPage />, { route: "/login" });
    logIn();
    const code = await screen.findByLabelText("Authentication code");
    // Not the e-mail address left over from the password step (issue 22, item 3).
    expect(code).toHaveProperty("value", "");
    expect(code.getAttribute("inputmode")).toBe("numeric");
    fireEvent.change(code, { target: { value: "123 456" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("button", { name: "Verifying…" })).toHaveProperty("disabled", true);
    answer.open();

    await waitFor(() => expectFieldError("Authentication code", "code", "Incorrect code. Check that your phone's clock is right"));
    expect(server.sent("POST", "/_allauth/browser/v1/auth/2fa/authenticate")).toEqual([{ code: "123456" }]);
    expect(screen.getByLabelText("Authentication code")).toHaveProperty("value", "123 456");
    // Only under the field, not repeated in an alert.
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("switches to a recovery code (letters allowed, its own advice) and logs in with it", async () => {
    let attempts = 0;
    const server = fakeServer({
      "POST /_allauth/browser/v1/auth/login": async () => mfaPending(),
      "POST /_allauth/browser/v1/auth/2fa/authenticate": async () =>
        ++attempts === 1 ? allauthErrors(400, [{ message: "Incorrect code.", code: "incorrect_code", param: "code" }]) : loggedIn(),
      "GET /api/v1/me": async () => json(ME),
    });
    renderPage(<LoginPage />, { route: "/login?next=/api-keys", path: "/login" });
    logIn();
    fireEvent.change(await screen.findByLabelText("Authentication code"), { target: { value: "000000" } });
    fireEvent.click(screen.getByRole("button", { name: "Use a recovery code" }));

    const recovery = screen.getByLabelText("Recovery code");
    expect(recovery).toHaveProperty("value", "");
    expect(recovery.getAttribute("inputmode")).toBeNull();
    expect(screen.queryByLabelText("Authentication code")).toBeNull();
    fireEvent.change(recovery, { target: { value: "ab12-cd34" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    await waitFor(() =>
      expectFieldError("Recovery code", "code", "Incorrect code. Check the recovery code, or use one you have not used yet."),
    );

    fireEvent.change(screen.getByLabelText("Recovery code"), { target: { value: "ef56-gh78" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect((await screen.findByTestId("location")).textContent).toBe("/api-keys");
    expect(server.sent("POST", "/_allauth/browser/v1/auth/2fa/authenticate")).toEqual([{ code: "ab12-cd34" }, { code: "ef56-gh78" }]);
  });
});

describe("Password reset", () => {
  it("asking for the link: the refusal under the e-mail, then the confirmation", async () => {
    let attempts = 0;
    const answer = gate();
    fakeServer({
      "POST /_allauth/browser/v1/auth/password/request": async () => {
        if (++attempts === 1) return allauthErrors(400, [{ message: "Enter a valid email address.", code: "invalid", param: "email" }]);
        await answer.promise;
        return json({ status: 200 });
      },
    });
    renderPage(<PasswordResetPage />, { route: "/password/reset" });
    fireEvent.change(screen.getByLabelText("E-mail"), { target: { value: "ada@acme" } });
    fireEvent.click(screen.getByRole("button", { name: "Send reset link" }));
    await waitFor(() => expectFieldError("E-mail", "email", "Enter a valid email address."));
    expect(screen.getByLabelText("E-mail")).toHaveProperty("value", "ada@acme");

    fireEvent.change(screen.getByLabelText("E-mail"), { target: { value: "ada@acme.test" } });
    fireEvent.click(screen.getByRole("button", { name: "Send reset link" }));
    expect(await screen.findByRole("button", { name: "Sending…" })).toHaveProperty("disabled", true);
    answer.open();
    expect((await screen.findByTestId("password-reset-sent")).textContent).toContain("If an account exists for ada@acme.test");
  });

  it("choosing the new password: differing passwords are refused before asking, the server's refusal under the field", async () => {
    const answer = gate();
    const server = fakeServer({
      "GET /_allauth/browser/v1/auth/password/reset": async () => json({ status: 200, data: { user: { email: "ada@acme.test" } } }),
      "POST /_allauth/browser/v1/auth/password/reset": async ({ body }) => {
        if ((body as { password: string }).password === "password")
          return allauthErrors(400, [{ message: "This password is too common.", code: "password_too_common", param: "password" }]);
        await answer.promise;
        return json({ status: 401, data: { flows: [{ id: "login" }] } }, 401);
      },
    });
    renderPage(<PasswordResetKeyPage />, { route: "/password/reset/key/k-123", path: "/password/reset/key/:resetKey" });
    const password = await screen.findByLabelText("New password");
    fireEvent.change(password, { target: { value: "password" } });
    fireEvent.change(screen.getByLabelText("Repeat the new password"), { target: { value: "passw0rd" } });
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expectFieldError("Repeat the new password", "password2", "The two passwords differ.");
    expect(server.sent("POST", "/_allauth/browser/v1/auth/password/reset")).toEqual([]);

    fireEvent.change(screen.getByLabelText("Repeat the new password"), { target: { value: "password" } });
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    await waitFor(() => expectFieldError("New password", "password", "This password is too common."));
    expect(screen.getByLabelText("New password")).toHaveProperty("value", "password");

    fireEvent.change(screen.getByLabelText("New password"), { target: { value: "a long passphrase" } });
    fireEvent.change(screen.getByLabelText("Repeat the new password"), { target: { value: "a long passphrase" } });
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByRole("button", { name: "Saving…" })).toHaveProperty("disabled", true);
    answer.open();
    await screen.findByText("Your password has been changed.");
    expect(server.sent("POST", "/_allauth/browser/v1/auth/password/reset")).toEqual([
      { key: "k-123", password: "password" },
      { key: "k-123", password: "a long passphrase" },
    ]);
  });
});
