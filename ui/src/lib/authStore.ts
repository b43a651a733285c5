import { create } from "zustand";
import { createJSONStorage, persist } from "zustand/middleware";
import type { components } from "../api/schema";

/**
 * The signed-in user as the login and /auth/me responses carry it; only what the UI uses is kept.
 * TODO(openapi): User (Required: the current document marks none of its properties required).
 */
export type User = Required<Pick<components["schemas"]["User"], "id" | "email" | "role">>;
export type Role = User["role"];

interface AuthState {
  token: string | null;
  user: User | null;
  signIn: (token: string, user: User) => void;
  signOut: () => void;
}

// sessionStorage: the JWT lives for the browser tab's session only (issue 4 item 2), not across restarts.
export const useAuthStore = create<AuthState>()(
  persist(
    (set) => ({
      token: null,
      user: null,
      signIn: (token, user) => set({ token, user }),
      signOut: () => set({ token: null, user: null }),
    }),
    {
      name: "activity-console:auth",
      storage: createJSONStorage(() => sessionStorage),
      partialize: (s) => ({ token: s.token, user: s.user }),
    },
  ),
);

export const isAdmin = (user: User | null) => user?.role === "admin";
