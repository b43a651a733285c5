import type { UseQueryResult } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { EntryCount } from "../EntryCount";

const result = (r: Partial<UseQueryResult<number>>) => ({ isPending: false, isError: false, data: undefined, error: null, ...r }) as UseQueryResult<number>;

describe("EntryCount", () => {
  it("says it is counting while the count is pending, and shows no figure", () => {
    render(<EntryCount count={result({ isPending: true })} counting="Counting the entries…">{(n) => `${n} entries`}</EntryCount>);
    expect(screen.getByText("Counting the entries…")).toBeTruthy();
    expect(screen.queryByText(/entries$/)).toBeNull();
  });

  it("says in words that the count failed, as an alert", () => {
    render(<EntryCount count={result({ isError: true, error: new Error("The server cannot be reached.") })} counting="Counting…">{(n) => `${n} entries`}</EntryCount>);
    expect(screen.getByRole("alert").textContent).toBe("Could not count the entries: The server cannot be reached.");
  });

  it("renders the count, zero included", () => {
    render(<EntryCount count={result({ data: 0 })} counting="Counting…">{(n) => `${n} entries`}</EntryCount>);
    expect(screen.getByText("0 entries")).toBeTruthy();
  });
});
