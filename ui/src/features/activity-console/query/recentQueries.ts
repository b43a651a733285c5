import { rememberQuery } from "./completions";

const storageKey = (userId: number | string | undefined) => `activity-console.recent-queries.${userId ?? "anonymous"}`;

/** The user's last queries, newest first (localStorage, per user; nothing when storage is unavailable). */
export function loadRecentQueries(userId: number | string | undefined): string[] {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(storageKey(userId)) ?? "[]");
    return Array.isArray(raw) ? raw.filter((r): r is string => typeof r === "string").slice(0, 20) : [];
  } catch {
    return [];
  }
}

export function saveRecentQuery(userId: number | string | undefined, q: string): string[] {
  const next = rememberQuery(loadRecentQueries(userId), q);
  try {
    localStorage.setItem(storageKey(userId), JSON.stringify(next));
  } catch {
    // Private mode or full storage: the list lives for this page only.
  }
  return next;
}
