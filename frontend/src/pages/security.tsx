// Two-factor authentication (TOTP) and recovery codes through allauth's headless API.
//
// allauth asks for a fresh password confirmation ("reauthentication", valid a few
// minutes) before any change to the authenticators, and logging in does not count as
// one. So every change asks for the password first, and a change that still meets the
// 401 (the confirmation expired meanwhile) asks again and is then retried.
import { type FormEvent, useRef, useState } from "react";
import { allauth, type AllauthResponse, allauthError, pendingFlow } from "../api/allauth";
import { useQuery } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { Badge, CopyButton, ErrorMessage, formatDate, Loading, PageHeader, TextField } from "../ui";
import { RequireTwoFactorSetting } from "../components/RequireTwoFactorSetting";
import { TwoFactorQr } from "../components/TwoFactorQr";
import { useMe, usePermissions, useSession } from "../session";
import { type Authenticator, authenticatorsQuery } from "./security-data";

/** allauth's 401 for "confirm who you are first": no pending flow, only the ways to do it. */
function needsReauthentication(response: AllauthResponse): boolean {
  if (response.status !== 401) return false;
  if (pendingFlow(response) === "reauthenticate") return true;
  const flows = response.data?.flows ?? [];
  return Boolean(response.meta?.is_authenticated) && flows.some((flow) => flow.id === "reauthenticate" || flow.id === "mfa_reauthenticate");
}

class ReauthenticationNeeded extends Error {}

/** A 2xx, or the error to show; a reauthentication 401 becomes ReauthenticationNeeded. */
function check<T>(response: AllauthResponse<T>): AllauthResponse<T> {
  if (needsReauthentication(response)) throw new ReauthenticationNeeded();
  if (response.status >= 400) throw allauthError(response);
  return response;
}

// allauth's reauthentication lasts 300 s (ACCOUNT_REAUTHENTICATION_TIMEOUT); ask again a
// little before, rather than meet its 401.
const CONFIRMATION_TTL_MS = 270_000;

type Action = () => Promise<void>;

export function SecurityPage() {
  const me = useMe();
  const { isAdmin } = usePermissions();
  const { refresh } = useSession();
  const authenticators = useQuery(authenticatorsQuery);
  const [setup, setSetup] = useState<{ secret: string; url: string } | null>(null);
  // The change waiting for the password confirmation, and what it is (for the form).
  const [pending, setPending] = useState<{ action: Action; purpose: string } | null>(null);
  const confirmedAt = useRef(0);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  // Which card the last action came from: its error and notice are shown there.
  const [section, setSection] = useState<"totp" | "recovery">("totp");
  const totp = authenticators.data?.find((item) => item.type === "totp");
  const recovery = authenticators.data?.find((item) => item.type === "recovery_codes");

  const run = async (action: Action, purpose: string) => {
    setSection(purpose.includes("recovery") ? "recovery" : "totp");
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      await action();
    } catch (cause) {
      if (cause instanceof ReauthenticationNeeded) {
        confirmedAt.current = 0;
        setPending({ action, purpose });
      } else setError(cause);
    } finally {
      setBusy(false);
    }
  };
  /** Runs `action` once the password was confirmed recently enough. */
  const withConfirmation = (action: Action, purpose: string) => {
    if (Date.now() - confirmedAt.current < CONFIRMATION_TTL_MS) return run(action, purpose);
    setSection("totp");
    setError(null);
    setNotice("");
    setPending({ action, purpose });
    return Promise.resolve();
  };

  const showCodes = async () => {
    const response = check(await allauth<Authenticator>("GET", "/account/authenticators/recovery-codes"));
    setCodes(response.data?.unused_codes ?? null);
  };
  const begin = () =>
    withConfirmation(async () => {
      // Answers 404 while TOTP is off, with a new secret in `meta` (allauth's design).
      const response = await allauth<unknown>("GET", "/account/authenticators/totp");
      const meta = response.meta as { secret?: string; totp_url?: string } | undefined;
      if (meta?.secret) setSetup({ secret: meta.secret, url: meta.totp_url ?? "" });
      else {
        check(response);
        void authenticators.refetch();
      }
    }, "turn on two-factor authentication");
  const activate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget).get("code") ?? "").replace(/\s/g, "");
    if (!code) {
      setError(
        new ApiError(400, "invalid", "Enter the 6-digit code from your authenticator app.", {
          code: ["Enter the 6-digit code from your authenticator app."],
        }),
      );
      return;
    }
    return withConfirmation(async () => {
      const response = await allauth("POST", "/account/authenticators/totp", { code });
      if (response.status === 400) {
        const failure = allauthError(response);
        throw new ApiError(400, "invalid", failure.fields.code?.[0] ?? failure.message, failure.fields);
      }
      check(response);
      setSetup(null);
      setNotice("Two-factor authentication is on.");
      await showCodes();
      void authenticators.refetch();
      // The organization may have required it: the rest of the dashboard opens now.
      if (me.two_factor_setup_required) await refresh();
    }, "turn on two-factor authentication");
  };
  const deactivate = () => {
    if (!window.confirm("Turn off two-factor authentication? Logging in will only ask for your password.")) return;
    return withConfirmation(async () => {
      check(await allauth("DELETE", "/account/authenticators/totp"));
      setCodes(null);
      setNotice("Two-factor authentication is off.");
      void authenticators.refetch();
    }, "turn off two-factor authentication");
  };
  const regenerate = () =>
    withConfirmation(async () => {
      const response = check(await allauth<Authenticator>("POST", "/account/authenticators/recovery-codes"));
      setCodes(response.data?.unused_codes ?? null);
      setNotice("New recovery codes: the previous ones no longer work.");
      void authenticators.refetch();
    }, "make new recovery codes");
  const reauthenticate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get("password") ?? "");
    const waiting = pending;
    void run(async () => {
      const response = await allauth("POST", "/auth/reauthenticate", { password });
      if (response.status !== 200) {
        const failure = allauthError(response);
        throw new ApiError(failure.status, "invalid", failure.fields.password?.[0] ?? failure.message, failure.fields);
      }
      confirmedAt.current = Date.now();
      setPending(null);
      if (waiting) await waiting.action();
    }, waiting?.purpose ?? "");
  };

  const reauthForm = pending ? (
    <form className="stack" onSubmit={reauthenticate} noValidate>
      <p>Confirm your password to {pending.purpose}.</p>
      <TextField label="Password" name="password" type="password" autoComplete="current-password" required autoFocus error={error} />
      {error instanceof ApiError && error.fields.password ? null : <ErrorMessage error={error} />}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? "Confirming…" : "Confirm"}
        </button>
        <button
          className="btn"
          type="button"
          onClick={() => {
            setPending(null);
            setError(null);
          }}
        >
          Cancel
        </button>
      </div>
    </form>
  ) : null;

  return (
    <div className="stack-lg">
      <PageHeader title="Security" description="Protect your account with a code from an authenticator app." />
      {me.two_factor_setup_required ? (
        <div className="alert alert-warning" role="alert" data-testid="two-factor-required">
          {me.organization.name} requires two-factor authentication. Set it up below to continue to the dashboard.
        </div>
      ) : null}
      <section className="card" aria-labelledby="totp-title">
        <div className="card-header">
          <h2 id="totp-title">Two-factor authentication</h2>
          {authenticators.data ? (
            totp ? (
              <Badge tone="success" testId="totp-status">
                on
              </Badge>
            ) : (
              <Badge testId="totp-status">off</Badge>
            )
          ) : null}
        </div>
        <div className="card-body stack">
          <ErrorMessage error={authenticators.error} />
          {authenticators.isPending ? <Loading /> : null}
          {notice && !pending && section === "totp" ? (
            <div className="alert alert-success" role="status">
              {notice}
            </div>
          ) : null}
          {reauthForm ? (
            reauthForm
          ) : setup ? (
            <form className="stack" onSubmit={activate} noValidate>
              <p>
                Scan the QR code with your authenticator app (Google Authenticator, 1Password, Authy…) or type the key into it, then enter
                the 6-digit code it shows.
              </p>
              <div className="totp-setup">
                {setup.url ? <TwoFactorQr uri={setup.url} /> : null}
                <div className="totp-key stack">
                  <span className="small muted">Key</span>
                  <div className="secret">
                    <code data-testid="totp-secret">{setup.secret}</code>
                    <CopyButton text={setup.secret} label="Copy key" />
                  </div>
                </div>
              </div>
              {setup.url ? (
                <p className="small">
                  On a phone: <a href={setup.url}>open in your authenticator app</a>.
                </p>
              ) : null}
              <TextField
                label="Authentication code"
                name="code"
                inputMode="numeric"
                autoComplete="one-time-code"
                required
                autoFocus
                error={error}
              />
              {error instanceof ApiError && error.fields.code ? null : <ErrorMessage error={error} />}
              <div className="row">
                <button className="btn btn-primary" type="submit" disabled={busy}>
                  Turn on
                </button>
                <button
                  className="btn"
                  type="button"
                  onClick={() => {
                    setSetup(null);
                    setError(null);
                  }}
                >
                  Cancel
                </button>
              </div>
            </form>
          ) : authenticators.data ? (
            <>
              <p className="muted">
                {totp
                  ? `Each login asks for a code from your authenticator app after your password.${totp.created_at ? ` On since ${formatDate(new Date(totp.created_at * 1000).toISOString())}.` : ""}`
                  : "Only your password protects your account."}
              </p>
              {section === "totp" ? <ErrorMessage error={error} /> : null}
              <div className="row">
                {totp ? (
                  <button className="btn btn-danger" type="button" onClick={() => void deactivate()} disabled={busy}>
                    Turn off two-factor authentication
                  </button>
                ) : (
                  <button className="btn btn-primary" type="button" onClick={() => void begin()} disabled={busy}>
                    Set up two-factor authentication
                  </button>
                )}
              </div>
            </>
          ) : null}
        </div>
      </section>
      {totp && recovery ? (
        <section className="card" aria-labelledby="recovery-title">
          <div className="card-header">
            <h2 id="recovery-title">Recovery codes</h2>
            <Badge tone={recovery.unused_code_count ? undefined : "danger"}>
              {recovery.unused_code_count ?? 0} of {recovery.total_code_count ?? 0} left
            </Badge>
          </div>
          <div className="card-body stack">
            {notice && !pending && section === "recovery" ? (
              <div className="alert alert-success" role="status">
                {notice}
              </div>
            ) : null}
            {codes?.length ? (
              <>
                <div className="alert alert-warning" role="status">
                  Keep these recovery codes somewhere safe: each one logs you in once if you lose your device.
                </div>
                <div className="secret">
                  <code className="recovery-codes" data-testid="recovery-codes">
                    {codes.map((code) => (
                      <span key={code}>{code}</span>
                    ))}
                  </code>
                  <CopyButton text={codes.join("\n")} />
                </div>
              </>
            ) : (
              <p className="muted">Each code logs you in once, in place of a code from your authenticator app.</p>
            )}
            {section === "recovery" && !pending ? <ErrorMessage error={error} /> : null}
            {pending ? null : (
              <div className="row">
                {codes?.length ? null : (
                  <button
                    className="btn"
                    type="button"
                    onClick={() => void withConfirmation(showCodes, "see your recovery codes")}
                    disabled={busy}
                  >
                    Show recovery codes
                  </button>
                )}
                <button className="btn" type="button" onClick={() => void regenerate()} disabled={busy}>
                  Make new recovery codes
                </button>
              </div>
            )}
          </div>
        </section>
      ) : null}
      {isAdmin ? <RequireTwoFactorSetting ownTwoFactor={Boolean(totp)} /> : null}
    </div>
  );
}
