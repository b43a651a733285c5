// End-to-end tests of the console's recent entries on open and of outages: the real server on a
// real PostgreSQL, stopped and started again (same ports, data dir and database) under an open page,
// in Debian's Chromium. Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ADMIN,
  RUN,
  apiLogin,
  endRun,
  failureShotsNamed,
  fastFlush,
  launchBrowser,
  liveLog,
  liveRow,
  newContext,
  restartServer,
  screenshotPath,
  sendLogs,
  startServer,
  stopServerProcess,
  uiLogin,
  waitLive,
} from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page;

const BEFORE_OPEN = `${RUN} sent before the page opened`;
const AFTER_OPEN = `${RUN} sent after the page opened`;
const AFTER_RESTART = `${RUN} sent after the restart`;

const outageBanner = (p) => p.getByRole("alert").filter({ hasText: "Server unreachable" });

const withFailureShot = failureShotsNamed("recovery-");

/** Waits until `locator` matches exactly `n` elements and still does after `settleMs` (no late duplicate). */
async function expectCount(locator, n, settleMs = 1500) {
  await locator.nth(n - 1).waitFor();
  await new Promise((r) => setTimeout(r, settleMs));
  assert.equal(await locator.count(), n);
}

describe("recent entries on open, and outages", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    const token = await apiLogin(server, ADMIN);
    await fastFlush(server, token);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
  });

  // A page that cannot reach the server logs failed requests, but must not throw.
  after(() => endRun({ browser, server, admin }, "the page"));

  test("records sent before the page opens are shown on open and after a reload; one sent later appears once", async () => {
    await withFailureShot("recent", page, async () => {
      await sendLogs(server, { message: BEFORE_OPEN, count: 3 });
      await uiLogin(page, ADMIN);
      await page.goto("/tools/activity-console");
      await expectCount(liveRow(page, BEFORE_OPEN), 3, 0);
      await waitLive(page);
      await sendLogs(server, { message: AFTER_OPEN });
      await expectCount(liveRow(page, AFTER_OPEN), 1);
      assert.equal(await liveRow(page, BEFORE_OPEN).count(), 3, "no duplicate at the seam");

      await page.reload();
      await expectCount(liveRow(page, BEFORE_OPEN), 3);
      assert.equal(await liveRow(page, AFTER_OPEN).count(), 1);
      // Oldest first, as the live tail continues them.
      const texts = await liveLog(page).locator(".log-row").allTextContents();
      const order = [1, 2, 3].map((i) => texts.findIndex((t) => t.includes(`${BEFORE_OPEN} #${i}`)));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), `in time order: ${order}`);
      assert.ok(texts.findIndex((t) => t.includes(AFTER_OPEN)) > order[2]);
    });
  });

  test("server stopped under the console, history and settings: a banner with Retry now, never a blank page; back without a reload", async () => {
    await withFailureShot("outage", page, async () => {
      const history = page.getByRole("region", { name: "History" });
      await history.getByRole("table", { name: "History results" }).locator("tbody tr", { hasText: BEFORE_OPEN }).first().waitFor();

      await stopServerProcess(server);
      await outageBanner(page).waitFor({ timeout: 15_000 });
      await outageBanner(page).getByRole("button", { name: "Retry now" }).waitFor();
      await page.screenshot({ path: screenshotPath("offline-console.png") });

      // History while the server is away: a sentence, not the browser's "Failed to fetch".
      await history.getByLabel("Search history").fill(BEFORE_OPEN);
      await history.getByRole("alert").filter({ hasText: /^The server cannot be reached/ }).waitFor();
      // The facets say the same about themselves, apart from the results.
      await history.getByRole("alert").filter({ hasText: /^Facets could not be counted: The server cannot be reached/ }).waitFor();
      assert.equal(await page.getByText("Failed to fetch").count(), 0);
      await page.screenshot({ path: screenshotPath("offline-history.png") });

      // A page loaded on demand still opens (its chunk was fetched ahead), with the banner above it.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
      await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
      await outageBanner(page).waitFor();
      await outageBanner(page).getByRole("button", { name: "Retry now" }).click();
      await outageBanner(page).waitFor();
      await page.screenshot({ path: screenshotPath("offline-settings.png") });

      await restartServer(server);
      // The probe asks at most every second: the banner goes, and the settings load, without a reload.
      await outageBanner(page).waitFor({ state: "detached", timeout: 5_000 });
      await page.getByRole("form", { name: "Retention and batching" }).waitFor({ timeout: 5_000 });

      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Activity Console" }).click();
      await waitLive(page, 5_000);
      const table = page.getByRole("region", { name: "History" }).getByRole("table", { name: "History results" });
      await table.locator("tbody tr", { hasText: BEFORE_OPEN }).first().waitFor({ timeout: 5_000 });

      await sendLogs(server, { message: AFTER_RESTART });
      await expectCount(liveRow(page, AFTER_RESTART), 1);
      assert.equal(await liveRow(page, BEFORE_OPEN).count(), 3);
    });
  });

  test("the live tail left open reconnects within about a second of the server's return", async () => {
    await withFailureShot("reconnect", page, async () => {
      await waitLive(page);
      await stopServerProcess(server);
      await outageBanner(page).waitFor({ timeout: 15_000 });
      await page.getByRole("status", { name: "Connection: Reconnecting…" }).waitFor();
      // Long enough for an uncapped backoff to have grown well past a second.
      await new Promise((r) => setTimeout(r, 8_000));
      await restartServer(server);
      await waitLive(page, 3_000);
      await outageBanner(page).waitFor({ state: "detached", timeout: 3_000 });
      assert.equal(await liveRow(page, AFTER_RESTART).count(), 1, "the resumed tail repeats nothing");
    });
  });
});
