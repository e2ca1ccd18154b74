// The chat composer's "/" template picker: typing "/" opens the organization's
// templates; choosing one asks for its variables and puts the rendered text in the box.
// The message sent from it names the version (prompt_version): its answer is the use.
import { useEffect, useState } from "react";
import { client, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { $api, useAction } from "../api/query";
import { ErrorMessage, fieldErrors } from "../ui";

type Template = components["schemas"]["TemplateOutput"];
type Variable = { name: string; type: string; required: boolean; help: string; choices: string[] };

export function TemplatePicker({ draft, onInsert }: { draft: string; onInsert: (text: string, versionId: string) => void }) {
  const open = draft.startsWith("/") && !draft.includes("\n");
  const query = open ? draft.slice(1).trim() : "";
  const found = $api.useQuery(
    "get",
    "/api/v1/prompts",
    { params: { query: { search: query || undefined, page_size: 8 } } },
    {
      enabled: open,
      select: (page) => page.results.filter((t) => t.published_version),
    },
  );
  const templates: Template[] = (open && found.data) || [];
  const [chosen, setChosen] = useState<Template | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!open) setChosen(null);
  }, [open]);
  // Not a <form>: the picker sits inside the composer's form, and forms do not nest.
  const insert = useAction(async () => {
    const typed: Record<string, unknown> = {};
    for (const v of (chosen?.published_version?.variables ?? []) as Variable[]) {
      const raw = values[v.name] ?? (v.type === "choice" ? v.choices[0] : "");
      if (raw === "" || raw === undefined) continue;
      typed[v.name] = v.type === "number" ? Number(raw) : v.type === "boolean" ? raw === "true" : raw;
    }
    const answer = await unwrap(
      client.POST("/api/v1/prompts/{template_id}/render", { params: { path: { template_id: chosen!.id } }, body: { values: typed } }),
    );
    setValues({});
    onInsert(answer.text, chosen!.published_version!.id);
  });
  const bind = (name: string) => ({
    name,
    value: values[name] ?? "",
    onChange: (e: { target: { value: string } }) => setValues({ ...values, [name]: e.target.value }),
    // Enter inserts the template instead of sending the composer's message.
    onKeyDown: (e: { key: string; target: EventTarget; preventDefault: () => void }) => {
      if (e.key === "Enter" && !(e.target instanceof HTMLTextAreaElement)) {
        e.preventDefault();
        void insert.run();
      }
    },
  });
  if (!open) return null;
  return (
    <div className="card" style={{ maxWidth: 820, margin: "0 auto 8px" }} data-testid="template-picker">
      <div className="card-body stack">
        {chosen === null ? (
          <>
            <div className="muted small">Templates{query ? ` matching “${query}”` : ""}: choose one</div>
            {templates.length === 0 ? <div className="muted small">No published template matches.</div> : null}
            {templates.map((t) => (
              <button
                key={t.id}
                type="button"
                className="btn btn-sm"
                style={{ justifyContent: "flex-start" }}
                onClick={() => setChosen(t)}
                data-testid="template-choice"
              >
                <strong>{t.name}</strong>&nbsp;<span className="muted small">{t.description}</span>
              </button>
            ))}
          </>
        ) : (
          <div className="stack">
            <strong>{chosen.name}</strong>
            {((chosen.published_version?.variables ?? []) as Variable[]).map((v) => (
              <div className="field" key={v.name}>
                <label htmlFor={`tpl-${v.name}`}>
                  {v.name}
                  {v.required ? " *" : ""}
                </label>
                {v.type === "choice" ? (
                  <select id={`tpl-${v.name}`} className="select" {...bind(v.name)}>
                    {v.choices.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                  </select>
                ) : v.type === "long_text" ? (
                  <textarea id={`tpl-${v.name}`} className="textarea" rows={3} {...bind(v.name)} />
                ) : (
                  <input
                    id={`tpl-${v.name}`}
                    className="input"
                    type={v.type === "number" ? "number" : v.type === "date" ? "date" : "text"}
                    {...bind(v.name)}
                  />
                )}
                {v.help ? <div className="hint">{v.help}</div> : null}
                {fieldErrors(insert.error, `values.${v.name}`)?.map((m) => (
                  <div key={m} className="field-errors">
                    {m}
                  </div>
                ))}
              </div>
            ))}
            <div className="row">
              <button
                type="button"
                className="btn btn-primary btn-sm"
                disabled={insert.busy}
                onClick={() => void insert.run()}
                data-testid="template-insert"
              >
                Insert
              </button>
              <button type="button" className="btn btn-sm" onClick={() => setChosen(null)}>
                Back
              </button>
            </div>
            {insert.error && !Object.keys((insert.error as { fields?: object }).fields ?? {}).length ? (
              <ErrorMessage error={insert.error} />
            ) : null}
          </div>
        )}
      </div>
    </div>
  );
}
