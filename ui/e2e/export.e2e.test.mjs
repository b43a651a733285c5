// End-to-end test of the history pane's export against the real server on a real PostgreSQL, in
// Debian's Chromium: the confirmation states the range (in words, with the time zone) and the row
// estimate; 200,000 entries stream into the file picked with the File System Access API (the
// picker is answered with a file of the origin-private file system, which is on disk, since a
// headless browser cannot show one) while the page's JS heap stays flat.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ADMIN, REPO, RUN, apiLogin, endRun, failureShotsNamed, launchBrowser, newContext, screenshotPath, startServer, uiLogin } from "./harness.mjs";

const ROWS = 200_000;
const HALF = ROWS / 2;
const TAG = `${RUN}bulk`;
const MB = 1024 * 1024;
const MAX_HEAP_GROWTH = 16 * MB;

let server;
let browser;
let admin; // { context, pageErrors }
let page;
let cdp;
const withFailureShot = failureShotsNamed("export-");
const history = () => page.getByRole("region", { name: "History" });

/**
 * Answers the save picker with a file in the origin-private file system. Its writable is the real
 * one, wrapped to count lines and to hold once after `window.__pauseAt` lines until
 * `window.__releaseExport()` — so that the test can look at the page half way through.
 */
function installPicker() {
  window.__pauseAt = Infinity;
  window.showSaveFilePicker = async ({ suggestedName }) => {
    const dir = await navigator.storage.getDirectory();
    const real = await dir.getFileHandle(suggestedName, { create: true });
    window.__exportFile = suggestedName;
    return {
      name: suggestedName,
      async createWritable() {
        const writer = (await real.createWritable()).getWriter();
        let lines = 0;
        let held = false;
        return new WritableStream({
          async write(chunk) {
            await writer.write(chunk);
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
            if (!held && lines >= window.__pauseAt) {
              held = true;
              window.__heldAt = lines;
              await new Promise((resolve) => (window.__releaseExport = resolve));
            }
          },
          close: () => writer.close(),
          abort: (reason) => writer.abort(reason),
        });
      },
    };
  };
}

/**
 * The page's JS heap after a full garbage collection: CDP's JSHeapUsedSize, plus the array
 * buffers' backing stores (outside that figure; where a collected download's bytes would be).
 */
async function heapUsed() {
  await cdp.send("HeapProfiler.collectGarbage");
  const { metrics } = await cdp.send("Performance.getMetrics");
  const usage = await cdp.send("Runtime.getHeapUsage");
  const heap = metrics.find((m) => m.name === "JSHeapUsedSize").value;
  return { heap, buffers: usage.backingStorageSize ?? 0, total: heap + (usage.backingStorageSize ?? 0) };
}
const mb = (bytes) => `${(bytes / MB).toFixed(2)} MB`;

/** Lines of the exported file, and its first and last line, read back as a stream. */
async function readBack(name) {
  return page.evaluate(async (fileName) => {
    const dir = await navigator.storage.getDirectory();
    const file = await (await dir.getFileHandle(fileName)).getFile();
    const reader = file.stream().getReader();
    let lines = 0;
    let first = "";
    let tail = "";
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let i = value.indexOf(10); i !== -1; i = value.indexOf(10, i + 1)) lines++;
      if (!first) first = decoder.decode(value.subarray(0, value.indexOf(10)));
      tail = (tail + decoder.decode(value)).slice(-2000);
    }
    const last = tail.trimEnd().split("\n").pop();
    return { lines, first, last, size: file.size };
  }, name);
}

describe("export end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    await apiLogin(server, ADMIN);
    admin = await newContext(browser, server);
    await admin.context.addInitScript(installPicker);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    cdp = await admin.context.newCDPSession(page);
    await cdp.send("Performance.enable");
  });

  after(() => endRun({ browser, server, admin }, "the history page"));

  // The tests after this one read the bulk entries: without them (no TEST_DATABASE_URL, as on a
  // machine whose tests run on the embedded PostgreSQL) they are skipped too, not failed.
  let bulkStored = false;
  const NO_BULK = "needs TEST_DATABASE_URL (the embedded PostgreSQL's address is not known here)";

  test(`${ROWS.toLocaleString("en-US")} entries stored directly`, async (t) => {
    if (!server.env.DATABASE_URL) {
      t.skip(NO_BULK);
      return;
    }
    const { stdout } = await promisify(execFile)(join(REPO, ".venv", "bin", "python"),
      [join(REPO, "ui", "e2e", "seed_bulk.py"), server.env.DATABASE_URL, String(ROWS), TAG], { timeout: 90_000 });
    assert.deepEqual(JSON.parse(stdout), { stored: ROWS });
    bulkStored = true;
  });

  test("the confirmation states the range with its time zone and the estimate", async (t) => {
    if (!bulkStored) return t.skip(NO_BULK);
    await withFailureShot("confirm", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console?from=now-24h&search=${encodeURIComponent(TAG)}`);
      await history().getByRole("table", { name: "History results" }).locator("tbody tr", { hasText: TAG }).first().waitFor();
      await history().getByRole("button", { name: "Export", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Export entries" });
      const range = await dialog.getByTestId("export-range").innerText();
      assert.match(range, /^The last 24 hours: from \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} to now \((UTC|UTC[+-]\d{2}:\d{2})\)$/);
      const estimate = dialog.getByTestId("export-estimate");
      await estimate.getByText(/with the current filters/).waitFor({ timeout: 20_000 });
      const words = await estimate.innerText();
      // Exact when PostgreSQL counts within the budget (it does here), else the planner's figure.
      assert.match(words, /^(200,000 entries|about [\d,]+ entries \(estimated\)) with the current filters$/, words);
      await page.screenshot({ path: screenshotPath("export-confirm.png") });
      // The same dialog in the light theme at 1024×700: everything inside it, nothing cut off.
      const exportButton = history().getByRole("button", { name: "Export", exact: true });
      await page.keyboard.press("Escape");
      await page.getByRole("button", { name: "Switch to light theme" }).click();
      await page.setViewportSize({ width: 1024, height: 700 });
      await exportButton.click();
      await estimate.getByText(/with the current filters/).waitFor({ timeout: 20_000 });
      const box = await dialog.boundingBox();
      assert.ok(box && box.x >= 0 && box.y >= 0 && box.x + box.width <= 1024 && box.y + box.height <= 700, JSON.stringify(box));
      await page.screenshot({ path: screenshotPath("export-confirm-light-1024.png") });
      await page.keyboard.press("Escape");
      await page.getByRole("button", { name: "Switch to dark theme" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
      await exportButton.click();
      await estimate.getByText(/with the current filters/).waitFor({ timeout: 20_000 });
    });
  });

  test(`exporting ${ROWS.toLocaleString("en-US")} entries streams them to the file; the JS heap stays flat`, async (t) => {
    if (!bulkStored) return t.skip(NO_BULK);
    await withFailureShot("stream", page, async () => {
      const dialog = page.getByRole("dialog", { name: "Export entries" });
      const baseline = await heapUsed();
      await page.evaluate((half) => (window.__pauseAt = half), HALF);
      await dialog.getByRole("button", { name: /^Export / }).click();

      // Half way (the file's writes held there): rows and percent shown, the heap as it was.
      await page.waitForFunction(() => typeof window.__releaseExport === "function", null, { timeout: 60_000 });
      const status = history().getByRole("status").filter({ hasText: /Exporting… [\d,]+ of ~[\d,]+ entries \(\d+ %\)/ });
      await status.waitFor();
      const progressText = await status.innerText();
      const shown = Number(/Exporting… ([\d,]+)/.exec(progressText)[1].replace(/,/g, ""));
      assert.ok(shown > 0 && shown <= (await page.evaluate(() => window.__heldAt)), progressText);
      await page.screenshot({ path: screenshotPath("export-progress.png") });
      const halfway = await heapUsed();

      await page.evaluate(() => window.__releaseExport());
      await history().getByRole("status").filter({ hasText: `Saved ${ROWS.toLocaleString("en-US")} entries to ` }).waitFor({ timeout: 90_000 });
      const end = await heapUsed();
      const growth = Math.max(halfway.total, end.total) - baseline.total;
      for (const [when, m] of [["before", baseline], ["half way", halfway], ["after", end]]) {
        console.log(`JS heap ${when}: JSHeapUsedSize ${mb(m.heap)} + array buffers ${mb(m.buffers)}`);
      }
      console.log(`JS heap growth (largest of half way and after, against before): ${mb(growth)}`);
      assert.ok(growth <= MAX_HEAP_GROWTH, `the JS heap grew by ${mb(growth)}`);

      const file = await readBack(await page.evaluate(() => window.__exportFile));
      console.log(`exported file: ${file.lines} lines, ${(file.size / MB).toFixed(1)} MB`);
      assert.equal(file.lines, ROWS);
      assert.equal(JSON.parse(file.first).message, `${TAG} #0 rendered frame batch`, "oldest first");
      assert.equal(JSON.parse(file.last).message, `${TAG} #${ROWS - 1} rendered frame batch`);
    });
  });

  test("the purge confirmation says how many entries would go, and nothing goes on Cancel", async (t) => {
    if (!bulkStored) return t.skip(NO_BULK);
    await withFailureShot("purge", page, async () => {
      await page.goto("/settings");
      const purge = page.getByRole("region", { name: "Manual purge" });
      const tomorrow = new Date(Date.now() + 86_400_000);
      const pad = (n) => String(n).padStart(2, "0");
      const local = `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}T00:00`;
      await purge.getByLabel("Older than").fill(local);
      await purge.getByRole("button", { name: /Purge/ }).click();
      const dialog = page.getByRole("dialog", { name: "Delete stored entries?" });
      const count = dialog.getByTestId("purge-count");
      await count.getByText(/will be deleted/).waitFor({ timeout: 20_000 });
      const text = await count.innerText();
      const m = /^(About )?([\d,]+) entries will be deleted/.exec(text);
      assert.ok(m, text);
      // The bulk entries and the server's own few: exact here (PostgreSQL counts them within the budget).
      assert.ok(Number(m[2].replace(/,/g, "")) >= ROWS, text);
      await page.screenshot({ path: screenshotPath("purge-confirm.png") });
      await dialog.getByRole("button", { name: "Cancel" }).click();
      const { rows } = await (await page.request.get(`/api/v1/activity-logs/export/estimate?search=${encodeURIComponent(TAG)}`, {
        headers: { Authorization: `Bearer ${await apiLogin(server, ADMIN)}` },
      })).json();
      assert.equal(rows, ROWS, "nothing was purged");
    });
  });
});
