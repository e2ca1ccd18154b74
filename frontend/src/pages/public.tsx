// The public site: landing and sign-up (a new organization); and, on an organization's
// host, accepting an invitation.
import { type FormEvent, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { logout } from "../api/allauth";
import { ApiError, client, unwrap } from "../api/client";
import { config } from "../config";
import { useSession } from "../session";
import { ErrorMessage, TextField } from "../ui";
import { AuthShell, Brand } from "./auth";

export function LandingPage() {
  return (
    <main id="main" className="landing">
      <div className="row-between" style={{ marginBottom: 56 }}>
        <Brand />
        <div className="row">
          <Link className="btn btn-ghost" to="/login">
            Log in
          </Link>
          <Link className="btn btn-primary" to="/signup">
            Sign up
          </Link>
        </div>
      </div>
      <h1>AI assistants that answer from your organization's knowledge.</h1>
      <p className="lead">
        Upload your documents, pick a model, and give your team and customers an assistant that streams its answers, cites its sources and
        tells you what every answer cost.
      </p>
      <div className="row" style={{ marginBottom: 48 }}>
        <Link className="btn btn-primary" to="/signup">
          Create your organization
        </Link>
        <a className="btn" href="/api/docs/">
          API documentation
        </a>
      </div>
      <div className="grid-3">
        {[
          ["Grounded answers", "Hybrid search over your collections; every answer cites the passages it used."],
          ["Any model", "OpenAI, Anthropic, Google or your own OpenAI-compatible server, with prices per answer."],
          ["Built for teams", "Roles, invitations, API keys with scopes, and an audit log of every change."],
        ].map(([title, text]) => (
          <div className="card feature" key={title}>
            <div className="card-body">
              <h3>{title}</h3>
              <p className="muted">{text}</p>
            </div>
          </div>
        ))}
      </div>
    </main>
  );
}

function slugify(name: string) {
  const slug = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]/g, "")
    .replace(/^[0-9]+/, "");
  return slug.slice(0, 40);
}

export function SignupPage() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [slug, setSlug] = useState("");
  const [slugTouched, setSlugTouched] = useState(false);
  const [verify, setVerify] = useState<{ email: string; url: string } | null>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const result = await unwrap(
        client.POST("/api/v1/signup", {
          body: {
            email: String(form.get("email")),
            password: String(form.get("password")),
            name: String(form.get("name") ?? "") || undefined,
            organization_name: String(form.get("organization_name")),
            slug,
          },
        }),
      );
      if (result.email_verification_required) setVerify({ email: result.user.email, url: result.organization.url });
      else window.location.assign(result.redirect_url);
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };

  if (verify) {
    return (
      <AuthShell title="Check your inbox">
        <div className="stack" data-testid="signup-verify">
          <div className="alert alert-success" role="status">
            We sent a confirmation link to <strong>{verify.email}</strong>. Open it, then log in to your organization at{" "}
            <a href={verify.url}>{verify.url.replace(/^https?:\/\//, "")}</a>.
          </div>
          <a className="btn btn-primary btn-block" href={`${verify.url}/login`}>
            Go to your organization
          </a>
        </div>
      </AuthShell>
    );
  }
  return (
    <AuthShell
      title="Create your organization"
      lead="Your own workspace for assistants, knowledge and your team."
      footer={
        <>
          <span className="muted">Already have an account?</span>
          <Link to="/login">Log in</Link>
        </>
      }
    >
      <form className="stack" onSubmit={submit} noValidate>
        <TextField label="Your name" name="name" autoComplete="name" error={error} />
        <TextField label="Work e-mail" name="email" type="email" autoComplete="email" required error={error} />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          hint="At least 8 characters."
          error={error}
        />
        <TextField
          label="Organization name"
          name="organization_name"
          required
          error={error}
          onChange={(event) => {
            if (!slugTouched) setSlug(slugify(event.target.value));
          }}
        />
        <TextField
          label="Address"
          name="slug"
          required
          value={slug}
          onChange={(event) => {
            setSlugTouched(true);
            setSlug(event.target.value.toLowerCase());
          }}
          hint={
            <>
              Lowercase letters and digits:{" "}
              <strong>
                {slug || "yourname"}.{config.baseDomain}
              </strong>
            </>
          }
          error={error}
        />
        <ErrorMessage error={error} />
        <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? "Creating your organization…" : "Create organization"}
        </button>
      </form>
    </AuthShell>
  );
}

export function InvitationAcceptPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const { state, refresh, clear } = useSession();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const loggedIn = state.status === "member" || state.status === "outsider";
  const organization = config.organization?.name ?? "this organization";

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const body = loggedIn
        ? { token }
        : { token, password: String(form.get("password") ?? ""), name: String(form.get("name") ?? "") || undefined };
      await unwrap(client.POST("/api/v1/invitations/accept", { body: body as { token: string } }));
      await refresh();
      navigate("/", { replace: true });
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };

  const code = error instanceof ApiError ? error.code : "";
  // An account exists for the invited address: log in first (then back here).
  const needsLogin = code === "login_required";
  // Accepted, revoked, expired or unknown: nothing more to do with this link.
  const finished = code.startsWith("invitation_") || code === "invalid_invitation";
  // Logged in with another address than the invited one.
  const otherAccount = code === "email_mismatch";
  const next = encodeURIComponent(`/invitations/accept/?token=${token}`);
  const logInLink = (label: string, primary = false) => (
    <Link className={`btn btn-block ${primary ? "btn-primary" : ""}`} to={`/login?next=${next}`}>
      {label}
    </Link>
  );
  return (
    <AuthShell
      title={`Join ${organization}`}
      lead={
        finished
          ? undefined
          : loggedIn
            ? "Accept the invitation with your account."
            : needsLogin
              ? "You already have an account."
              : "Create your account to accept the invitation."
      }
      footer={
        token && !loggedIn && !needsLogin && !finished ? (
          <>
            <span className="muted">Already have an account?</span>
            <Link to={`/login?next=${next}`}>Log in, then accept</Link>
          </>
        ) : undefined
      }
    >
      {!token ? (
        <div className="alert alert-error" role="alert">
          This invitation link is incomplete. Open the link from your e-mail again.
        </div>
      ) : finished ? (
        <div className="stack">
          <ErrorMessage error={error} />
          <p className="muted">Ask an admin of {organization} for a new invitation if you still need one.</p>
          {state.status === "member" ? (
            <Link className="btn btn-primary btn-block" to="/">
              Go to {organization}
            </Link>
          ) : loggedIn ? null : (
            logInLink("Log in")
          )}
        </div>
      ) : needsLogin ? (
        <div className="stack">
          <ErrorMessage error={error} />
          {logInLink("Log in, then accept", true)}
        </div>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          {loggedIn ? null : (
            <>
              <TextField label="Your name" name="name" autoComplete="name" error={error} />
              <TextField label="Choose a password" name="password" type="password" autoComplete="new-password" required error={error} />
            </>
          )}
          <ErrorMessage error={error} />
          {otherAccount ? (
            <button
              type="button"
              className="btn btn-block"
              onClick={async () => {
                await logout().catch(() => undefined);
                clear();
                setError(null);
              }}
            >
              Log out, to use another account
            </button>
          ) : null}
          {otherAccount ? null : (
            <button className="btn btn-primary btn-block" type="submit" disabled={busy}>
              {busy ? "Joining…" : "Accept invitation"}
            </button>
          )}
        </form>
      )}
    </AuthShell>
  );
}
