import { LogOut, Moon, PanelBottom, Sun, Terminal } from "lucide-react";
import { useQuery } from "@tanstack/react-query";
import { Suspense, useEffect } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useActivityLogStream } from "../features/activity-console/hooks/useActivityLogStream";
import { useActivityConsoleStore } from "../features/activity-console/stores/activityConsoleStore";
import { apiJson } from "../lib/api";
import { useAuthStore } from "../lib/authStore";
import type { CurrentUser } from "../lib/authStore";
import { applyTheme, useThemeStore } from "../lib/theme";
import { ConnectionBanner } from "./ConnectionBanner";
import { DockedConsole } from "./DockedConsole";
import { RouteErrorBoundary } from "./RouteErrorBoundary";
import { useServerRecovery } from "./useServerRecovery";
import { NAVIGATION } from "./navigation";

const CONSOLE_PATH = "/tools/activity-console";

/** Sidebar, top bar and the docked console around every signed-in page. */
export function AppShell() {
  const user = useAuthStore((s) => s.user);
  const signOut = useAuthStore((s) => s.signOut);
  const theme = useThemeStore((s) => s.theme);
  const toggleTheme = useThemeStore((s) => s.toggleTheme);
  const isOpen = useActivityConsoleStore((s) => s.isOpen);
  const position = useActivityConsoleStore((s) => s.panelPosition);
  const togglePanel = useActivityConsoleStore((s) => s.togglePanel);
  const location = useLocation();
  // The full page (not its trace sub-pages) has the panel built in; a second copy docked below would duplicate it.
  const onConsolePage = location.pathname === CONSOLE_PATH || location.pathname === `${CONSOLE_PATH}/`;
  const showDock = isOpen && !onConsolePage;

  useEffect(() => applyTheme(theme), [theme]);
  // Re-check the stored session on load: a 401 signs out (apiFetch), a changed role updates the menu.
  const me = useQuery({
    queryKey: ["auth", "me"],
    queryFn: ({ signal }) => apiJson<CurrentUser>("/auth/me", { signal }),
    staleTime: 5 * 60_000,
  });
  useEffect(() => {
    const fresh = me.data?.user;
    const { token, user: current, signIn } = useAuthStore.getState();
    if (fresh && token && (fresh.role !== current?.role || fresh.email !== current?.email)) {
      signIn(token, { id: fresh.id, email: fresh.email, role: fresh.role });
    }
  }, [me.data]);
  // One live connection for the app, open while some console is on screen.
  useActivityLogStream({ enabled: isOpen || onConsolePage });
  useServerRecovery();

  return (
    <div className="app-shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <Terminal size={18} aria-hidden />
          <span>Activity Console</span>
        </div>
        {NAVIGATION.map((group) => {
          const items = group.items.filter((i) => !i.roles || (user && i.roles.includes(user.role)));
          if (!items.length) return null;
          return (
            <div className="nav-group" key={group.label}>
              <h2 className="nav-group-label">{group.label}</h2>
              <ul>
                {items.map((item) => (
                  <li key={item.path}>
                    <NavLink to={item.path} className="nav-link" end={item.path === CONSOLE_PATH ? false : undefined}>
                      <item.icon size={16} aria-hidden />
                      <span>{item.label}</span>
                    </NavLink>
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
        <div className="sidebar-footer">
          <div className="user-chip" title={user?.email}>
            <span className="user-email">{user?.email}</span>
            <span className="user-role">{user?.role}</span>
          </div>
          <button type="button" className="btn btn-small btn-ghost" onClick={signOut}>
            <LogOut size={14} aria-hidden /> Sign out
          </button>
        </div>
      </nav>
      <div className={`main-column dock-host-${position}`}>
        <header className="topbar">
          <span className="spacer" />
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={toggleTheme}
            aria-label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"}
          >
            {theme === "dark" ? <Sun size={14} aria-hidden /> : <Moon size={14} aria-hidden />}
            {theme === "dark" ? "Light" : "Dark"}
          </button>
          <button
            type="button"
            className="btn btn-small"
            aria-pressed={isOpen}
            onClick={togglePanel}
            disabled={onConsolePage}
            title={onConsolePage ? "The console is part of this page" : "Show or hide the docked console"}
          >
            <PanelBottom size={14} aria-hidden /> Console
          </button>
        </header>
        <ConnectionBanner />
        <div className={`workspace workspace-${position}`}>
          <main className="content" id="main">
            <RouteErrorBoundary resetKey={location.pathname}>
              <Suspense fallback={<p className="muted page">Loading…</p>}>
                <Outlet />
              </Suspense>
            </RouteErrorBoundary>
          </main>
          {showDock && <DockedConsole />}
        </div>
      </div>
    </div>
  );
}
