// Keyboard shortcuts of the dashboard, and the "?" dialog that lists them.
//
// The chat's controls are found by their test ids (the composer, the Stop button), so
// the chat page needs no code for them and a shortcut does exactly what the click does.
import { useEffect, useState } from "react";
import { useNavigate } from "react-router-dom";
import { Modal } from "../ui";

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
const MOD = isMac ? "⌘" : "Ctrl";

export const SHORTCUTS: { keys: string[]; what: string }[] = [
  { keys: [MOD, "Shift", "O"], what: "New chat" },
  { keys: ["/"], what: "Focus the message box" },
  { keys: ["Esc"], what: "Stop the answer being written" },
  { keys: ["?"], what: "Show these shortcuts" },
];

/** Typing in a field: single-key shortcuts ("/", "?") must type, not act. */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function composer(): HTMLTextAreaElement | null {
  return document.querySelector<HTMLTextAreaElement>('[data-testid="chat-input"]');
}

export function KeyboardShortcuts() {
  const navigate = useNavigate();
  const [helpOpen, setHelpOpen] = useState(false);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.isComposing) return;
      const key = event.key.toLowerCase();
      if ((event.metaKey || event.ctrlKey) && event.shiftKey && key === "o") {
        event.preventDefault();
        navigate("/chat");
        window.setTimeout(() => composer()?.focus(), 0);
        return;
      }
      if (event.key === "Escape") {
        // Stop streaming from anywhere (the composer included); dialogs close themselves.
        const stop = document.querySelector<HTMLButtonElement>('[data-testid="chat-stop"]');
        if (stop && !document.querySelector("dialog[open]")) {
          event.preventDefault();
          stop.click();
        }
        return;
      }
      if (typing(event.target) || event.metaKey || event.ctrlKey || event.altKey) return;
      if (event.key === "?") {
        event.preventDefault();
        setHelpOpen(true);
      } else if (event.key === "/") {
        const box = composer();
        event.preventDefault();
        if (box && !box.disabled) box.focus();
        else {
          navigate("/chat");
          window.setTimeout(() => composer()?.focus(), 0);
        }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [navigate]);

  return (
    <Modal open={helpOpen} title="Keyboard shortcuts" onClose={() => setHelpOpen(false)} testId="shortcuts-dialog">
      <dl className="shortcut-list">
        {SHORTCUTS.map((shortcut) => (
          <div key={shortcut.what} style={{ display: "contents" }}>
            <dt>
              {shortcut.keys.map((key) => (
                <kbd key={key}>{key}</kbd>
              ))}
            </dt>
            <dd>{shortcut.what}</dd>
          </div>
        ))}
      </dl>
    </Modal>
  );
}
