"""The formats a knowledge base accepts: content types, extensions and how to name them."""

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"
CSV = "text/csv"
JSON = "application/json"

SUPPORTED_CONTENT_TYPES: frozenset[str] = frozenset({PDF, DOCX, HTML, MARKDOWN, PLAIN, CSV, JSON})
TEXT_CONTENT_TYPES: frozenset[str] = frozenset({HTML, MARKDOWN, PLAIN, CSV, JSON})

EXTENSION_TYPES: dict[str, str] = {
    "pdf": PDF,
    "docx": DOCX,
    "html": HTML,
    "htm": HTML,
    "md": MARKDOWN,
    "markdown": MARKDOWN,
    "txt": PLAIN,
    "text": PLAIN,
    "csv": CSV,
    "json": JSON,
}

LABELS: dict[str, str] = {
    PDF: "a PDF document",
    DOCX: "a Word document (.docx)",
    HTML: "an HTML page",
    MARKDOWN: "a Markdown file",
    PLAIN: "plain text",
    CSV: "a CSV file",
    JSON: "a JSON file",
}

SUPPORTED_FORMATS_TEXT = (
    "Supported formats: PDF, Word (.docx), HTML, Markdown, plain text, CSV and JSON."
)
