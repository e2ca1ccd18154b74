// Answers rendered as Markdown (GFM: tables, lists, strikethrough), code blocks
// highlighted with a copy button, citation markers "[n]" as chips that open the source.
// Raw HTML is never rendered: react-markdown's skipHtml drops it and rehype-sanitize
// strips anything outside GitHub's safe schema before highlighting adds its classes.
import { type ReactNode, useRef, useState } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeSanitize from "rehype-sanitize";
import remarkGfm from "remark-gfm";

const CITE = /\[(\d+)\]/g;
const HAS_CITE = /\[\d+\]/;
const CITE_PREFIX = "#cite-";

interface MdNode {
  type: string;
  value?: string;
  url?: string;
  children?: MdNode[];
}

/** A remark plugin: "[n]" in prose (never in code) becomes a link to "#cite-n". */
function remarkCitations() {
  const walk = (node: MdNode) => {
    if (!node.children || node.type === "link" || node.type === "linkReference") return;
    const next: MdNode[] = [];
    for (const child of node.children) {
      if (child.type !== "text" || !child.value || !HAS_CITE.test(child.value)) {
        walk(child);
        next.push(child);
        continue;
      }
      let last = 0;
      for (const match of child.value.matchAll(CITE)) {
        const at = match.index ?? 0;
        if (at > last) next.push({ type: "text", value: child.value.slice(last, at) });
        next.push({ type: "link", url: `${CITE_PREFIX}${match[1]}`, children: [{ type: "text", value: match[1] }] });
        last = at + match[0].length;
      }
      if (last < child.value.length) next.push({ type: "text", value: child.value.slice(last) });
    }
    node.children = next;
  };
  return (tree: MdNode) => walk(tree);
}

/** Copies text to the clipboard; falls back to a hidden textarea where the API is missing. */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      /* not allowed here: fall back */
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

export function CopyButton({
  text,
  label = "Copy",
  className = "btn btn-ghost btn-sm",
}: {
  text: () => string;
  label?: string;
  className?: string;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className={className}
      aria-label={label}
      onClick={() => {
        void copyText(text()).then(() => {
          setCopied(true);
          window.setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? "Copied" : label}
    </button>
  );
}

function CodeBlock({ children, language }: { children: ReactNode; language: string }) {
  const ref = useRef<HTMLPreElement>(null);
  return (
    <div className="md-code" data-testid="code-block">
      <div className="md-code-head">
        <span className="md-code-lang">{language || "code"}</span>
        <CopyButton
          label="Copy code"
          className="btn btn-ghost btn-sm md-code-copy"
          text={() => (ref.current?.textContent ?? "").replace(/\n$/, "")}
        />
      </div>
      <pre ref={ref}>{children}</pre>
    </div>
  );
}

export interface Citation {
  index: number;
  label: string;
}

export function Markdown({ text, citations, onCite }: { text: string; citations?: Citation[]; onCite?: (index: number) => void }) {
  const components: Components = {
    a: ({ href, children }) => {
      if (href?.startsWith(CITE_PREFIX)) {
        const index = Number(href.slice(CITE_PREFIX.length));
        const citation = citations?.find((item) => item.index === index);
        // A number in brackets that names no source of this answer stays text.
        if (!citation || !onCite) return <>[{index}]</>;
        return (
          <button type="button" className="citation" data-testid="citation" aria-label={citation.label} onClick={() => onCite(index)}>
            {index}
          </button>
        );
      }
      return (
        <a href={href} target="_blank" rel="noopener noreferrer nofollow">
          {children}
        </a>
      );
    },
    pre: ({ children, node }) => {
      const code = node?.children?.[0];
      const classes = code && code.type === "element" ? ((code.properties?.className as string[] | undefined) ?? []) : [];
      const language = classes.find((name) => String(name).startsWith("language-"))?.slice(9) ?? "";
      return <CodeBlock language={language}>{children}</CodeBlock>;
    },
    table: ({ children }) => (
      <div className="md-table">
        <table>{children}</table>
      </div>
    ),
  };
  return (
    <div className="markdown" data-testid="markdown">
      <ReactMarkdown
        skipHtml
        remarkPlugins={[remarkGfm, remarkCitations]}
        rehypePlugins={[rehypeSanitize, [rehypeHighlight, { detect: false }]]}
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
}

/** Inline Markdown of a search snippet: **bold**, *italic*, `code`, links as their text,
 * heading marks dropped, with the search engine's <mark> highlights kept (no other HTML). */
export function InlineMarkdown({ text }: { text: string }) {
  const tokens = text
    .replace(/^\s{0,3}#{1,6}\s+/gm, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .split(/(<\/?mark>|\*\*|__|`)/g);
  const state = { mark: false, strong: false, code: false };
  const out: ReactNode[] = [];
  tokens.forEach((token, index) => {
    if (token === "<mark>") state.mark = true;
    else if (token === "</mark>") state.mark = false;
    else if (token === "`") state.code = !state.code;
    else if ((token === "**" || token === "__") && !state.code) state.strong = !state.strong;
    else if (token) {
      let node: ReactNode = token;
      if (state.code) node = <code>{node}</code>;
      if (state.strong) node = <strong>{node}</strong>;
      if (state.mark) node = <mark>{node}</mark>;
      out.push(<span key={index}>{node}</span>);
    }
  });
  return <>{out}</>;
}
