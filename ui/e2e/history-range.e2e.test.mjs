// End-to-end test of the history pane's time range, histogram and refresh against the real server
// on a real PostgreSQL, in Debian's Chromium: a relative range kept in the URL with its preset
// highlighted, the histogram's axis and tooltip counting records sent through the OTel SDK, drag to
// zoom, the inline error for a "To" before "From", and a refresh that shows a later record.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, newContext, screenshotPath, sendLogs, startServer, uiLogin } from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page;

const TAG = `${RUN} range`;
const withFailureShot = failureShotsNamed("history-range-");

const history = () => page.getByRole("region", { name: "History" });
const table = () => history().getByRole("table", { name: "History results" });
const rowsOf = (text) => table().locator("tbody tr", { hasText: text });
const urlParams = () => new URL(page.url()).searchParams;
/** The histogram's bucket buttons (their names end "zoom to this interval"). */
const buckets = () => history().getByRole("button", { name: /zoom to this interval$/ });

/** Per-level counts of the buckets that hold entries, read from each one's tooltip on hover. */
async function countsFromTooltips() {
  const names = await buckets().evaluateAll((els) => els.map((el) => el.getAttribute("aria-label")));
  const busy = names.map((name, i) => [name, i]).filter(([name]) => !/: 0 entries;/.test(name));
  const totals = { entries: 0, Debug: 0, Info: 0, Warn: 0, Error: 0 };
  const indexes = [];
  for (const [name, i] of busy) {
    await buckets().nth(i).hover();
    // The tooltip of this bucket (it starts with the bucket's start, as the button's name does).
    const tip = history().getByRole("tooltip").filter({ hasText: name.split(" to ")[0] });
    await tip.waitFor();
    const text = await tip.innerText();
    assert.match(text, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}.* – \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/, "bucket start–end");
    totals.entries += Number(/(\d+) entr(y|ies)/.exec(text)[1]);
    for (const level of ["Debug", "Info", "Warn", "Error"]) {
      const m = new RegExp(`${level}: (\\d+)`).exec(text);
      if (m) totals[level] += Number(m[1]);
    }
    indexes.push(i);
  }
  return { totals, indexes };
}

describe("history time range, histogram and refresh end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    await fastFlush(server, await apiLogin(server, ADMIN));
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await sendLogs(server, {
      records: [
        { message: `${TAG} first`, level: "info" },
        { message: `${TAG} second`, level: "info" },
        { message: `${TAG} third`, level: "error" },
      ],
    });
  });

  after(() => endRun({ browser, server, admin }, "the history page"));

  test("a relative range from the URL: preset highlighted, axis labels, tooltip counts", async () => {
    await withFailureShot("open", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console?from=now-1h&search=${encodeURIComponent(TAG)}`);
      await rowsOf(`${TAG} third`).waitFor();
      assert.equal(await rowsOf(TAG).count(), 3);

      const presets = history().getByRole("group", { name: "Quick ranges" });
      assert.equal(await presets.getByRole("button", { name: "Last 1h" }).getAttribute("aria-pressed"), "true");
      assert.equal(await presets.getByRole("button", { name: "Last 15m" }).getAttribute("aria-pressed"), "false");
      assert.equal(await history().getByRole("textbox", { name: "From", exact: true }).inputValue(), "now-1h");
      assert.equal(urlParams().get("from"), "now-1h", "the URL keeps the range as given");

      await history().getByRole("figure", { name: "Volume histogram: 3 entries in 60 buckets" }).waitFor();
      const labels = await history().getByRole("list", { name: "Time axis" }).getByRole("listitem").allInnerTexts();
      assert.ok(labels.length >= 4, `axis labels: ${labels}`);
      for (const label of labels) assert.match(label, /^\d{2}:\d{2}$/, "an hour's axis is labelled in minutes");

      const { totals, indexes: indexesWithEntries } = await countsFromTooltips();
      assert.deepEqual(totals, { entries: 3, Debug: 0, Info: 2, Warn: 0, Error: 1 });
      await page.screenshot({ path: screenshotPath("history-range.png") });
      await page.getByRole("button", { name: "Switch to light theme" }).click();
      await page.setViewportSize({ width: 1024, height: 700 });
      await buckets().nth(indexesWithEntries[0]).hover();
      await history().getByRole("tooltip").waitFor();
      await page.screenshot({ path: screenshotPath("history-range-light-1024.png") });
      await page.getByRole("button", { name: "Switch to dark theme" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
    });
  });

  test("dragging across bars zooms: the URL's range and the table follow", async () => {
    await withFailureShot("zoom", page, async () => {
      // An hour ago to ~40 minutes ago: none of the records.
      const first = await buckets().nth(2).boundingBox();
      const last = await buckets().nth(20).boundingBox();
      await page.mouse.move(first.x + first.width / 2, first.y + first.height / 2);
      await page.mouse.down();
      await page.mouse.move(last.x + last.width / 2, last.y + last.height / 2, { steps: 8 });
      await page.mouse.up();
      await page.waitForURL((url) => url.searchParams.has("to"));
      const from = Date.parse(urlParams().get("from"));
      const to = Date.parse(urlParams().get("to"));
      assert.ok(Math.abs(to - from - 19 * 60_000) < 2_000, `19 one-minute buckets, got ${(to - from) / 1000} s`);
      await table().getByText("No entries match.").waitFor();
      assert.equal(await history().getByRole("group", { name: "Quick ranges" }).getByRole("button", { name: "Last 1h" }).getAttribute("aria-pressed"), "false");

      // Back to the last hour, then zoom onto the buckets that hold the records.
      await history().getByRole("button", { name: "Last 1h" }).click();
      await history().getByRole("figure", { name: /^Volume histogram: 3 entries/ }).waitFor();
      const { indexes } = await countsFromTooltips();
      const lo = Math.max(0, indexes[0] - 1);
      const hi = indexes[indexes.length - 1];
      const a = await buckets().nth(lo).boundingBox();
      const b = await buckets().nth(hi).boundingBox();
      await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 4 });
      await page.mouse.up();
      await page.waitForURL((url) => url.searchParams.has("to"));
      const zoomed = Date.parse(urlParams().get("to")) - Date.parse(urlParams().get("from"));
      assert.ok(Math.abs(zoomed - (hi - lo + 1) * 60_000) < 2_000, `zoomed to ${zoomed / 1000} s`);
      await history().getByRole("figure", { name: /^Volume histogram: 3 entries/ }).waitFor();
      await rowsOf(`${TAG} first`).waitFor();
      assert.equal(await rowsOf(TAG).count(), 3);
    });
  });

  test("a To before From is refused inline, without a request", async () => {
    await withFailureShot("to-before-from", page, async () => {
      const requests = [];
      const listen = (req) => {
        if (req.url().includes("/api/v1/activity-logs")) requests.push(req.url());
      };
      page.on("request", listen);
      const to = history().getByRole("textbox", { name: "To", exact: true });
      await to.fill("2001-01-01 00:00");
      await to.press("Enter");
      await history().getByRole("alert").filter({ hasText: "“To” must be after “From”." }).waitFor();
      assert.equal(await to.getAttribute("aria-invalid"), "true");
      assert.equal(await rowsOf(TAG).count(), 0, "the previous range's rows are not shown as this one's");
      page.off("request", listen);
      assert.deepEqual(requests, [], "no request for an impossible range");
      await page.screenshot({ path: screenshotPath("history-range-error.png") });
      await history().getByRole("button", { name: "Last 1h" }).click();
      await rowsOf(`${TAG} third`).waitFor();
      assert.equal(await history().getByRole("alert").filter({ hasText: "must be after" }).count(), 0);
    });
  });

  test("a record sent after load appears on refresh, and 'updated … ago' starts again", async () => {
    await withFailureShot("refresh", page, async () => {
      await page.goto(`/tools/activity-console?from=now-1h&search=${encodeURIComponent(TAG)}`);
      await rowsOf(`${TAG} third`).waitFor();
      const updated = history().getByText(/^updated /);
      await updated.filter({ hasText: "just now" }).waitFor();
      await sendLogs(server, { message: `${TAG} late`, level: "warn" });
      // "updated … ago" ticks while nothing refreshes history (auto-refresh is off).
      await updated.filter({ hasText: /updated \d+ s ago/ }).waitFor({ timeout: 15_000 });
      assert.equal(await rowsOf(`${TAG} late`).count(), 0, "history changed without a refresh");

      await history().getByRole("button", { name: "Refresh" }).click();
      await rowsOf(`${TAG} late`).waitFor();
      assert.equal(await rowsOf(TAG).count(), 4);
      await updated.filter({ hasText: "just now" }).waitFor();
      await history().getByRole("figure", { name: /^Volume histogram: 4 entries/ }).waitFor();
      assert.equal(urlParams().get("from"), "now-1h");

      // Auto-refresh is kept in the URL.
      await history().getByLabel("Auto-refresh").selectOption("10s");
      await page.waitForURL((url) => url.searchParams.get("refresh") === "10s");
    });
  });
});
