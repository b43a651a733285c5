import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { currentLocation, makeEntry, renderWithProviders, resetStores } from "../../../../test/utils";
import { ActivityConsolePanel } from "../../ActivityConsolePanel";
import { HistoryPane } from "../../HistoryPane";
import { mockFetch } from "../../../../test/utils";
import { useActivityConsoleStore as store } from "../../stores/activityConsoleStore";
import { EntryDetail } from "../EntryDetail";

const STACKTRACE = [
  "Traceback (most recent call last):",
  '  File "/srv/comfy/execution.py", line 151, in recursive_execute',
  "    output_data = get_output_data(obj, input_data_all)",
  '  File "/srv/comfy/nodes.py", line 1532, in sample',
  '    raise RuntimeError("CUDA error: an illegal memory access was encountered; compile with TORCH_USE_CUDA_DSA to enable device-side assertions")',
  "RuntimeError: CUDA error: an illegal memory access was encountered",
].join("\n");

const crash = () =>
  makeEntry({
    id: 501,
    level: "error",
    source: "comfyui",
    message: "Prompt 7f3a failed on node KSampler",
    category: "verbose",
    project_id: 7,
    entity_type: "job",
    entity_id: 42,
    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    span_id: "00f067aa0ba902b7",
    fields: {
      "exception.type": "RuntimeError",
      "exception.message": "CUDA error: an illegal memory access was encountered",
      "exception.stacktrace": STACKTRACE,
      node: "KSampler",
      attempt: 2,
      retried: false,
      gpu: { index: 0, devices: ["A100", null] },
    },
    resource: { "service.name": "comfyui-bridge", "host.name": "gpu-2" },
    scope_name: "sdk_shim.comfyui",
    scope_version: "1.4.0",
  });

describe("entry detail", () => {
  beforeEach(resetStores);
  afterEach(() => vi.unstubAllGlobals());

  it("shows the whole message, wrapped, and the exception as a stack trace with one frame a line", () => {
    renderWithProviders(<EntryDetail entry={crash()} />);
    expect(screen.getByRole("region", { name: "Message" })).toHaveTextContent("Prompt 7f3a failed on node KSampler");
    const exception = screen.getByRole("region", { name: "Exception" });
    expect(exception).toHaveTextContent("RuntimeError: CUDA error: an illegal memory access was encountered");
    const trace = within(exception).getByRole("region", { name: "Stack trace" });
    expect(trace.tagName).toBe("PRE");
    expect(trace.textContent).toBe(STACKTRACE);
    expect([...trace.querySelectorAll(".stack-frame")].map((f) => f.textContent)).toEqual([
      '  File "/srv/comfy/execution.py", line 151, in recursive_execute',
      '  File "/srv/comfy/nodes.py", line 1532, in sample',
    ]);
    expect(trace.querySelectorAll(".stack-code")).toHaveLength(2);
  });

  it("shows a traceback inside the message as code, keeping the message whole", () => {
    const message = `job 4119 failed\n${STACKTRACE}`;
    renderWithProviders(<EntryDetail entry={makeEntry({ message })} />);
    const region = screen.getByRole("region", { name: "Message" });
    expect(region.textContent).toBe(message);
    const trace = within(region).getByRole("region", { name: "Stack trace in the message" });
    expect(trace.textContent).toBe(STACKTRACE);
    expect(screen.queryByRole("region", { name: "Exception" })).not.toBeInTheDocument();
  });

  it("lists fields, resource and scope as typed key/value tables with nested values expanded", () => {
    renderWithProviders(<EntryDetail entry={crash()} />);
    const fields = screen.getByRole("table", { name: "Fields" });
    const row = (key: string) => {
      const matches = within(fields).getAllByRole("rowheader", { name: key });
      return matches[0]!.closest("tr")!;
    };
    const cells = (key: string) => [...row(key).querySelectorAll("td")].slice(0, 2).map((c) => c.textContent);
    expect(cells("attempt")).toEqual(["2", "number"]);
    expect(cells("retried")).toEqual(["false", "boolean"]);
    expect(cells("gpu")).toEqual(["{2 keys}", "object"]);
    expect(cells("devices")).toEqual(["[2 items]", "array"]);
    expect(cells("[1]")).toEqual(["null", "null"]);
    // Nested rows are indented by their depth.
    expect(row("gpu").querySelector("th")!.style.paddingLeft).toBe("");
    expect(row("index").querySelector("th")!.style.paddingLeft).toBe("2ch");
    expect(row("[0]").querySelector("th")!.style.paddingLeft).toBe("4ch");
    // The multi-line stack trace is one value, shown with its line breaks.
    expect(row("exception.stacktrace").querySelector(".kv-value")!.textContent).toBe(STACKTRACE);

    const resource = screen.getByRole("table", { name: "Resource attributes" });
    expect(within(resource).getByRole("rowheader", { name: "host.name" }).nextElementSibling).toHaveTextContent("gpu-2");
    const scope = screen.getByRole("table", { name: "Scope" });
    expect(scope).toHaveTextContent("sdk_shim.comfyui");
    expect(scope).toHaveTextContent("1.4.0");
  });

  it("links the trace id to the trace view", async () => {
    const user = userEvent.setup();
    renderWithProviders(<EntryDetail entry={crash()} />);
    await user.click(screen.getByRole("link", { name: "Open trace 4bf92f3577b34da6a3ce929d0e0e4736" }));
    expect(currentLocation()).toBe("/tools/activity-console/traces/4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("has a permalink that opens the entry's page in a new tab", () => {
    renderWithProviders(<EntryDetail entry={crash()} />);
    const link = screen.getByRole("link", { name: "Open in new tab: entry 501" });
    expect(link).toHaveAttribute("href", "/tools/activity-console/entries/501");
    expect(link).toHaveAttribute("target", "_blank");
  });

  it("copies the entry as JSON, the message and one value, and says so", async () => {
    const user = userEvent.setup();
    const entry = crash();
    renderWithProviders(<EntryDetail entry={entry} />);
    await user.click(screen.getByRole("button", { name: "Copy entry (JSON)" }));
    expect(JSON.parse(await navigator.clipboard.readText())).toEqual(entry);
    expect(screen.getByRole("button", { name: "Copy entry (JSON)" })).toHaveTextContent("Copied");

    await user.click(screen.getByRole("button", { name: "Copy message" }));
    expect(await navigator.clipboard.readText()).toBe(entry.message);

    await user.click(screen.getByRole("button", { name: "Copy value of gpu.devices" }));
    expect(JSON.parse(await navigator.clipboard.readText())).toEqual(["A100", null]);
    await user.click(screen.getByRole("button", { name: "Copy value of exception.stacktrace" }));
    expect(await navigator.clipboard.readText()).toBe(STACKTRACE);
    expect(screen.getAllByRole("status").some((s) => s.textContent === "Copied")).toBe(true);
  });

  it("falls back to a hidden textarea when the Clipboard API refuses", async () => {
    const user = userEvent.setup();
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText: vi.fn(() => Promise.reject(new Error("denied"))) } });
    let copied: string | null = null;
    const execCommand = vi.fn((command: string) => {
      copied = command === "copy" ? (document.activeElement as HTMLTextAreaElement).value : null;
      return true;
    });
    Object.defineProperty(document, "execCommand", { configurable: true, value: execCommand });
    renderWithProviders(<EntryDetail entry={crash()} />);
    await user.click(screen.getByRole("button", { name: "Copy message" }));
    expect(execCommand).toHaveBeenCalledWith("copy");
    expect(copied).toBe("Prompt 7f3a failed on node KSampler");
    expect(screen.getByRole("button", { name: "Copy message" })).toHaveTextContent("Copied");
    expect(document.querySelector("textarea")).toBeNull();

    execCommand.mockReturnValue(false);
    await user.click(screen.getByRole("button", { name: "Copy entry (JSON)" }));
    expect(screen.getByRole("button", { name: "Copy entry (JSON)" })).toHaveTextContent("Copy failed");
    Reflect.deleteProperty(document, "execCommand");
  });

  it("shows no filter actions without a target to act on", () => {
    renderWithProviders(<EntryDetail entry={crash()} />);
    expect(screen.queryByRole("button", { name: /^Filter (for|out)/ })).not.toBeInTheDocument();
  });
});

describe("filter for / filter out in the live panel", () => {
  beforeEach(resetStores);

  async function expandCrash() {
    const user = userEvent.setup();
    renderWithProviders(<ActivityConsolePanel />);
    act(() => {
      store.getState().setMode("verbose");
      store.getState().appendEntries([crash(), makeEntry({ id: 502, source: "worker", level: "info", message: "worker idle" })]);
    });
    await user.click(screen.getByRole("button", { name: /Prompt 7f3a failed/ }));
    return user;
  }

  it("'filter for' a source keeps only that source: other sources' rows go", async () => {
    const user = await expandCrash();
    expect(screen.getByRole("button", { name: /worker idle/ })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Filter for source comfyui" }));
    expect([...store.getState().sources]).toEqual(["comfyui"]);
    expect(screen.queryByRole("button", { name: /worker idle/ })).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Prompt 7f3a failed/ })).toBeInTheDocument();
  });

  it("'filter out' a level removes it from the level filter", async () => {
    const user = await expandCrash();
    await user.click(screen.getByRole("button", { name: "Filter out level error" }));
    expect([...store.getState().levels]).toEqual(["debug", "info", "warn"]);
    expect(screen.queryByRole("button", { name: /Prompt 7f3a failed/ })).not.toBeInTheDocument();
  });

  it("sets the entity scope and query terms, and offers only what the live filters can do", async () => {
    const user = await expandCrash();
    expect(screen.queryByRole("button", { name: /Filter out entity/ })).not.toBeInTheDocument();
    // The live tail has no trace or project filter: not offered, rather than faked.
    expect(screen.queryByRole("button", { name: /Filter for trace_id/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Filter for project_id/ })).not.toBeInTheDocument();
    // The category "verbose": Debug mode is every category, so only "filter out" (Activity) exists.
    expect(screen.queryByRole("button", { name: "Filter for category verbose" })).not.toBeInTheDocument();
    // An attribute value is a term of the live query, as in history.
    await user.click(screen.getByRole("button", { name: "Filter for attempt 2" }));
    expect(store.getState().queryText).toBe("attempt:2");
    await user.click(screen.getByRole("button", { name: "Filter for node KSampler" }));
    expect(store.getState().queryText).toBe("attempt:2 node:KSampler");
    await user.click(screen.getByRole("button", { name: "Filter for entity job #42" }));
    expect(store.getState().entityFilter).toEqual({ type: "job", id: 42 });
    await user.click(screen.getByRole("button", { name: "Filter out category verbose" }));
    expect(store.getState().mode).toBe("curated");
  });
});

describe("filter for in history", () => {
  beforeEach(resetStores);

  it("sets the URL's project and trace filters", async () => {
    const user = userEvent.setup();
    mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs") {
        return { body: { data: [crash()], meta: { page: 1, per_page: 25, total: 1, total_exact: true } } };
      }
      if (url.pathname === "/api/v1/activity-logs/histogram") return { body: { data: [], meta: { buckets: 60 } } };
      return undefined;
    });
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?page=2" });
    await user.click(await screen.findByRole("button", { name: "Details of entry 501" }));
    await user.click(screen.getByRole("button", { name: "Filter for project_id 7" }));
    expect(currentLocation()).toBe("/tools/activity-console?project_id=7");
    expect(screen.getByRole("button", { name: "Clear project filter" })).toBeInTheDocument();
    // The row stays open across the new query.
    await user.click(await screen.findByRole("button", { name: "Filter for trace_id 4bf92f3577b34da6a3ce929d0e0e4736" }));
    expect(currentLocation()).toBe("/tools/activity-console?trace_id=4bf92f3577b34da6a3ce929d0e0e4736&project_id=7");
  });
});
