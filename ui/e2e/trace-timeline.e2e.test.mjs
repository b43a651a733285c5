// End-to-end test of the trace view's timeline against the real server on a real PostgreSQL, in
// Debian's Chromium: a trace of several spans sent through the OTel SDK shows one lane per span with
// a labelled time axis, a mark's tooltip on hover, Enter on a focused mark opens the entry, and the
// Table toggle (kept in the URL) lists the same entries.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, api, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, newContext, screenshotPath, sendLogs, startServer, uiLogin } from "./harness.mjs";

let server;
let browser;
let admin;
let page;
let adminToken;

const TAG = `${RUN} trace`;
const TRACE = randomBytes(16).toString("hex");
const withFailureShot = failureShotsNamed("trace-timeline-");
const timeline = () => page.getByRole("region", { name: "Trace timeline" });
const marks = () => timeline().locator(".trace-mark");

describe("trace timeline end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    adminToken = await apiLogin(server, ADMIN);
    await fastFlush(server, adminToken);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    // Each record is emitted inside its own span of the one trace.
    await sendLogs(server, {
      records: [
        { message: `${TAG} request received`, level: "info", source: "api", trace_id: TRACE },
        { message: `${TAG} job queued`, level: "debug", source: "worker", trace_id: TRACE },
        { message: `${TAG} model slow to load`, level: "warn", source: "comfyui", trace_id: TRACE },
        { message: `${TAG} job failed`, level: "error", source: "worker", trace_id: TRACE },
      ],
    });
  });

  after(() => endRun({ browser, server, admin }, "the trace page"));

  test("lanes, axis labels, tooltip, keyboard, and the same entries in the table", async () => {
    await withFailureShot("timeline", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console/traces/${TRACE}`);
      await marks().nth(3).waitFor();
      assert.equal(await marks().count(), 4);
      const lanes = timeline().locator(".trace-lane:not(.trace-axis)");
      assert.equal(await lanes.count(), 4, "one lane per span");
      const ticks = await timeline().locator(".trace-tick").allInnerTexts();
      assert.ok(ticks.length >= 2, `axis labels: ${ticks}`);
      for (const t of ticks) assert.match(t, /^(\+|\d{2}:\d{2})/);
      assert.match(await timeline().innerText(), /Total span/);

      await marks().last().hover();
      const tip = timeline().getByRole("tooltip").filter({ hasText: `${TAG} job failed` });
      await tip.waitFor({ state: "visible" });
      assert.match(await tip.innerText(), /ERROR/);
      assert.match(await tip.innerText(), /after the previous entry/);
      await page.screenshot({ path: screenshotPath("trace-timeline.png") });

      const table = page.getByRole("table", { name: "Trace entries" });
      await page.getByRole("group", { name: "Trace view" }).getByRole("button", { name: "Table" }).click();
      await table.waitFor();
      assert.equal(new URL(page.url()).searchParams.get("view"), "table");
      assert.equal(await table.locator("tbody tr", { hasText: TAG }).count(), 4);
      await page.reload();
      await table.waitFor();
      await page.getByRole("group", { name: "Trace view" }).getByRole("button", { name: "Timeline" }).click();
      await marks().first().waitFor();

      await marks().first().focus();
      await page.keyboard.press("Enter");
      await page.waitForURL(/\/tools\/activity-console\/entries\/\d+$/);
      await page.getByText(`${TAG} request received`).first().waitFor();
    });
  });

  test("at 1024 px in the light theme the timeline scrolls inside itself, never the page", async () => {
    await withFailureShot("light-1024", page, async () => {
      await page.setViewportSize({ width: 1024, height: 700 });
      await page.goto(`/tools/activity-console/traces/${TRACE}`);
      await page.getByRole("button", { name: "Switch to light theme" }).click();
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
      await marks().nth(3).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
      await marks().first().hover();
      await page.screenshot({ path: screenshotPath("trace-timeline-light-1024.png") });
    });
  });

  test("the context dialog loads earlier and later entries and keeps the anchor highlighted", async () => {
    await withFailureShot("context", page, async () => {
      await page.setViewportSize({ width: 1440, height: 900 });
      await sendLogs(server, { message: `${RUN} ctx`, count: 60 });
      const list = await api(server, `/activity-logs?search=${encodeURIComponent(`${RUN} ctx`)}&per_page=100`, { token: adminToken });
      const anchor = list.data.find((e) => e.message === `${RUN} ctx #30`);
      assert.ok(anchor, "the anchor entry is stored");
      await page.goto(`/tools/activity-console/entries/${anchor.id}`);
      await page.getByRole("button", { name: "Show surrounding entries" }).first().click();
      const dialog = page.getByRole("dialog", { name: `Entries around #${anchor.id}` });
      const items = dialog.locator(".context-item");
      await items.first().waitFor();
      const before = await items.count();
      await dialog.getByRole("button", { name: "Load earlier" }).click();
      await dialog.getByText(`${RUN} ctx #1`, { exact: true }).waitFor();
      await dialog.getByRole("button", { name: "Load later" }).click();
      await dialog.getByText(`${RUN} ctx #60`, { exact: true }).waitFor();
      assert.ok((await items.count()) > before, "more entries after loading");
      const current = dialog.locator('.context-item[aria-current="true"]');
      assert.equal(await current.count(), 1);
      assert.match(await current.innerText(), new RegExp(`${RUN} ctx #30`));
      await current.scrollIntoViewIfNeeded();
      await page.screenshot({ path: screenshotPath("context-more.png") });
    });
  });
});
