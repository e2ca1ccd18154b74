// Two-factor authentication (TOTP) through allauth's headless API.
import { type FormEvent, useState } from "react";
import { allauth, allauthError, pendingFlow } from "../api/allauth";
import { Badge, CopyButton, ErrorMessage, Loading, PageHeader, TextField, useAsync } from "../ui";

interface Authenticator {
  type: "totp" | "recovery_codes" | string;
  created_at?: number;
  last_used_at?: number | null;
}

export function SecurityPage() {
  const authenticators = useAsync(async () => {
    const response = await allauth<Authenticator[]>("GET", "/account/authenticators");
    if (response.status !== 200) throw allauthError(response);
    return response.data ?? [];
  }, []);
  const [setup, setSetup] = useState<{ secret: string; url: string } | null>(null);
  const [needsPassword, setNeedsPassword] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const totp = authenticators.data?.find((item) => item.type === "totp");

  const guard = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };
  const handle = (response: Awaited<ReturnType<typeof allauth>>) => {
    if (response.status === 401 && pendingFlow(response) === "reauthenticate") {
      setNeedsPassword(true);
      return false;
    }
    if (response.status >= 400) throw allauthError(response);
    return true;
  };

  const begin = () =>
    guard(async () => {
      const response = await allauth<unknown>("GET", "/account/authenticators/totp");
      const meta = response.meta as { secret?: string; totp_url?: string } | undefined;
      if (meta?.secret) setSetup({ secret: meta.secret, url: meta.totp_url ?? "" });
      else if (handle(response)) authenticators.reload();
    });
  const activate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget).get("code") ?? "").replace(/\s/g, "");
    return guard(async () => {
      if (!handle(await allauth("POST", "/account/authenticators/totp", { code }))) return;
      setSetup(null);
      const recovery = await allauth<{ unused_codes?: string[] }>("GET", "/account/authenticators/recovery-codes");
      setCodes(recovery.data?.unused_codes ?? null);
      authenticators.reload();
    });
  };
  const deactivate = () =>
    guard(async () => {
      if (!window.confirm("Turn off two-factor authentication?")) return;
      if (!handle(await allauth("DELETE", "/account/authenticators/totp"))) return;
      setCodes(null);
      authenticators.reload();
    });
  const reauthenticate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get("password") ?? "");
    return guard(async () => {
      const response = await allauth("POST", "/auth/reauthenticate", { password });
      if (response.status !== 200) throw allauthError(response);
      setNeedsPassword(false);
    });
  };

  return (
    <div className="stack-lg">
      <PageHeader title="Security" description="Protect your account with a code from an authenticator app." />
      <section className="card" aria-labelledby="totp-title">
        <div className="card-header">
          <h2 id="totp-title">Two-factor authentication</h2>
          {authenticators.data ? totp ? <Badge tone="success" testId="totp-status">on</Badge> : <Badge testId="totp-status">off</Badge> : null}
        </div>
        <div className="card-body stack">
          <ErrorMessage error={authenticators.error} />
          {authenticators.loading && !authenticators.data ? <Loading /> : null}
          {needsPassword ? (
            <form className="stack" onSubmit={reauthenticate} noValidate>
              <p>Confirm your password to change two-factor settings.</p>
              <TextField label="Password" name="password" type="password" autoComplete="current-password" required autoFocus error={error} />
              <ErrorMessage error={error} />
              <div>
                <button className="btn btn-primary" type="submit" disabled={busy}>
                  Confirm
                </button>
              </div>
            </form>
          ) : setup ? (
            <form className="stack" onSubmit={activate} noValidate>
              <p>
                Add this key to your authenticator app (Google Authenticator, 1Password, Authy…), then enter the 6-digit code it shows.
              </p>
              <div className="secret">
                <code data-testid="totp-secret">{setup.secret}</code>
                <CopyButton text={setup.secret} label="Copy key" />
              </div>
              {setup.url ? (
                <p className="small">
                  On a phone: <a href={setup.url}>open in your authenticator app</a>.
                </p>
              ) : null}
              <TextField label="Authentication code" name="code" inputMode="numeric" autoComplete="one-time-code" required error={error} />
              <ErrorMessage error={error} />
              <div className="row">
                <button className="btn btn-primary" type="submit" disabled={busy}>
                  Turn on
                </button>
                <button className="btn" type="button" onClick={() => setSetup(null)}>
                  Cancel
                </button>
              </div>
            </form>
          ) : authenticators.data ? (
            <>
              <p className="muted">
                {totp ? "Each login asks for a code from your authenticator app after your password." : "Only your password protects your account."}
              </p>
              <ErrorMessage error={error} />
              <div>
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
          {codes?.length ? (
            <div className="stack">
              <div className="alert alert-warning" role="status">
                Keep these recovery codes somewhere safe: each one logs you in once if you lose your device.
              </div>
              <div className="secret">
                <code data-testid="recovery-codes">{codes.join("  ")}</code>
                <CopyButton text={codes.join("\n")} />
              </div>
            </div>
          ) : null}
        </div>
      </section>
    </div>
  );
}
