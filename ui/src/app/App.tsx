import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, useEffect } from "react";
import type { ComponentType } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { ApiError } from "../lib/api";
import { LoginPage } from "../pages/LoginPage";
import { AppShell } from "./AppShell";
import { RequireAdmin, RequireAuth } from "./RequireAuth";

/** A failed page chunk is imported again on a render at least this long after the failure. */
export const ROUTE_RETRY_AFTER_MS = 1_000;

/**
 * A page loaded on demand. `React.lazy` keeps a failed import for good, so a chunk that failed while
 * the server was down would fail on every later visit: a render after the failure starts a new
 * import. Not a render right after it: React renders a failed tree once more before it shows the
 * error boundary, and a new import there would start a loop of imports while the server is down.
 * `preload()` fetches the chunk ahead of the first visit.
 */
export function lazyRoute(load: () => Promise<{ default: ComponentType }>) {
  let failedAt: number | null = null;
  const attempt = () =>
    load().catch((error: unknown) => {
      failedAt = Date.now();
      throw error;
    });
  let Page = lazy(attempt);
  function LazyRoute() {
    if (failedAt != null && Date.now() - failedAt >= ROUTE_RETRY_AFTER_MS) {
      failedAt = null;
      Page = lazy(attempt);
    }
    return <Page />;
  }
  LazyRoute.preload = () => load().then(() => undefined);
  return LazyRoute;
}

// Route pages load on demand; the docked panel is in the shell because it shows on every page.
const ActivityConsolePage = lazyRoute(() => import("../features/activity-console/ActivityConsolePage"));
const TracePage = lazyRoute(() =>
  import("../features/activity-console/TracePage").then((m) => ({ default: m.TracePage })),
);
const EntryPage = lazyRoute(() =>
  import("../features/activity-console/EntryPage").then((m) => ({ default: m.EntryPage })),
);
const SettingsPage = lazyRoute(() =>
  import("../features/settings/SettingsPage").then((m) => ({ default: m.SettingsPage })),
);
const PeoplePage = lazyRoute(() => import("../features/admin/PeoplePage").then((m) => ({ default: m.PeoplePage })));

/** Fetches every route's chunk once the shell is up, so that an outage later does not stop navigation. */
export function preloadRoutes(): Promise<void> {
  return Promise.all([
    ActivityConsolePage.preload(), TracePage.preload(), EntryPage.preload(), SettingsPage.preload(), PeoplePage.preload(),
  ]).then(() => undefined);
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        // Client errors (bad filter, forbidden, not found) will not fix themselves on retry; an
        // unreachable server (status 0) is refetched when it answers again (app/useServerRecovery.ts).
        retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
      },
    },
  });
}

/** How long after start the route chunks are fetched: after the first page has what it needs. */
const PRELOAD_DELAY_MS = 1_000;

export function AppRoutes() {
  useEffect(() => {
    const timer = setTimeout(() => {
      // A chunk that fails here is fetched again on its first visit, where a failure is shown.
      preloadRoutes().catch(() => undefined);
    }, PRELOAD_DELAY_MS);
    return () => clearTimeout(timer);
  }, []);
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <AppShell />
          </RequireAuth>
        }
      >
        <Route index element={<Navigate to="/tools/activity-console" replace />} />
        <Route path="/tools/activity-console" element={<ActivityConsolePage />} />
        <Route path="/tools/activity-console/traces/:traceId" element={<TracePage />} />
        <Route path="/tools/activity-console/entries/:entryId" element={<EntryPage />} />
        <Route
          path="/settings"
          element={
            <RequireAdmin>
              <SettingsPage />
            </RequireAdmin>
          }
        />
        <Route
          path="/admin/people"
          element={
            <RequireAdmin>
              <PeoplePage />
            </RequireAdmin>
          }
        />
        <Route
          path="*"
          element={
            <div className="page">
              <h1>Not found</h1>
            </div>
          }
        />
      </Route>
    </Routes>
  );
}

const queryClient = createQueryClient();

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </QueryClientProvider>
  );
}
