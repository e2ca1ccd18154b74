// The organization dashboard's frame: navigation, organization switcher, account.
import { ThemeToggle } from "../ui/theme";
import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation, useNavigate } from "react-router-dom";
import { logout } from "../api/allauth";
import { usePermissions, useMe, useSession } from "../session";
import { Icon } from "./icons";
import { KeyboardShortcuts } from "./Shortcuts";

interface Item {
  to: string;
  label: string;
  icon: string;
  admin?: boolean;
}

const SECTIONS: { title: string; items: Item[] }[] = [
  {
    title: "Workspace",
    items: [
      { to: "/", label: "Home", icon: "home" },
      { to: "/chat", label: "Chat", icon: "chat" },
      { to: "/assistants", label: "Assistants", icon: "bot" },
      { to: "/knowledge", label: "Knowledge", icon: "book" },
      { to: "/search", label: "Search playground", icon: "search" },
      { to: "/history", label: "History", icon: "search" },
      { to: "/import", label: "Import", icon: "book" },
      { to: "/prompts", label: "Prompt templates", icon: "list" },
      { to: "/workflows", label: "Workflows", icon: "list" },
    ],
  },
  {
    title: "Organization",
    items: [
      { to: "/members", label: "Members", icon: "users" },
      { to: "/api-keys", label: "API keys", icon: "key", admin: true },
      { to: "/integrations", label: "Integrations", icon: "plug" },
      { to: "/widgets", label: "Website widget", icon: "chat", admin: true },
      { to: "/webhooks", label: "Webhooks", icon: "plug", admin: true },
      { to: "/credentials", label: "Provider credentials", icon: "plug", admin: true },
      { to: "/audit", label: "Audit log", icon: "list", admin: true },
      { to: "/feedback", label: "Answer feedback", icon: "list", admin: true },
      { to: "/billing", label: "Billing", icon: "list" },
      { to: "/security", label: "Security", icon: "shield" },
    ],
  },
];

export function OrganizationSwitcher() {
  const me = useMe();
  if (me.organizations.length < 2) return null;
  return (
    <div className="org-switcher field">
      <label htmlFor="org-switcher" className="sr-only">
        Organization
      </label>
      <select
        id="org-switcher"
        className="select"
        data-testid="org-switcher"
        value={me.organization.slug}
        onChange={(event) => {
          // A server-side redirect through a hand-off link (sessions are per host).
          window.location.assign(`/switch/${event.target.value}/`);
        }}
      >
        {me.organizations.map((organization) => (
          <option key={organization.slug} value={organization.slug}>
            {organization.name} ({organization.role})
          </option>
        ))}
      </select>
    </div>
  );
}

export function AppLayout({ fullWidth = false }: { fullWidth?: boolean }) {
  const me = useMe();
  const { isAdmin } = usePermissions();
  const { clear } = useSession();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  const navigate = useNavigate();
  useEffect(() => setOpen(false), [location.pathname]);
  // The phone's drawer: opening it moves the focus into it, Escape closes it and gives
  // the focus back to the menu button.
  const menuButton = useRef<HTMLButtonElement>(null);
  const sidebar = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!open) return;
    sidebar.current?.querySelector<HTMLElement>("nav a")?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape") return;
      setOpen(false);
      menuButton.current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);

  const signOut = async () => {
    await logout().catch(() => undefined);
    clear();
    navigate("/login", { replace: true });
  };

  return (
    <div className={`app ${open ? "nav-open" : ""}`}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Sidebar" ref={sidebar}>
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            AP
          </span>
          <span data-testid="organization-name">{me.organization.name}</span>
        </div>
        <OrganizationSwitcher />
        <nav className="nav" aria-label="Main">
          {SECTIONS.map((section) => (
            <div key={section.title}>
              <div className="nav-section">{section.title}</div>
              {section.items
                .filter((item) => !item.admin || isAdmin)
                .map((item) => (
                  <NavLink key={item.to} to={item.to} end={item.to === "/"}>
                    <Icon name={item.icon} />
                    {item.label}
                  </NavLink>
                ))}
            </div>
          ))}
        </nav>
        <div className="sidebar-footer">
          <div className="user-line">
            <span className="email" data-testid="user-email" title={me.user.email}>
              {me.user.email}
            </span>
            <span className="badge" data-testid="user-role">
              {me.role}
            </span>
          </div>
          <ThemeToggle />
          <button type="button" className="btn btn-ghost btn-sm btn-block" onClick={signOut}>
            Log out
          </button>
        </div>
      </aside>
      <div className="backdrop" onClick={() => setOpen(false)} aria-hidden="true" />
      <div className="main">
        <div className="topbar">
          <button
            ref={menuButton}
            type="button"
            className="btn btn-ghost btn-icon"
            aria-label="Open navigation"
            aria-expanded={open}
            onClick={() => setOpen(!open)}
          >
            <Icon name="menu" />
          </button>
          <strong>{me.organization.name}</strong>
        </div>
        <main id="main" className={fullWidth ? "content-full" : "content"} tabIndex={-1}>
          <Outlet />
        </main>
        <KeyboardShortcuts />
      </div>
    </div>
  );
}
