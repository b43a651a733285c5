import { create } from "zustand";
import { createJSONStorage, persist } from "zustand/middleware";
import type { components } from "../api/schema";

/** `POST /api/v1/auth/login`. */
export type LoginResult = components["schemas"]["LoginResult"];
/** `GET /api/v1/auth/me`. */
export type CurrentUser = components["schemas"]["CurrentUser"];
/** The signed-in user as the login and /auth/me responses carry it; only what the UI uses is kept. */
export type User = Pick<components["schemas"]["User"], "id" | "email" | "role">;
export type Role = User["role"];

interface AuthState {
  token: string | null;
  user: User | null;
  signIn: (token: string, user: User) => void;
  signOut: () => void;
}

// sessionStorage: the JWT lives for the browser tab's session only, not across restarts, so a
// closed tab or browser leaves no usable token behind.
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
