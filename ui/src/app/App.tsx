import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { ApiError } from "../lib/api";
import { LoginPage } from "../pages/LoginPage";
import { AppShell } from "./AppShell";
import { RequireAdmin, RequireAuth } from "./RequireAuth";

// Route pages load on demand; the docked panel is in the shell because it shows on every page.
const ActivityConsolePage = lazy(() => import("../features/activity-console/ActivityConsolePage"));
const TracePage = lazy(() =>
  import("../features/activity-console/TracePage").then((m) => ({ default: m.TracePage })),
);
const EntryPage = lazy(() =>
  import("../features/activity-console/EntryPage").then((m) => ({ default: m.EntryPage })),
);
const SettingsPage = lazy(() => import("../features/settings/SettingsPage").then((m) => ({ default: m.SettingsPage })));
const PeoplePage = lazy(() => import("../features/admin/PeoplePage").then((m) => ({ default: m.PeoplePage })));

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        // Client errors (bad filter, forbidden, not found) will not fix themselves on retry.
        retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
      },
    },
  });
}

export function AppRoutes() {
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
