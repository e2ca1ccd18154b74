// Sign-in pages on both hosts: log in (with the TOTP step), password reset.
import { type FormEvent, type ReactNode, useEffect, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { allauth, allauthError, logout, pendingFlow } from "../api/allauth";
import { ApiError } from "../api/client";
import { config, isPublicHost } from "../config";
import { useSession } from "../session";
import { ErrorMessage, TextField } from "../ui";

export function Brand() {
  return (
    <div className="auth-brand">
      <span className="brand-mark" aria-hidden="true">
        AP
      </span>
      <span>Assistant Platform</span>
    </div>
  );
}

export function AuthShell({ title, lead, children, footer }: { title: string; lead?: ReactNode; children: ReactNode; footer?: ReactNode }) {
  return (
    <main className="auth" id="main">
      <div className="auth-card">
        <Brand />
        <div className="card">
          <div className="card-body">
            <h1>{title}</h1>
            {lead ? <p className="lead">{lead}</p> : <div style={{ height: 16 }} />}
            {children}
          </div>
        </div>
        {footer ? <div className="auth-links">{footer}</div> : null}
      </div>
    </main>
  );
}

/** Where to go after logging in: `?next=` when it is a path on this host. */
function nextPath(params: URLSearchParams): string {
  const next = params.get("next") ?? "";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

const SERVER_PATHS = /^\/(accounts|admin|api|switch|handoff)\//;

export function LoginPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { refresh } = useSession();
  const [step, setStep] = useState<"password" | "totp">("password");
  // Recovery codes have letters: the numeric keypad of the code field cannot type them.
  const [useRecovery, setUseRecovery] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // /switch/ sends back here (logged out) a user who belongs to no organization.
  const [notice, setNotice] = useState(
    params.get("error") === "no_organization"
      ? "Your account does not belong to any organization yet. Ask an organization's admin for an invitation, or create an organization with another e-mail address."
      : "",
  );

  const finish = async () => {
    const next = nextPath(params);
    if (isPublicHost) {
      // Sessions are per host: continue to the user's organization through a hand-off.
      window.location.assign("/switch/");
      return;
    }
    // Back to an invitation: a fresh page load knows (from the server's config) that the
    // user is not a member yet, without asking /api/v1/me for a 404.
    if (SERVER_PATHS.test(next) || next.startsWith("/invitations/")) {
      window.location.assign(next);
      return;
    }
    await refresh();
    navigate(next, { replace: true });
  };

  const handle = async (response: Awaited<ReturnType<typeof allauth>>) => {
    if (response.status === 200 || response.status === 409) return finish();
    if (response.status === 401) {
      const flow = pendingFlow(response);
      if (flow === "mfa_authenticate") {
        setStep("totp");
        return;
      }
      if (flow === "verify_email") {
        setNotice("Confirm your e-mail address first: open the link we sent you, then log in.");
        return;
      }
    }
    setError(allauthError(response));
  };

  const submitPassword = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const credentials = { email: form.get("email"), password: form.get("password") };
      let response = await allauth("POST", "/auth/login", credentials);
      if (response.status === 409) {
        // Someone is logged in on this host already (allauth answers 409): whoever filled
        // in the form means to be them instead.
        await logout();
        response = await allauth("POST", "/auth/login", credentials);
      }
      await handle(response);
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };

  const submitCode = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const response = await allauth("POST", "/auth/2fa/authenticate", { code: String(form.get("code") ?? "").replace(/\s/g, "") });
      if (response.status === 400) {
        const failure = allauthError(response);
        const message = failure.fields.code?.[0] ?? failure.message;
        // allauth says only "Incorrect code."; say what to check.
        const hint = useRecovery
          ? " Check the recovery code, or use one you have not used yet."
          : " Check that your phone's clock is right and enter the code shown now.";
        setError(new ApiError(400, "invalid", message + hint, { code: [message + hint] }));
      } else await handle(response);
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };

  const where = config.organization ? config.organization.name : "your organization";
  if (step === "totp") {
    return (
      <AuthShell
        title="Two-factor authentication"
        lead="Enter the 6-digit code from your authenticator app."
        footer={
          <Link
            to={`/login${params.toString() ? `?${params.toString()}` : ""}`}
            onClick={() => {
              setStep("password");
              setError(null);
            }}
          >
            Back to log in
          </Link>
        }
      >
        {/* Keyed apart from the password form: React would otherwise reuse the e-mail input
            (same place in the tree) and the code field would arrive holding the address. */}
        <form key={useRecovery ? "recovery" : "totp"} className="stack" onSubmit={submitCode} noValidate>
          {useRecovery ? (
            <TextField
              label="Recovery code"
              name="code"
              autoComplete="off"
              autoCapitalize="off"
              spellCheck={false}
              autoFocus
              required
              error={error}
              onInput={() => setError(null)}
            />
          ) : (
            <TextField
              label="Authentication code"
              name="code"
              inputMode="numeric"
              pattern="[0-9 ]*"
              autoComplete="one-time-code"
              placeholder="123 456"
              autoFocus
              required
              error={error}
              onInput={() => setError(null)}
            />
          )}
          {/* A wrong code is shown under the field; the alert is for everything else. */}
          {error instanceof ApiError && error.fields.code ? null : <ErrorMessage error={error} />}
          <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
            {busy ? "Verifying…" : "Verify"}
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-block"
            onClick={() => {
              setUseRecovery(!useRecovery);
              setError(null);
            }}
          >
            {useRecovery ? "Use your authenticator app" : "Use a recovery code"}
          </button>
        </form>
      </AuthShell>
    );
  }
  return (
    <AuthShell
      title={`Log in${config.organization ? ` to ${where}` : ""}`}
      lead={isPublicHost ? "We will take you to your organization." : "Welcome back."}
      footer={
        <>
          <Link to="/password/reset">Forgot your password?</Link>
          {isPublicHost ? <Link to="/signup">Create an organization</Link> : null}
        </>
      }
    >
      <form key="password" className="stack" onSubmit={submitPassword} noValidate>
        <TextField label="E-mail" name="email" type="email" autoComplete="email" autoFocus required error={error} />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required error={error} />
        {notice ? (
          <div className="alert alert-info" role="status">
            {notice}
          </div>
        ) : null}
        <ErrorMessage error={error} />
        <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </AuthShell>
  );
}

export function PasswordResetPage() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sentTo, setSentTo] = useState("");
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget).get("email") ?? "");
    setBusy(true);
    setError(null);
    try {
      const response = await allauth("POST", "/auth/password/request", { email });
      if (response.status === 200) setSentTo(email);
      else setError(allauthError(response));
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };
  return (
    <AuthShell
      title="Reset your password"
      lead="We will e-mail you a link to choose a new one."
      footer={<Link to="/login">Back to log in</Link>}
    >
      {sentTo ? (
        <div className="alert alert-success" role="status" data-testid="password-reset-sent">
          If an account exists for {sentTo}, a reset link is on its way. Check your inbox.
        </div>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <TextField label="E-mail" name="email" type="email" autoComplete="email" autoFocus required error={error} />
          <ErrorMessage error={error} />
          <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
            {busy ? "Sending…" : "Send reset link"}
          </button>
        </form>
      )}
    </AuthShell>
  );
}

export function PasswordResetKeyPage() {
  const { resetKey = "" } = useParams();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  // Checked on arrival, so a used or expired link says so before a password is typed.
  const [keyValid, setKeyValid] = useState<boolean | null>(null);
  useEffect(() => {
    let alive = true;
    allauth("GET", "/auth/password/reset", undefined, { "X-Password-Reset-Key": resetKey })
      .then((response) => alive && setKeyValid(response.status === 200))
      .catch(() => alive && setKeyValid(true)); // unreachable now: the form's submit will say
    return () => {
      alive = false;
    };
  }, [resetKey]);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    if (form.get("password") !== form.get("password2")) {
      setError(new ApiError(400, "invalid", "Please correct the highlighted fields.", { password2: ["The two passwords differ."] }));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const response = await allauth("POST", "/auth/password/reset", { key: resetKey, password: form.get("password") });
      // 401: the password changed, and the user is to log in with it.
      if (response.status === 200 || response.status === 401) setDone(true);
      else {
        const failure = allauthError(response);
        if (failure.fields.key) setKeyValid(false);
        else setError(failure);
      }
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };
  return (
    <AuthShell title="Choose a new password" footer={<Link to="/login">Back to log in</Link>}>
      {done ? (
        <div className="stack">
          <div className="alert alert-success" role="status">
            Your password has been changed.
          </div>
          <Link className="btn btn-primary btn-block" to="/login">
            Log in
          </Link>
        </div>
      ) : keyValid === false ? (
        <div className="stack">
          <div className="alert alert-error" role="alert" data-testid="error-message">
            This reset link is invalid or has expired. Ask for a new one.
          </div>
          <Link className="btn btn-primary btn-block" to="/password/reset">
            Send a new reset link
          </Link>
        </div>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <TextField label="New password" name="password" type="password" autoComplete="new-password" autoFocus required error={error} />
          <TextField label="Repeat the new password" name="password2" type="password" autoComplete="new-password" required error={error} />
          <ErrorMessage error={error} />
          <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
            {busy ? "Saving…" : "Change password"}
          </button>
        </form>
      )}
    </AuthShell>
  );
}

/** The e-mail confirmation link (users.adapters.AccountAdapter sends it here): the
 * address, one button to confirm it, then on to logging in, all in the product's UI. */
export function VerifyEmailPage() {
  const { verifyKey = "" } = useParams();
  const [state, setState] = useState<{ status: "loading" | "ready" | "invalid" | "done"; email?: string }>({ status: "loading" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    allauth<{ email: string }>("GET", "/auth/email/verify", undefined, { "X-Email-Verification-Key": verifyKey })
      .then((response) => {
        if (!live) return;
        if (response.status === 200 && response.data) setState({ status: "ready", email: response.data.email });
        else setState({ status: "invalid" });
      })
      .catch((cause: unknown) => live && setError(cause));
    return () => {
      live = false;
    };
  }, [verifyKey]);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const response = await allauth("POST", "/auth/email/verify", { key: verifyKey });
      // 200: confirmed and logged in; 401: confirmed, logging in comes next.
      if (response.status === 200 || response.status === 401) setState((current) => ({ ...current, status: "done" }));
      else if (response.status === 400 || response.status === 404) setState({ status: "invalid" });
      else setError(allauthError(response));
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };
  const login = "/login";
  if (state.status === "loading") {
    return (
      <AuthShell title="Confirm your e-mail address">
        <p className="muted">Checking the link…</p>
        <ErrorMessage error={error} />
      </AuthShell>
    );
  }
  if (state.status === "invalid") {
    return (
      <AuthShell
        title="This link no longer works"
        lead="Confirmation links expire after a few days, and each works once."
        footer={<Link to={login}>Log in</Link>}
      >
        <div className="alert alert-info" role="status" data-testid="verify-invalid">
          Log in with your e-mail address and password: if the address still needs confirming, we send you a new link.
        </div>
      </AuthShell>
    );
  }
  if (state.status === "done") {
    return (
      <AuthShell title="E-mail address confirmed" lead={state.email ? <>Thank you: {state.email} is confirmed.</> : "Thank you."}>
        <div className="stack" data-testid="verify-done">
          <a className="btn btn-primary btn-block" href={login}>
            Continue to log in
          </a>
        </div>
      </AuthShell>
    );
  }
  return (
    <AuthShell
      title="Confirm your e-mail address"
      lead={
        <>
          Confirm that <strong data-testid="verify-email">{state.email}</strong> is your address.
        </>
      }
    >
      <div className="stack">
        <ErrorMessage error={error} />
        <button type="button" className="btn btn-primary btn-block" onClick={() => void confirm()} disabled={busy}>
          {busy ? "Confirming…" : "Confirm"}
        </button>
      </div>
    </AuthShell>
  );
}
