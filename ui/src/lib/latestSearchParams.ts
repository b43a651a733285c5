import { useCallback, useContext, useRef } from "react";
import { UNSAFE_NavigationContext, useSearchParams } from "react-router-dom";
import type { SetURLSearchParams } from "react-router-dom";

/**
 * `useSearchParams`, plus a reader of the URL's parameters as they are now. The router applies a
 * navigation to the browser's history at once but renders it as a transition, which may come
 * later (much later on a busy machine). A write based on the parameters of the last render would
 * meanwhile take back that navigation: a debounced write replacing the entry a query just pushed,
 * or a second click undoing the first. Writes read `latest()` instead.
 */
export function useLatestSearchParams(): [URLSearchParams, () => URLSearchParams, SetURLSearchParams] {
  const [searchParams, setSearchParams] = useSearchParams();
  const rendered = useRef(searchParams);
  rendered.current = searchParams;
  // The router's history (browser or memory) knows its current location; the Navigator type
  // does not declare it, so the rendered parameters stand in where it is missing.
  const { navigator } = useContext(UNSAFE_NavigationContext);
  const latest = useCallback(() => {
    const location = (navigator as { location?: { search?: string } }).location;
    return typeof location?.search === "string" ? new URLSearchParams(location.search) : new URLSearchParams(rendered.current);
  }, [navigator]);
  return [searchParams, latest, setSearchParams];
}
