// Dark mode: the system's preference by default, or the person's choice (kept in
// localStorage). styles.css holds both palettes; this sets <html data-theme>.
import { useState } from "react";

export type Theme = "system" | "light" | "dark";
const KEY = "theme";

export function storedTheme(): Theme {
  const value = localStorage.getItem(KEY);
  return value === "light" || value === "dark" ? value : "system";
}

export function applyTheme(theme: Theme): void {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
}

const NEXT: Record<Theme, Theme> = { system: "dark", dark: "light", light: "system" };
const LABEL: Record<Theme, string> = { system: "Theme: system", dark: "Theme: dark", light: "Theme: light" };

export function ThemeToggle({ className = "btn btn-ghost btn-sm btn-block" }: { className?: string }) {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  return (
    <button
      type="button"
      className={className}
      data-testid="theme-toggle"
      title="Switch between the system's theme, dark and light"
      onClick={() => {
        const next = NEXT[theme];
        if (next === "system") localStorage.removeItem(KEY);
        else localStorage.setItem(KEY, next);
        applyTheme(next);
        setTheme(next);
      }}
    >
      {LABEL[theme]}
    </button>
  );
}
