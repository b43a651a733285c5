import { create } from "zustand";
import { persist } from "zustand/middleware";

type Theme = "dark" | "light";

interface ThemeState {
  theme: Theme;
  toggleTheme: () => void;
}

export const useThemeStore = create<ThemeState>()(
  persist(
    (set) => ({
      theme: "dark",
      toggleTheme: () => set((s) => ({ theme: s.theme === "dark" ? "light" : "dark" })),
    }),
    { name: "activity-console:theme" },
  ),
);

/** The theme is a `data-theme` attribute on <html>; tokens.css switches the --color-* variables on it. */
export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
}
