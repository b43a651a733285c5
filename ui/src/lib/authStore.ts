import { create } from "zustand";
import { createJSONStorage, persist } from "zustand/middleware";

export type Role = "admin" | "creator";

export interface User {
  id: number;
  email: string;
  role: Role;
}

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
