// The home page's conversation insights: the topics and the sentiment of the
// conversations one can see (imported and live; an admin: the organization's), from
// each conversation's analysis, over time.
import { memo, useMemo, useState } from "react";
import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Link } from "react-router-dom";
import { $api } from "../api/query";
import { Badge, Empty, ErrorMessage, formatDay, formatNumber, Loading } from "../ui";
import { AfterPaint } from "../ui/afterPaint";

const PERIODS = [
  { key: "all", label: "All time", days: null, bucket: "month" },
  { key: "year", label: "12 months", days: 365, bucket: "month" },
  { key: "quarter", label: "90 days", days: 90, bucket: "week" },
] as const;

function sentimentWord(score: number | null | undefined) {
  if (score == null) return "—";
  if (score >= 0.05) return "positive";
  if (score <= -0.05) return "negative";
  return "neutral";
}

type InsightsRow = { name: string; conversations: number; sentiment: number | null };

/** The timeline alone, memoized and without animation: the page re-renders as its other
 * requests answer, and recharts would redraw (and re-animate) its whole SVG each time. */
const InsightsChart = memo(function InsightsChart({ rows }: { rows: InsightsRow[] }) {
  return (
    <ResponsiveContainer>
      <ComposedChart data={rows} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e5ee" vertical={false} />
        <XAxis dataKey="name" tick={{ fontSize: 12, fill: "#6b7284" }} tickLine={false} axisLine={{ stroke: "#e2e5ee" }} />
        <YAxis
          yAxisId="count"
          tick={{ fontSize: 12, fill: "#6b7284" }}
          tickLine={false}
          axisLine={false}
          width={40}
          allowDecimals={false}
        />
        <YAxis
          yAxisId="sentiment"
          orientation="right"
          domain={[-1, 1]}
          tick={{ fontSize: 12, fill: "#6b7284" }}
          tickLine={false}
          axisLine={false}
          width={40}
        />
        <Tooltip cursor={{ fill: "#eef0ff" }} isAnimationActive={false} />
        <Legend />
        <Bar yAxisId="count" dataKey="conversations" name="Conversations" fill="#a5b4fc" radius={[4, 4, 0, 0]} isAnimationActive={false} />
        <Line
          yAxisId="sentiment"
          type="monotone"
          dataKey="sentiment"
          name="Average sentiment"
          stroke="#4f46e5"
          strokeWidth={2}
          dot
          connectNulls
          isAnimationActive={false}
        />
      </ComposedChart>
    </ResponsiveContainer>
  );
});

export function ConversationInsights() {
  const [periodKey, setPeriodKey] = useState<(typeof PERIODS)[number]["key"]>("all");
  const period = PERIODS.find((item) => item.key === periodKey) ?? PERIODS[0];
  const dateFrom = useMemo(() => (period.days ? new Date(Date.now() - period.days * 86400000).toISOString() : null), [period.days]);
  const insights = $api.useQuery("get", "/api/v1/conversations/insights", {
    params: { query: { bucket: period.bucket, ...(dateFrom ? { date_from: dateFrom } : {}) } },
  });
  const data = insights.data;
  const rows = useMemo(
    () =>
      (data?.timeline ?? []).map((row) => ({
        name:
          period.bucket === "month"
            ? new Date(row.period).toLocaleDateString(undefined, { year: "numeric", month: "short" })
            : formatDay(row.period),
        conversations: row.conversations,
        sentiment: row.average_sentiment == null ? null : Number(row.average_sentiment.toFixed(3)),
      })),
    [data, period.bucket],
  );
  return (
    <section className="card" aria-labelledby="insights-title" data-testid="conversation-insights">
      <div className="card-header">
        <h2 id="insights-title">Conversations: topics and sentiment</h2>
        <div className="segmented" role="group" aria-label="Conversation period">
          {PERIODS.map((item) => (
            <button key={item.key} type="button" aria-pressed={periodKey === item.key} onClick={() => setPeriodKey(item.key)}>
              {item.label}
            </button>
          ))}
        </div>
      </div>
      <div className="card-body stack">
        <ErrorMessage error={insights.error} />
        {insights.isPending ? <Loading /> : null}
        {data && !data.conversations ? (
          <Empty title="No analysed conversations in this period">
            Conversations are analysed when they end, and after an <Link to="/import">import</Link> of your ChatGPT, Claude or Gemini
            history.
          </Empty>
        ) : null}
        {data && data.conversations ? (
          <>
            <div className="row" style={{ flexWrap: "wrap", gap: 16 }}>
              <div>
                <div className="stat-label">Analysed conversations</div>
                <div className="stat-value" data-testid="insights-count">
                  {formatNumber(data.conversations)}
                </div>
              </div>
              <div>
                <div className="stat-label">Average sentiment</div>
                <div className="stat-value" data-testid="insights-sentiment">
                  {sentimentWord(data.sentiment.average)}
                  {data.sentiment.average != null ? <span className="muted small"> ({data.sentiment.average.toFixed(2)})</span> : null}
                </div>
              </div>
              <div className="row" style={{ gap: 6, alignItems: "flex-end" }} data-testid="insights-labels">
                <Badge tone="success">{data.sentiment.positive} positive</Badge>
                <Badge tone="info">{data.sentiment.neutral} neutral</Badge>
                <Badge tone="danger">{data.sentiment.negative} negative</Badge>
              </div>
            </div>
            <div>
              <div className="stat-label">Topics</div>
              <div className="row" style={{ flexWrap: "wrap", gap: 6 }} data-testid="insights-topics">
                {data.topics.map((topic) => (
                  <Link
                    key={topic.topic}
                    to={`/history?q=${encodeURIComponent(topic.topic)}`}
                    className="badge badge-accent"
                    data-testid="insights-topic"
                  >
                    {topic.topic} · {topic.conversations}
                  </Link>
                ))}
              </div>
            </div>
            <AfterPaint height={240} testId="insights-chart">
              <InsightsChart rows={rows} />
            </AfterPaint>
          </>
        ) : null}
      </div>
    </section>
  );
}
