import { useQuery } from "@tanstack/react-query";
import { apiJson } from "../lib/api";
import type { CurrentUser } from "../lib/authStore";

/** `GET /auth/me`, shared by the shell (role changes, sign-out) and the creator's scope note. */
export function useCurrentUser() {
  return useQuery({
    queryKey: ["auth", "me"],
    queryFn: ({ signal }) => apiJson<CurrentUser>("/auth/me", { signal }),
    staleTime: 5 * 60_000,
  });
}
