import { useQuery } from "@tanstack/react-query";
import { apiJson } from "../../../lib/api";
import type { components, paths } from "../../../api/schema";

export type LogKeys = components["schemas"]["LogKeys"];
export type Facets = components["schemas"]["Facets"];
export type FacetsQuery = NonNullable<paths["/api/v1/activity-logs/facets"]["get"]["parameters"]["query"]>;

/** The key catalogue as the query names keys: record attributes bare, resource ones with `resource.`. */
export function useKeyCatalogue(enabled = true) {
  return useQuery({
    queryKey: ["activity-logs", "keys"],
    queryFn: ({ signal }) => apiJson<LogKeys>("/activity-logs/keys", { signal }),
    select: (d) => d.data.map((k) => (k.scope === "resource" ? `resource.${k.key}` : k.key)),
    staleTime: 60_000,
    enabled,
  });
}

/** Top values of facets for a query and range. */
export function useFacets(params: FacetsQuery, enabled = true) {
  return useQuery({
    queryKey: ["activity-logs", "facets", params],
    queryFn: ({ signal }) => apiJson<Facets>("/activity-logs/facets", { params, signal }),
    staleTime: 15_000,
    enabled,
  });
}
