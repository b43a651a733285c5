// End-to-end test of the live tail's time order against the real server on a real PostgreSQL, in
// Debian's Chromium: records carry their own time (set on the OTel log record through the SDK), and
// the tail places each by that time rather than by arrival; within the reorder window (2 s) a later
// arrival is placed quietly, an older one is placed too but marked LATE.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, liveLog, newContext, screenshotPath, sendLogs, startServer, uiLogin, until, waitLive } from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page;

const TAG = `${RUN}o`;
const withFailureShot = failureShotsNamed("live-order-");

/** Nanoseconds since the epoch as a string of digits (a JS number cannot hold them exactly). */
const nanos = (ms) => String(BigInt(ms) * 1_000_000n);

/** Sends one record stamped `ms` (epoch milliseconds); resolves once the server has stored it. */
const sendAt = (name, ms) => sendLogs(server, { records: [{ message: `${TAG} ${name}`, time_unix_nano: nanos(ms) }] });

/** The live rows of this run, top to bottom: name, whether it shows LATE, and its `datetime`. */
async function liveRows() {
  return liveLog(page)
    .locator(".log-row", { hasText: TAG })
    .evaluateAll((rows, tag) =>
      rows.map((row) => ({
        name: /\S+$/.exec(row.querySelector(".log-message").textContent.replace(tag, "").trim())[0],
        late: row.querySelector(".late-badge") !== null,
        time: row.querySelector("time").getAttribute("datetime"),
      })),
    TAG);
}

/** Waits until the run's live rows are exactly `names`, in that order; returns them. */
async function waitOrder(names) {
  await until(async () => (await liveRows()).map((r) => r.name), names, "live rows in order");
  return liveRows();
}

describe("live tail time order end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    const token = await apiLogin(server, ADMIN);
    await fastFlush(server, token);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  after(() => endRun({ browser, server, admin }, "the console page"));

  test("records are placed by their own time; one older than the reorder window is marked LATE", async () => {
    await withFailureShot("order", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console?live_search=${encodeURIComponent(TAG)}`);
      await waitLive(page);

      const now = Date.now();
      const sent = { bravo: now, alpha: now - 1000, charlie: now - 10_000 };
      // B (now) first, then A (1 s earlier) once B is shown: A goes above B, within the window.
      await sendAt("bravo", sent.bravo);
      await waitOrder(["bravo"]);
      await sendAt("alpha", sent.alpha);
      let rows = await waitOrder(["alpha", "bravo"]);
      assert.deepEqual(rows.map((r) => r.late), [false, false], "1 s out of order is within the window: no LATE");

      // C, 10 s in the past, sent last: placed at its own time (first), and marked LATE.
      await sendAt("charlie", sent.charlie);
      rows = await waitOrder(["charlie", "alpha", "bravo"]);
      assert.deepEqual(rows.map((r) => r.late), [true, false, false]);
      // Each row shows the time it was sent with, not its arrival.
      for (const row of rows) assert.equal(Date.parse(row.time), sent[row.name], `${row.name}'s time`);
      const badge = liveLog(page).locator(".log-row", { hasText: `${TAG} charlie` }).locator(".late-badge");
      assert.equal(await badge.innerText(), "LATE");
      assert.match(await badge.getAttribute("title"), /more than 2 s older/);

      // The count shown is what was sent: three records match the search, none twice.
      const counts = page.getByRole("region", { name: "Live activity console" }).locator(".console-counts");
      assert.match(await counts.innerText(), /^Showing 3 of \d/);
      assert.equal((await liveRows()).length, 3);
      await page.screenshot({ path: screenshotPath("live-order.png") });
    });
  });
});
