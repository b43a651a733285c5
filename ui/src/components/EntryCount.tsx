import type { UseQueryResult } from "@tanstack/react-query";
import { Loader2 } from "lucide-react";
import type { ReactNode } from "react";

/** A count the server is still working out, as confirmations show one: a spinner while it
 * counts, its failure in words (never a stale or zero figure), else what `children` makes of it. */
export function EntryCount<T>({ count, counting, children }: {
  count: UseQueryResult<T>;
  counting: string;
  children: (data: T) => ReactNode;
}) {
  if (count.isPending) {
    return (
      <span className="muted">
        <Loader2 size={12} className="spin" aria-hidden /> {counting}
      </span>
    );
  }
  if (count.isError) {
    return (
      <span className="form-error" role="alert">
        Could not count the entries: {(count.error as Error).message}
      </span>
    );
  }
  return count.data !== undefined ? <>{children(count.data)}</> : null;
}
