import {
  type ReactNode,
  type InputHTMLAttributes,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
  useEffect,
  useId,
  useRef,
  useState,
} from "react";
import { ApiError, messageOf } from "../api/client";
import { InlineMarkdown } from "./markdown";
import { useToast } from "./toast";

// ---- Errors

/** The server's message next to the control that failed (announced by screen readers). */
export function ErrorMessage({ error, testId }: { error: unknown; testId?: string }) {
  if (!error) return null;
  return (
    <div className="alert alert-error" role="alert" data-testid={testId ?? "error-message"}>
      {messageOf(error)}
    </div>
  );
}

export function fieldErrors(error: unknown, name: string): string[] | undefined {
  if (error instanceof ApiError) return error.fields[name];
  return undefined;
}

// ---- Form fields

interface FieldProps {
  label: string;
  name: string;
  error?: unknown;
  hint?: ReactNode;
  children: (props: { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string }) => ReactNode;
}

export function Field({ label, name, error, hint, children }: FieldProps) {
  const id = useId();
  const errors = fieldErrors(error, name);
  const describedBy = [hint ? `${id}-hint` : "", errors ? `${id}-errors` : ""].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": errors ? true : undefined, "aria-describedby": describedBy || undefined })}
      {hint ? (
        <div className="hint" id={`${id}-hint`}>
          {hint}
        </div>
      ) : null}
      {errors ? (
        <ul className="field-errors" id={`${id}-errors`} data-testid={`field-error-${name}`}>
          {errors.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** The server's errors for a field that is a group of controls (the checkboxes of a
 * <fieldset>), under the group: without it they would only say "Invalid input.". */
export function FieldErrors({ error, name, id }: { error: unknown; name: string; id?: string }) {
  const errors = fieldErrors(error, name);
  if (!errors) return null;
  return (
    <ul className="field-errors" id={id} data-testid={`field-error-${name}`}>
      {errors.map((message) => (
        <li key={message}>{message}</li>
      ))}
    </ul>
  );
}

type InputProps = InputHTMLAttributes<HTMLInputElement> & { label: string; name: string; error?: unknown; hint?: ReactNode };

export function TextField({ label, name, error, hint, className, ...rest }: InputProps) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(a11y) => <input className={`input ${className ?? ""}`} name={name} {...a11y} {...rest} />}
    </Field>
  );
}

type TextareaProps = TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; name: string; error?: unknown; hint?: ReactNode };

export function TextAreaField({ label, name, error, hint, ...rest }: TextareaProps) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(a11y) => <textarea className="textarea" name={name} {...a11y} {...rest} />}
    </Field>
  );
}

type SelectProps = SelectHTMLAttributes<HTMLSelectElement> & {
  label: string;
  name: string;
  error?: unknown;
  hint?: ReactNode;
  children: ReactNode;
};

export function SelectField({ label, name, error, hint, children, ...rest }: SelectProps) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(a11y) => (
        <select className="select" name={name} {...a11y} {...rest}>
          {children}
        </select>
      )}
    </Field>
  );
}

// ---- Small pieces

export function Spinner({ label = "Loading" }: { label?: string }) {
  return <span className="spin" role="status" aria-label={label} />;
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="empty" role="status">
      <span className="spin" aria-hidden="true" /> <span>{label}</span>
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

export function Badge({
  tone,
  children,
  testId,
}: {
  tone?: "success" | "danger" | "warning" | "info" | "accent";
  children: ReactNode;
  testId?: string;
}) {
  return (
    <span className={`badge ${tone ? `badge-${tone}` : ""}`} data-testid={testId}>
      {children}
    </span>
  );
}

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {description ? <p>{description}</p> : null}
      </div>
      {actions ? <div className="row">{actions}</div> : null}
    </header>
  );
}

export function Pager({
  page,
  count,
  pageSize,
  onPage,
}: {
  page: number;
  count: number;
  pageSize: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(count / pageSize));
  if (count <= pageSize) return null;
  return (
    <nav className="pager" aria-label="Pagination">
      <span>
        Page {page} of {pages} · {count} items
      </span>
      <button type="button" className="btn btn-sm" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <button type="button" className="btn btn-sm" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** A native <dialog>: focus trapped, Escape closes, focus returns to the opener. */
export function Modal({
  open,
  title,
  onClose,
  children,
  footer,
  testId,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  const titleId = useId();
  return (
    <dialog ref={ref} className="modal" aria-labelledby={titleId} onClose={onClose} onCancel={onClose} data-testid={testId}>
      {open ? (
        <>
          <div className="modal-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" className="btn btn-ghost btn-icon" aria-label="Close" onClick={onClose}>
              ✕
            </button>
          </div>
          <div className="modal-body">{children}</div>
          {footer ? <div className="modal-foot">{footer}</div> : null}
        </>
      ) : null}
    </dialog>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const toast = useToast();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API refused (insecure origin): fall back to a selection copy.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    toast("Copied to the clipboard.");
    window.setTimeout(() => setCopied(false), 2000);
  };
  return (
    <button type="button" className="btn btn-sm" onClick={copy} aria-live="polite">
      {copied ? "Copied" : label}
    </button>
  );
}

/** Renders ts_headline's <mark> highlights as elements, never as HTML. */
/** A search snippet: the engine's <mark> highlights and the text's inline Markdown. */
export function Highlighted({ text }: { text: string }) {
  return <InlineMarkdown text={text} />;
}

// ---- Relevance

/** A result's relevance as people read it: its rank, and its score as a share of the
 * best result's (retrieval scores, fused ranks or BM25, mean nothing on their own). The
 * raw score stays in the tooltip. */
export function Relevance({ rank, of, score, best, testId }: { rank: number; of?: number; score: number; best: number; testId?: string }) {
  const share = best > 0 ? Math.max(0, Math.min(1, score / best)) : 0;
  const percent = Math.round(share * 100);
  const label = share >= 0.9 ? "strong match" : share >= 0.6 ? "good match" : "weak match";
  return (
    <span className="relevance small" data-testid={testId} title={`Score ${score.toFixed(4)} (${percent}% of the best result's)`}>
      <strong>#{rank}</strong>
      {of ? <span className="muted"> of {of}</span> : null} · <span data-testid="relevance-label">{label}</span>
      <span className="meter" role="img" aria-label={`${percent}% of the best match`}>
        <span style={{ width: `${percent}%` }} />
      </span>
    </span>
  );
}

// ---- Formatting

export function formatDate(value?: string | null) {
  if (!value) return "—";
  return new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDay(value?: string | null) {
  if (!value) return "—";
  return new Date(value).toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function formatCost(value?: string | number | null, currency = "USD") {
  const number = Number(value ?? 0);
  const digits = number !== 0 && Math.abs(number) < 0.01 ? 4 : 2;
  return new Intl.NumberFormat(undefined, {
    style: "currency",
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(number);
}

/** A write-only key as the API hints it ("…1234", "set" when too short to show any, ""
 * when none): "••••1234", "••••••••" or "—". */
export function formatKeyHint(hint?: string | null) {
  if (!hint) return "—";
  return hint === "set" ? "••••••••" : `••••${hint.replace(/^[^A-Za-z0-9]+/, "")}`;
}

export function formatNumber(value?: number | null) {
  return new Intl.NumberFormat().format(value ?? 0);
}

export function formatBytes(size?: number | null) {
  const value = size ?? 0;
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  if (value < 1024 ** 3) return `${(value / 1024 / 1024).toFixed(1)} MB`;
  return `${(value / 1024 ** 3).toFixed(1)} GB`;
}
