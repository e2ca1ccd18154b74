// The chat composer's "/" template picker: typing "/" opens the organization's
// templates; choosing one asks for its variables and puts the rendered text in the box.
import { type FormEvent, useEffect, useState } from "react";
import { client, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { ErrorMessage, fieldErrors, useAction } from "../ui";

type Template = components["schemas"]["TemplateOutput"];
type Variable = { name: string; type: string; required: boolean; help: string; choices: string[] };

export function TemplatePicker({ draft, onInsert }: { draft: string; onInsert: (text: string) => void }) {
  const open = draft.startsWith("/") && !draft.includes("\n");
  const query = open ? draft.slice(1).trim() : "";
  const [templates, setTemplates] = useState<Template[]>([]);
  const [chosen, setChosen] = useState<Template | null>(null);
  useEffect(() => {
    if (!open) {
      setChosen(null);
      return;
    }
    let alive = true;
    unwrap(client.GET("/api/v1/prompts", { params: { query: { search: query || undefined, page_size: 8 } } }))
      .then((page) => alive && setTemplates(page.results.filter((t) => t.published_version)))
      .catch(() => alive && setTemplates([]));
    return () => {
      alive = false;
    };
  }, [open, query]);
  const insert = useAction(async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const values: Record<string, unknown> = {};
    for (const v of (chosen?.published_version?.variables ?? []) as Variable[]) {
      const raw = String(form.get(v.name) ?? "");
      if (raw === "") continue;
      values[v.name] = v.type === "number" ? Number(raw) : v.type === "boolean" ? raw === "true" : raw;
    }
    const answer = await unwrap(
      client.POST("/api/v1/prompts/{template_id}/render", { params: { path: { template_id: chosen!.id } }, body: { values, record_use: "chat" } }),
    );
    onInsert(answer.text);
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
              <button key={t.id} type="button" className="btn btn-sm" style={{ justifyContent: "flex-start" }} onClick={() => setChosen(t)} data-testid="template-choice">
                <strong>{t.name}</strong>&nbsp;<span className="muted small">{t.description}</span>
              </button>
            ))}
          </>
        ) : (
          <form className="stack" onSubmit={insert.run} noValidate>
            <strong>{chosen.name}</strong>
            {((chosen.published_version?.variables ?? []) as Variable[]).map((v) => (
              <div className="field" key={v.name}>
                <label htmlFor={`tpl-${v.name}`}>
                  {v.name}
                  {v.required ? " *" : ""}
                </label>
                {v.type === "choice" ? (
                  <select id={`tpl-${v.name}`} name={v.name} className="select">
                    {v.choices.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                  </select>
                ) : v.type === "long_text" ? (
                  <textarea id={`tpl-${v.name}`} name={v.name} className="textarea" rows={3} />
                ) : (
                  <input id={`tpl-${v.name}`} name={v.name} className="input" type={v.type === "number" ? "number" : v.type === "date" ? "date" : "text"} />
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
              <button type="submit" className="btn btn-primary btn-sm" disabled={insert.busy} data-testid="template-insert">
                Insert
              </button>
              <button type="button" className="btn btn-sm" onClick={() => setChosen(null)}>
                Back
              </button>
            </div>
            {insert.error && !Object.keys((insert.error as { fields?: object }).fields ?? {}).length ? <ErrorMessage error={insert.error} /> : null}
          </form>
        )}
      </div>
    </div>
  );
}
