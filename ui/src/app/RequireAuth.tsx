import { Navigate, useLocation } from "react-router-dom";
import { isAdmin, useAuthStore } from "../lib/authStore";

export function RequireAuth({ children }: { children: React.ReactNode }) {
  const token = useAuthStore((s) => s.token);
  const location = useLocation();
  if (!token) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

/** Hides admin pages from creators (the API enforces it too: 403). */
export function RequireAdmin({ children }: { children: React.ReactNode }) {
  const user = useAuthStore((s) => s.user);
  if (!isAdmin(user)) {
    return (
      <div className="page">
        <h1>Not allowed</h1>
        <p className="muted">This page is for administrators.</p>
      </div>
    );
  }
  return <>{children}</>;
}
