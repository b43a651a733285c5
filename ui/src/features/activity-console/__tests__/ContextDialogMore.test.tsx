import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { ContextDialog } from "../components/ContextDialog";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => makeEntry({ id: from + i, message: `entry ${from + i}` }));

describe("the context dialog's load earlier / load later", () => {
  beforeEach(() => resetStores());

  it("pages from the oldest entry loaded, keeps the anchor marked, and says where the log starts and ends", async () => {
    const user = userEvent.setup();
    const anchor = makeEntry({ id: 100, message: "the anchor" });
    const requests: string[] = [];
    mockFetch((url) => {
      requests.push(`${url.pathname}?${url.searchParams}`);
      if (url.pathname === "/api/v1/activity-logs/100/context")
        return { body: { data: [...range(75, 99), anchor, ...range(101, 103)], meta: { anchor_id: 100, before: 25, after: 3 } } };
      if (url.pathname === "/api/v1/activity-logs/75/context")
        return { body: { data: [...range(65, 74), makeEntry({ id: 75, message: "entry 75" })], meta: { anchor_id: 75, before: 10, after: 0 } } };
      return undefined;
    });
    renderWithProviders(<ContextDialog entry={anchor} onClose={() => undefined} />);
    const dialog = await screen.findByRole("dialog", { name: "Entries around #100" });
    await within(dialog).findByText("the anchor");
    // Three newer than asked for 25: nothing later exists.
    expect(within(dialog).getByText("End of log")).toBeInTheDocument();
    expect(within(dialog).queryByRole("button", { name: "Load later" })).not.toBeInTheDocument();
    expect(within(dialog).getAllByRole("listitem")).toHaveLength(29);

    await user.click(within(dialog).getByRole("button", { name: "Load earlier" }));
    await within(dialog).findByText("entry 65");
    expect(requests).toContain("/api/v1/activity-logs/75/context?before=25&after=0");
    const items = within(dialog).getAllByRole("listitem");
    expect(items).toHaveLength(39);
    expect(items[0]).toHaveTextContent("entry 65");
    expect(within(dialog).getAllByText("entry 75")).toHaveLength(1);
    const current = items.filter((li) => li.getAttribute("aria-current") === "true");
    expect(current).toHaveLength(1);
    expect(current[0]).toHaveTextContent("the anchor");
    expect(within(dialog).getByText("Start of log")).toBeInTheDocument();
  });

  it("says in words when a page fails, and keeps the button", async () => {
    const user = userEvent.setup();
    const anchor = makeEntry({ id: 10, message: "the anchor" });
    mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs/10/context")
        return { body: { data: [anchor, ...range(11, 35)], meta: { anchor_id: 10, before: 0, after: 25 } } };
      if (url.pathname === "/api/v1/activity-logs/35/context") return { status: 503, body: { error: { code: "unavailable", message: "database unreachable" } } };
      return undefined;
    });
    renderWithProviders(<ContextDialog entry={anchor} onClose={() => undefined} />);
    const dialog = await screen.findByRole("dialog", { name: "Entries around #10" });
    await within(dialog).findByText("the anchor");
    expect(within(dialog).getByText("Start of log")).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Load later" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent(/Could not load later entries: .*database unreachable/);
    expect(within(dialog).getByRole("button", { name: "Load later" })).toBeEnabled();
  });
});
