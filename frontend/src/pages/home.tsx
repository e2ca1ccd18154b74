// Home: usage and cost over time (by day, model or assistant), totals and quotas.
import { memo, useMemo, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Link } from "react-router-dom";
import { GettingStarted } from "../components/GettingStarted";
import { $api } from "../api/query";
import { AfterPaint } from "../ui/afterPaint";
import { DEFAULT_DAYS, DEFAULT_GROUP, usageInit, usageRange } from "./home-data";
import { ConversationInsights } from "../conversations/ConversationInsights";
import type { UsageGroupBy } from "../api/types";
import { useMe, usePermissions } from "../session";
import { Empty, ErrorMessage, formatBytes, formatCost, formatDay, formatNumber, Loading, PageHeader } from "../ui";

const QUOTA_LABELS: Record<string, string> = {
  monthly_tokens: "AI tokens this month",
  monthly_cost: "AI spending this month",
  monthly_messages: "Chat messages this month",
  max_documents: "Documents",
  max_storage_bytes: "Document storage",
  tokens_per_minute: "AI tokens this minute",
};

function formatQuota(name: string, value: number) {
  if (name === "monthly_cost") return formatCost(value);
  if (name === "max_storage_bytes") return formatBytes(value);
  return formatNumber(value);
}

const RANGES = [
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
  { days: 90, label: "90 days" },
];
const GROUPS: { value: UsageGroupBy; label: string }[] = [
  { value: "day", label: "By day" },
  { value: "model", label: "By model" },
  { value: "assistant", label: "By assistant" },
];

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="card card-body">
      <div className="stat-label">{label}</div>
      <div className="stat-value" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

type ChartRow = { name: string; cost: number; prompt: number; completion: number; calls: number };

/** The chart alone, memoized: the page re-renders as its other requests answer (quotas,
 * the checklist, the insights) and recharts redraws its whole SVG on every render. No
 * animation: recharts animates bars frame by frame for 1.5 s after each (re)draw, which
 * kept the main thread busy right when the page is opened or its data refreshes. Drawn
 * after the page's first paint (AfterPaint), so the figures and tables show first. */
const UsageChart = memo(function UsageChart({ rows, metric }: { rows: ChartRow[]; metric: "cost" | "tokens" }) {
  return (
    <AfterPaint height={300}>
      <ResponsiveContainer>
        <BarChart data={rows} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e2e5ee" vertical={false} />
          <XAxis dataKey="name" tick={{ fontSize: 12, fill: "#6b7284" }} tickLine={false} axisLine={{ stroke: "#e2e5ee" }} />
          <YAxis
            tick={{ fontSize: 12, fill: "#6b7284" }}
            tickLine={false}
            axisLine={false}
            width={70}
            tickFormatter={(value: number) => (metric === "cost" ? formatCost(value) : formatNumber(value))}
          />
          <Tooltip
            formatter={(value: number, name: string) => (name === "Cost" ? formatCost(value) : formatNumber(value))}
            cursor={{ fill: "#eef0ff" }}
            isAnimationActive={false}
          />
          {metric === "cost" ? (
            <Bar dataKey="cost" name="Cost" fill="#4f46e5" radius={[4, 4, 0, 0]} isAnimationActive={false} />
          ) : (
            <>
              <Legend />
              <Bar dataKey="prompt" name="Prompt tokens" stackId="tokens" fill="#4f46e5" isAnimationActive={false} />
              <Bar
                dataKey="completion"
                name="Completion tokens"
                stackId="tokens"
                fill="#a5b4fc"
                radius={[4, 4, 0, 0]}
                isAnimationActive={false}
              />
            </>
          )}
        </BarChart>
      </ResponsiveContainer>
    </AfterPaint>
  );
});

export default function HomePage() {
  const me = useMe();
  // Usage and cost are for admins (the API refuses others); everyone sees the quotas.
  const { isAdmin } = usePermissions();
  const [days, setDays] = useState(DEFAULT_DAYS);
  const [groupBy, setGroupBy] = useState<UsageGroupBy>(DEFAULT_GROUP);
  // null: not chosen yet; then cost, unless everything was free (local models): tokens.
  const [chosenMetric, setMetric] = useState<"cost" | "tokens" | null>(null);
  const range = useMemo(() => usageRange(days), [days]);
  const usage = $api.useQuery("get", "/api/v1/usage", usageInit(range, groupBy), { enabled: isAdmin });
  const quotas = $api.useQuery("get", "/api/v1/usage/quotas");

  const rows = useMemo((): ChartRow[] => {
    const results = usage.data?.results ?? [];
    const data = results.map((row) => ({
      name: groupBy === "day" ? formatDay(row.key || row.label) : row.label || row.key || "—",
      cost: Number(row.cost),
      prompt: row.prompt_tokens,
      completion: row.completion_tokens,
      calls: row.calls,
    }));
    return groupBy === "day" ? data : data.sort((a, b) => b.cost - a.cost || b.prompt + b.completion - (a.prompt + a.completion));
  }, [usage.data, groupBy]);
  const totals = usage.data?.totals;
  // A period with no call draws no chart of zeros: it says what would fill it.
  const hasUsage = rows.length > 0 && (totals?.calls ?? 0) > 0;
  const metric = chosenMetric ?? (totals && Number(totals.cost) === 0 && totals.total_tokens > 0 ? "tokens" : "cost");

  return (
    <div className="stack-lg">
      <PageHeader
        title={`Welcome, ${me.user.name || me.user.email.split("@")[0]}`}
        description={
          isAdmin
            ? `${me.organization.name} · usage and cost of every answer, embedding and test.`
            : `${me.organization.name} · ask the assistants, and see how much of the plan is used.`
        }
        actions={
          <>
            <Link className="btn" to="/chat">
              Open chat
            </Link>
            <Link className="btn btn-primary" to="/assistants">
              Assistants
            </Link>
          </>
        }
      />
      {isAdmin ? <GettingStarted /> : null}
      {isAdmin ? (
        <>
          <div className="row-between">
            <div className="segmented" role="group" aria-label="Period">
              {RANGES.map((item) => (
                <button key={item.days} type="button" aria-pressed={days === item.days} onClick={() => setDays(item.days)}>
                  {item.label}
                </button>
              ))}
            </div>
            <span className="muted small">
              {formatDay(range.start)} – {formatDay(range.end)}
            </span>
          </div>
          <ErrorMessage error={usage.error} testId="usage-error" />
          <div className="grid-4" aria-live="polite">
            <Stat label="Cost" value={totals ? formatCost(totals.cost) : "—"} testId="usage-total-cost" />
            <Stat label="Tokens" value={totals ? formatNumber(totals.total_tokens) : "—"} testId="usage-total-tokens" />
            <Stat label="Calls" value={totals ? formatNumber(totals.calls) : "—"} testId="usage-total-calls" />
            <Stat
              label="Prompt / completion"
              value={totals ? `${formatNumber(totals.prompt_tokens)} / ${formatNumber(totals.completion_tokens)}` : "—"}
              testId="usage-total-split"
            />
          </div>
          <section className="card" aria-labelledby="usage-chart-title">
            <div className="card-header">
              <h2 id="usage-chart-title">Usage over time</h2>
              <div className="row">
                <div className="segmented" role="group" aria-label="Group by">
                  {GROUPS.map((group) => (
                    <button key={group.value} type="button" aria-pressed={groupBy === group.value} onClick={() => setGroupBy(group.value)}>
                      {group.label}
                    </button>
                  ))}
                </div>
                <div className="segmented" role="group" aria-label="Measure">
                  <button type="button" aria-pressed={metric === "cost"} onClick={() => setMetric("cost")}>
                    Cost
                  </button>
                  <button type="button" aria-pressed={metric === "tokens"} onClick={() => setMetric("tokens")}>
                    Tokens
                  </button>
                </div>
              </div>
            </div>
            <div className="card-body" data-testid="usage-chart">
              {usage.isLoading ? <Loading /> : null}
              {usage.data && !hasUsage ? (
                <Empty title="No usage in this period">
                  Nothing has been asked or uploaded yet. <Link to="/chat">Ask an assistant</Link> or{" "}
                  <Link to="/knowledge">upload a document</Link> and the cost and tokens show here.
                </Empty>
              ) : null}
              {hasUsage ? <UsageChart rows={rows} metric={metric} /> : null}
            </div>
            {hasUsage && groupBy !== "day" ? (
              <div className="table-wrap">
                <table className="table">
                  <thead>
                    <tr>
                      <th>{groupBy === "model" ? "Model" : "Assistant"}</th>
                      <th className="num">Calls</th>
                      <th className="num">Tokens</th>
                      <th className="num">Cost</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((row) => (
                      <tr key={row.name} data-testid="usage-row">
                        <td>{row.name}</td>
                        <td className="num">{formatNumber(row.calls)}</td>
                        <td className="num">{formatNumber(row.prompt + row.completion)}</td>
                        <td className="num">{formatCost(row.cost)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </section>
        </>
      ) : null}
      <ConversationInsights />
      <section className="card" aria-labelledby="quotas-title">
        <div className="card-header">
          <h2 id="quotas-title">Plan and quotas</h2>
          {quotas.data ? <span className="badge badge-accent">{quotas.data.plan.name}</span> : null}
        </div>
        <div className="card-body stack">
          <ErrorMessage error={quotas.error} />
          {quotas.data ? (
            <>
              <p className="muted small">
                Period {formatDay(quotas.data.period_start)} – {formatDay(quotas.data.period_end)}
              </p>
              <div className="grid-3">
                {quotas.data.quotas.map((quota) => {
                  const share = quota.limit ? Math.min(1, quota.used / quota.limit) : 0;
                  return (
                    <div key={quota.name} className="stack" style={{ gap: 6 }}>
                      <div className="row-between small">
                        <strong>{QUOTA_LABELS[quota.name] ?? quota.name.replace(/_/g, " ")}</strong>
                        <span className="muted">
                          {formatQuota(quota.name, quota.used)} /{" "}
                          {quota.limit === null ? "unlimited" : formatQuota(quota.name, quota.limit)}
                        </span>
                      </div>
                      <div
                        className="progress"
                        role="progressbar"
                        aria-label={QUOTA_LABELS[quota.name] ?? quota.name}
                        aria-valuemin={0}
                        aria-valuemax={100}
                        aria-valuenow={Math.round(share * 100)}
                      >
                        <span style={{ width: `${share * 100}%`, background: share > 0.9 ? "var(--danger)" : undefined }} />
                      </div>
                    </div>
                  );
                })}
              </div>
            </>
          ) : null}
        </div>
      </section>
    </div>
  );
}
