// The organization's "require two-factor for members" switch (admins, Security page).
import { useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import { Badge, ErrorMessage, Loading } from "../ui";
import { useToast } from "../ui/toast";

export function RequireTwoFactorSetting({ ownTwoFactor }: { ownTwoFactor: boolean }) {
  const toast = useToast();
  const organization = $api.useQuery("get", "/api/v1/organization");
  const [confirming, setConfirming] = useState(false);
  const change = useAction(
    async (require_two_factor: boolean) => {
      await unwrap(client.PATCH("/api/v1/organization", { body: { require_two_factor } }));
      setConfirming(false);
      toast(
        require_two_factor
          ? "Two-factor authentication is now required for every member."
          : "Two-factor authentication is no longer required.",
      );
    },
    { invalidates: ["/api/v1/organization"] },
  );
  const data = organization.data;
  const lacking = data?.members_without_two_factor ?? 0;
  return (
    <section className="card" aria-labelledby="require-2fa-title">
      <div className="card-header">
        <h2 id="require-2fa-title">Require two-factor for members</h2>
        {data ? (
          data.require_two_factor ? (
            <Badge tone="success" testId="require-2fa-status">
              required
            </Badge>
          ) : (
            <Badge testId="require-2fa-status">optional</Badge>
          )
        ) : null}
      </div>
      <div className="card-body stack">
        {organization.isLoading ? <Loading /> : null}
        <ErrorMessage error={organization.error ?? change.error} />
        {data ? (
          <>
            <p className="muted">
              When required, a member without an authenticator app is sent to set one up after logging in, before using the dashboard or the
              API with their session. API keys are not affected.
            </p>
            {confirming ? (
              <div className="alert alert-warning stack" role="alert" data-testid="require-2fa-warning">
                <strong>
                  {lacking === 0
                    ? "Every member has two-factor authentication."
                    : `${lacking} ${lacking === 1 ? "member has" : "members have"} no two-factor authentication yet.`}
                </strong>
                {lacking ? <span>They will have to set it up at their next request before they can continue.</span> : null}
                <div className="row">
                  <button type="button" className="btn btn-primary" disabled={change.busy} onClick={() => void change.run(true)}>
                    Require it
                  </button>
                  <button type="button" className="btn" onClick={() => setConfirming(false)}>
                    Cancel
                  </button>
                </div>
              </div>
            ) : (
              <div className="row">
                {data.require_two_factor ? (
                  <button type="button" className="btn" disabled={change.busy} onClick={() => void change.run(false)}>
                    Stop requiring it
                  </button>
                ) : (
                  <button type="button" className="btn" disabled={!ownTwoFactor} onClick={() => setConfirming(true)}>
                    Require two-factor authentication…
                  </button>
                )}
                {!ownTwoFactor && !data.require_two_factor ? (
                  <span className="muted small">Turn it on for your own account first.</span>
                ) : null}
              </div>
            )}
          </>
        ) : null}
      </div>
    </section>
  );
}
