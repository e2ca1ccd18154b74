// @vitest-environment jsdom
// The Markdown renderer (ui/markdown.tsx): what a reader sees, and what must never run.
import { cleanup, fireEvent, render } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InlineMarkdown, Markdown } from "./markdown";

afterEach(cleanup);

describe("Markdown", () => {
  it("renders a fenced code block as a highlighted block whose button copies its text", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.assign(navigator, { clipboard: { writeText } });
    const view = render(<Markdown text={"Config:\n\n```yaml\nname: demo\nreplicas: 2\n```"} />);
    const block = view.getByTestId("code-block");
    expect(block.querySelector("pre")?.textContent).toBe("name: demo\nreplicas: 2\n");
    expect(block.querySelector(".hljs-attr")?.textContent).toBe("name:");
    fireEvent.click(view.getByRole("button", { name: "Copy code" }));
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith("name: demo\nreplicas: 2"));
  });

  it("renders GFM tables and never raw HTML", () => {
    const view = render(
      <Markdown text={"| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script><img src=x onerror=alert(1)> <b>bold</b>"} />,
    );
    expect(view.container.querySelectorAll("table td")).toHaveLength(2);
    expect(view.container.querySelector("script, img, b")).toBeNull();
  });

  it("turns [n] into a citation chip for a known source only, and never inside code", () => {
    const onCite = vi.fn();
    const view = render(
      <Markdown
        text={"Refunds take 5 days [1] and [7]. `items[1]`"}
        citations={[{ index: 1, label: "Source 1: Refunds" }]}
        onCite={onCite}
      />,
    );
    const chips = view.getAllByTestId("citation");
    expect(chips).toHaveLength(1);
    fireEvent.click(chips[0]);
    expect(onCite).toHaveBeenCalledWith(1);
    expect(view.container.textContent).toContain("[7]");
    expect(view.container.querySelector("code")?.textContent).toBe("items[1]");
  });

  it("opens links in a new tab without handing over the page", () => {
    const view = render(<Markdown text={"[docs](https://example.com) [bad](javascript:alert(1))"} />);
    const links = view.container.querySelectorAll("a");
    expect(links[0].getAttribute("rel")).toContain("noopener");
    expect(links[1]?.getAttribute("href") ?? "").not.toContain("javascript");
  });
});

describe("InlineMarkdown (snippets)", () => {
  it("shows bold and the engine's highlights, not their markup", () => {
    const view = render(<InlineMarkdown text={"## Refunds\n**Refunds** take <mark>five</mark> days, `code`"} />);
    expect(view.container.textContent).toBe("Refunds\nRefunds take five days, code");
    expect(view.container.querySelector("strong")?.textContent).toBe("Refunds");
    expect(view.container.querySelector("mark")?.textContent).toBe("five");
    expect(view.container.querySelector("code")?.textContent).toBe("code");
  });
});
