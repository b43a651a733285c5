import { LogOut, Moon, PanelBottom, PanelLeftClose, PanelLeftOpen, Sun, Terminal } from "lucide-react";
import { Suspense, useEffect } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useActivityLogStream } from "../features/activity-console/hooks/useActivityLogStream";
import { useActivityConsoleStore } from "../features/activity-console/stores/activityConsoleStore";
import { useAuthStore } from "../lib/authStore";
import { applyTheme, useThemeStore } from "../lib/theme";
import { ConnectionBanner } from "./ConnectionBanner";
import { DockedConsole } from "./DockedConsole";
import { RouteErrorBoundary } from "./RouteErrorBoundary";
import { useServerRecovery } from "./useServerRecovery";
import { useCurrentUser } from "./currentUser";
import { CONSOLE_PATH, hasPagesBesideConsole, navigationFor } from "./navigation";
import { ShortcutSheet } from "./ShortcutSheet";
import { useSidebarCollapsed } from "./sidebarLayout";
import { TimeZoneSelect } from "./TimeZoneSelect";

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
  // A creator has the console page alone: a dock would only ever sit under that page's own live pane.
  const dockUseful = hasPagesBesideConsole(user?.role);
  const showDock = isOpen && !onConsolePage && dockUseful;
  const [sidebarCollapsed, toggleSidebar] = useSidebarCollapsed();

  useEffect(() => applyTheme(theme), [theme]);
  // Re-check the stored session on load: a 401 signs out (apiFetch), a changed role updates the menu.
  const me = useCurrentUser();
  useEffect(() => {
    const fresh = me.data?.user;
    const { token, user: current, signIn } = useAuthStore.getState();
    if (fresh && token && (fresh.role !== current?.role || fresh.email !== current?.email)) {
      signIn(token, { id: fresh.id, email: fresh.email, role: fresh.role });
    }
  }, [me.data]);
  // One live connection for the app, open while some console is on screen.
  useActivityLogStream({ enabled: showDock || onConsolePage });
  useServerRecovery();

  return (
    <div className={`app-shell${sidebarCollapsed ? " sidebar-collapsed" : ""}`}>
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <Terminal size={18} aria-hidden />
          <span className="brand-name">Activity Console</span>
          <button
            type="button"
            className="icon-button sidebar-toggle"
            aria-expanded={!sidebarCollapsed}
            aria-label={sidebarCollapsed ? "Expand sidebar" : "Collapse sidebar"}
            title={sidebarCollapsed ? "Expand sidebar" : "Collapse sidebar"}
            onClick={toggleSidebar}
          >
            {sidebarCollapsed ? <PanelLeftOpen size={16} aria-hidden /> : <PanelLeftClose size={16} aria-hidden />}
          </button>
        </div>
        {navigationFor(user?.role).map(({ label, items }) => {
          return (
            <div className="nav-group" key={label}>
              <h2 className="nav-group-label">{label}</h2>
              <ul>
                {items.map((item) => (
                  <li key={item.path}>
                    <NavLink
                      to={item.path}
                      className="nav-link"
                      end={item.path === CONSOLE_PATH ? false : undefined}
                      title={sidebarCollapsed ? item.label : undefined}
                    >
                      <item.icon size={16} aria-hidden />
                      <span className="nav-label">{item.label}</span>
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
          <button type="button" className="btn btn-small btn-ghost" onClick={signOut} aria-label="Sign out" title="Sign out">
            <LogOut size={14} aria-hidden /> <span className="nav-label">Sign out</span>
          </button>
        </div>
      </nav>
      <div className={`main-column dock-host-${position}`}>
        <header className="topbar">
          <span className="spacer" />
          <TimeZoneSelect />
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={toggleTheme}
            aria-label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"}
          >
            {theme === "dark" ? <Sun size={14} aria-hidden /> : <Moon size={14} aria-hidden />}
            {theme === "dark" ? "Light" : "Dark"}
          </button>
          {dockUseful && (
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
          )}
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
        <ShortcutSheet />
      </div>
    </div>
  );
}
