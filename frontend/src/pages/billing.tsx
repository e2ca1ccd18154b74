// Billing: the plan for everyone; for admins the subscription, the grace banner,
// usage against what the plan includes, the running bill, invoices, and the ways to
// pay (Stripe Checkout, the Customer Portal, plan changes). The plan itself changes
// only when Stripe's webhook confirms a payment, so after Checkout the page polls.
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import { usePermissions } from "../session";
import { AttachmentRetention } from "./chat-attachments";
import { Badge, Empty, ErrorMessage, formatCost, formatDate, formatDay, formatNumber, Loading, PageHeader, SelectField } from "../ui";

const STATE_TEXT: Record<string, string> = {
  none: "No subscription",
  ok: "Active",
  grace: "Payment failed",
  canceling: "Ends at period end",
  downgraded: "Free limits apply",
};

function cents(value: number | string | null | undefined, currency: string) {
  return formatCost(Number(value ?? 0) / 100, currency.toUpperCase());
}

export function BillingPage() {
  const { isAdmin } = usePermissions();
  const plan = $api.useQuery("get", "/api/v1/billing/plan", {}, { enabled: !isAdmin });
  if (!isAdmin) {
    return (
      <div className="stack-lg">
        <PageHeader title="Billing" description="Your organization's plan. Admins manage billing." />
        <section className="card card-body" aria-label="Plan">
          <ErrorMessage error={plan.error} />
          {plan.data ? (
            <p>
              Plan: <strong data-testid="billing-plan">{plan.data.name}</strong>
            </p>
          ) : (
            <Loading />
          )}
        </section>
      </div>
    );
  }
  return <AdminBilling />;
}

function AdminBilling() {
  const [search] = useSearchParams();
  const returned = search.get("checkout");
  // Back from Checkout: the webhook may land a moment later; look again (every 2 s, ten
  // times at most) until the subscription is active.
  const account = $api.useQuery(
    "get",
    "/api/v1/billing",
    {},
    {
      refetchInterval: (query) =>
        returned === "success" && query.state.data?.state !== "ok" && query.state.dataUpdateCount <= 10 ? 2000 : false,
    },
  );
  const plans = $api.useQuery("get", "/api/v1/billing/plans", { params: { query: { page_size: 100 } } }, { staleTime: 5 * 60_000 });
  const invoices = $api.useQuery("get", "/api/v1/billing/invoices", { params: { query: { page_size: 24 } } });
  const [interval, setInterval_] = useState<"month" | "year">("month");
  const pay = useAction(
    async (code: string) => {
      const subscribed = account.data?.subscription && ["ok", "grace", "canceling"].includes(account.data.state);
      if (subscribed) {
        await unwrap(client.POST("/api/v1/billing/subscription/change", { body: { plan: code, interval } }));
        return;
      }
      const session = await unwrap(client.POST("/api/v1/billing/checkout", { body: { plan: code, interval } }));
      window.location.assign(session.url);
    },
    { invalidates: ["/api/v1/billing"] },
  );
  const portal = useAction(async () => {
    const session = await unwrap(client.POST("/api/v1/billing/portal"));
    window.location.assign(session.url);
  });

  const data = account.data;
  const bill = data?.running_bill;
  const currency = bill?.currency ?? "usd";
  return (
    <div className="stack-lg">
      <PageHeader
        title="Billing"
        description="Your plan, this period's usage and bill, invoices and payment."
        actions={
          data?.has_billing_account ? (
            <button type="button" className="btn" onClick={() => portal.run()} disabled={portal.busy} data-testid="billing-portal">
              Payment methods &amp; invoices
            </button>
          ) : null
        }
      />
      <ErrorMessage error={portal.error} />
      {returned === "success" && data?.state !== "ok" ? (
        <div className="card card-body" role="status" data-testid="billing-pending">
          Thank you: the payment is being confirmed with Stripe. Your plan changes as soon as it is.
        </div>
      ) : null}
      {data?.state === "grace" ? (
        <div className="card card-body" role="alert" data-testid="billing-grace">
          <strong>The last payment failed.</strong> Update your payment method before {formatDate(data.grace_ends_at)}, or the organization
          moves to the free plan's limits (nothing is deleted).
        </div>
      ) : null}
      {data?.state === "downgraded" ? (
        <div className="card card-body" role="alert" data-testid="billing-downgraded">
          The subscription ended or was not paid: the free plan's limits apply. Your data is kept.
        </div>
      ) : null}
      <section className="card card-body stack" aria-label="Current plan">
        <ErrorMessage error={account.error} />
        {account.isPending ? <Loading /> : null}
        {data ? (
          <>
            <div className="row" style={{ alignItems: "center", gap: 12, flexWrap: "wrap" }}>
              <h2 style={{ margin: 0 }}>
                <span data-testid="billing-plan">{data.plan.name}</span>
              </h2>
              <Badge tone={data.state === "ok" ? "success" : data.state === "none" ? "info" : "warning"} testId="billing-state">
                {STATE_TEXT[data.state] ?? data.state}
              </Badge>
            </div>
            {data.subscription ? (
              <p className="muted small">
                Billed {data.subscription.interval === "year" ? "yearly" : "monthly"}; this period{" "}
                {formatDay(data.subscription.current_period_start)} – {formatDay(data.subscription.current_period_end)}
                {data.subscription.cancel_at_period_end ? "; ends at the end of this period" : ""}
                {data.subscription.trial_end ? `; trial until ${formatDay(data.subscription.trial_end)}` : ""}.
              </p>
            ) : null}
            {!data.billing_enabled ? <p className="muted small">Online payment is not set up on this platform.</p> : null}
          </>
        ) : null}
      </section>
      {bill ? (
        <section className="card card-body stack" aria-label="This period">
          <h2 style={{ margin: 0 }}>This period so far</h2>
          <div className="table-wrap">
            <table className="table">
              <tbody>
                <tr>
                  <th scope="row">AI tokens used</th>
                  <td data-testid="billing-tokens">
                    {formatNumber(bill.tokens)}
                    {bill.included_tokens != null ? ` of ${formatNumber(bill.included_tokens)} included` : ""}
                  </td>
                </tr>
                <tr>
                  <th scope="row">Beyond the included amount</th>
                  <td>
                    {formatNumber(bill.overage_tokens)} tokens: {cents(bill.overage_cents, currency)}
                  </td>
                </tr>
                <tr>
                  <th scope="row">Plan price</th>
                  <td>{cents(bill.flat_cents, currency)}</td>
                </tr>
                <tr>
                  <th scope="row">Running bill</th>
                  <td>
                    <strong data-testid="billing-running-total">{cents(bill.total_cents, currency)}</strong>
                    <div className="muted small">
                      Estimate until Stripe issues the invoice; {formatNumber(bill.reported_tokens)} tokens reported to Stripe so far.
                    </div>
                  </td>
                </tr>
              </tbody>
            </table>
          </div>
        </section>
      ) : null}
      <AttachmentRetention />
      <section className="card card-body stack" aria-label="Plans">
        <div className="row" style={{ justifyContent: "space-between", alignItems: "flex-end", flexWrap: "wrap" }}>
          <h2 style={{ margin: 0 }}>Plans</h2>
          <div style={{ minWidth: 160 }}>
            <SelectField
              label="Billing interval"
              name="interval"
              value={interval}
              onChange={(event) => setInterval_(event.target.value as "month" | "year")}
            >
              <option value="month">Monthly</option>
              <option value="year">Yearly</option>
            </SelectField>
          </div>
        </div>
        <ErrorMessage error={plans.error ?? pay.error} testId="billing-pay-error" />
        {plans.data ? (
          <div className="table-wrap">
            <table className="table table-stack">
              <thead>
                <tr>
                  <th>Plan</th>
                  <th>Price</th>
                  <th className="hide-sm">Included AI tokens</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {plans.data.results.map((offer) => {
                  const price = interval === "year" ? offer.price_annual_cents : offer.price_monthly_cents;
                  const current = data?.plan.code === offer.code;
                  return (
                    <tr key={offer.code} data-testid={`plan-${offer.code}`}>
                      <td>{offer.name}</td>
                      <td>{price != null ? `${cents(price, offer.currency)} / ${interval}` : "—"}</td>
                      <td className="hide-sm">{offer.included_ai_tokens != null ? formatNumber(offer.included_ai_tokens) : "—"}</td>
                      <td>
                        {current ? (
                          <Badge tone="accent">Current</Badge>
                        ) : offer.purchasable && data?.billing_enabled ? (
                          <button type="button" className="btn btn-primary" disabled={pay.busy} onClick={() => pay.run(offer.code)}>
                            {data?.subscription && ["ok", "grace", "canceling"].includes(data.state) ? "Switch" : "Choose"}
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : (
          <Loading />
        )}
      </section>
      <section className="card" aria-label="Invoices">
        <div className="card-body">
          <h2 style={{ margin: 0 }}>Invoices</h2>
        </div>
        <ErrorMessage error={invoices.error} />
        {invoices.data ? (
          invoices.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>Date</th>
                    <th>Number</th>
                    <th>Status</th>
                    <th>Total</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {invoices.data.results.map((invoice) => (
                    <tr key={invoice.id} data-testid="invoice-row">
                      <td className="nowrap">{formatDay(invoice.created)}</td>
                      <td className="mono small">{invoice.number}</td>
                      <td>{invoice.status}</td>
                      <td>{cents(invoice.total_cents, invoice.currency)}</td>
                      <td>
                        {invoice.invoice_pdf ? (
                          <a href={invoice.invoice_pdf} target="_blank" rel="noreferrer">
                            PDF
                          </a>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No invoices yet" />
          )
        ) : (
          <Loading />
        )}
      </section>
    </div>
  );
}
