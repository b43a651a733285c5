// End-to-end tests of the console (sign-in, live tail, filters, history, export, traces, creator scope,
// settings) against the real server on a real PostgreSQL, in Debian's Chromium.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
// The tests share one server, one browser and one signed-in admin page, and run in order.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import {
  ADMIN,
  RUN,
  api,
  apiLogin,
  clearFailureShots,
  endRun,
  fastFlush,
  launchBrowser,
  liveLog,
  liveRow,
  newContext,
  screenshotPath,
  sendLogs,
  startServer,
  uiLogin,
  waitLive,
  withFailureShot,
} from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page; // the admin's page
let adminToken;

const TRACED = `${RUN} order 4711 shipped`;
const WARNING = `${RUN} pipeline stage slow`;
let traceId;

describe("activity console end to end", { concurrency: 1 }, () => {
  before(async () => {
    clearFailureShots();
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    adminToken = await apiLogin(server, ADMIN);
    // "Within 2 s" should measure the console, not the writer's default flush interval.
    assert.equal((await fastFlush(server, adminToken)).flush_interval_ms, 100);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
  });

  after(() => endRun({ browser, server, admin }, "the admin's page"));

  test("log in: a wrong password is refused, the right one opens the console", async () => {
    await withFailureShot("login", page, async () => {
      await page.goto("/tools/activity-console");
      await page.waitForURL("**/login");
      await page.getByLabel("Email").fill(ADMIN.email);
      await page.getByLabel("Password").fill("not-the-password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").filter({ hasText: "Wrong email or password." }).waitFor();

      await uiLogin(page, ADMIN);
      await page.waitForURL("**/tools/activity-console");
      await page.getByRole("region", { name: "Live activity console" }).waitFor();
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).waitFor();
      await waitLive(page);
    });
  });

  test("a record sent through the OpenTelemetry SDK appears in the live panel within 2 s", async () => {
    await withFailureShot("live", page, async () => {
      await waitLive(page);
      const sent = await sendLogs(server, {
        records: [
          { message: TRACED, level: "info", source: "worker", trace: true },
          { message: WARNING, level: "warn", source: "pipeline" },
        ],
      });
      traceId = sent.trace_ids[0];
      assert.match(traceId, /^[0-9a-f]{32}$/);
      // Two seconds from the SDK's emit (the helper's start-up excluded) to the row on screen.
      const left = 2_000 - (Date.now() - sent.emittedAt);
      assert.ok(left > 0, `the export alone took ${Date.now() - sent.emittedAt} ms`);
      await liveRow(page, TRACED).waitFor({ timeout: left });
      const row = liveRow(page, TRACED);
      assert.equal(await row.locator(".log-level").textContent(), "INFO");
      assert.equal(await row.locator(".log-source").textContent(), "Worker");
      assert.match((await row.getAttribute("class")) ?? "", /\blevel-info\b.*\bsource-worker\b/);
      await liveRow(page, WARNING).waitFor(); // sent in the same export
      assert.match((await liveRow(page, WARNING).getAttribute("class")) ?? "", /\blevel-warn\b.*\bsource-pipeline\b/);
    });
  });

  test("level and source filters hide and show it", async () => {
    await withFailureShot("filters", page, async () => {
      const toolbar = page.getByRole("toolbar", { name: "Console filters" });
      const info = toolbar.getByRole("group", { name: "Levels" }).getByRole("button", { name: "Info", exact: true });
      const worker = toolbar.getByRole("group", { name: "Sources" }).getByRole("button", { name: "Worker", exact: true });
      assert.equal(await info.getAttribute("aria-pressed"), "true");
      assert.equal(await worker.getAttribute("aria-pressed"), "true");

      for (const pill of [info, worker]) {
        await pill.click();
        assert.equal(await pill.getAttribute("aria-pressed"), "false");
        await liveRow(page, TRACED).waitFor({ state: "detached" });
        assert.ok(await liveRow(page, WARNING).isVisible(), "the other entry stays visible");
        await pill.click();
        assert.equal(await pill.getAttribute("aria-pressed"), "true");
        await liveRow(page, TRACED).waitFor();
      }
    });
  });

  test("scrolling up pauses the tail; Jump to latest appears with the new entries' count", async () => {
    await withFailureShot("scroll-pause", page, async () => {
      const log = liveLog(page);
      await sendLogs(server, { message: `${RUN} filler`, count: 60 });
      await liveRow(page, `${RUN} filler #60`).waitFor();
      const paused = page.getByRole("status").filter({ hasText: "PAUSED" });
      assert.equal(await paused.count(), 0, "following the tail before scrolling");

      await log.hover();
      await page.mouse.wheel(0, -400);
      await paused.filter({ hasText: "scrolled up" }).waitFor();
      const jump = page.getByRole("button", { name: /^Jump to latest/ });
      await jump.waitFor();
      await page.waitForTimeout(300); // let the wheel's smooth scroll settle before reading the position
      const scrollTop = await log.evaluate((el) => el.scrollTop);
      assert.ok(scrollTop < (await log.evaluate((el) => el.scrollHeight - el.clientHeight)) - 8, "scrolled away from the end");

      await sendLogs(server, { message: `${RUN} while paused`, count: 5 });
      await page.getByRole("button", { name: /^Jump to latest \(([5-9]|\d\d+) new\)$/ }).waitFor();
      assert.ok(await paused.isVisible(), "still paused after new entries arrived");
      const after = await log.evaluate((el) => el.scrollTop);
      assert.ok(Math.abs(after - scrollTop) <= 1, `the scroll position did not move (${scrollTop} → ${after})`);

      await jump.click();
      await paused.waitFor({ state: "detached" });
      await jump.waitFor({ state: "detached" });
      const last = liveRow(page, `${RUN} while paused #5`);
      await last.waitFor();
      const [rowBox, logBox] = [await last.boundingBox(), await log.boundingBox()];
      assert.ok(rowBox && logBox && rowBox.y >= logBox.y && rowBox.y + rowBox.height <= logBox.y + logBox.height + 1, "the newest entry is in view after jumping");
    });
  });

  test("the history pane finds it", async () => {
    await withFailureShot("history", page, async () => {
      const history = page.getByRole("region", { name: "History" });
      await history.getByLabel("Search history").fill(TRACED);
      await page.waitForURL((url) => url.searchParams.get("search") === TRACED);
      const table = history.getByRole("table", { name: "History results" });
      await table.locator("tbody tr", { hasText: TRACED }).waitFor();
      assert.equal(await table.locator("tbody tr", { hasText: WARNING }).count(), 0);
      await history.getByRole("navigation", { name: "Pagination" }).getByText("1 entry", { exact: true }).waitFor();
      await table.getByRole("link", { name: `Open trace ${traceId}` }).waitFor();
      await page.screenshot({ path: screenshotPath("console-page.png") });
    });
  });

  test("export downloads a file containing it", async () => {
    await withFailureShot("export", page, async () => {
      const history = page.getByRole("region", { name: "History" });
      // The browser's own download of a one-time link (export.e2e.test.mjs covers the save picker).
      await page.evaluate(() => Object.defineProperty(window, "showSaveFilePicker", { value: undefined, configurable: true }));
      await history.getByRole("button", { name: "Export", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Export entries" });
      await dialog.getByText("1 entry with the current filters").waitFor();
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: 10_000 }),
        dialog.getByRole("button", { name: /^Export 1 entry/ }).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.ndjson$/);
      const text = await readFile(await download.path(), "utf8");
      const entries = text.trim().split("\n").map((line) => JSON.parse(line));
      assert.ok(entries.some((e) => e.message === TRACED && e.trace_id === traceId), `the export holds the entry:\n${text.slice(0, 500)}`);
      assert.ok(!text.includes(WARNING), "the export applies the pane's search filter");
      await history.getByRole("status").filter({ hasText: /Your browser is saving the file/ }).waitFor();
    });
  });

  test("clicking its trace id shows the trace view with it", async () => {
    await withFailureShot("trace", page, async () => {
      // 65 newer entries have pushed it out of the virtualized list: search brings it back.
      const search = page.getByRole("toolbar", { name: "Console filters" }).getByRole("searchbox", { name: "Search messages" });
      await search.fill(TRACED);
      const row = liveRow(page, TRACED);
      await row.locator("mark", { hasText: TRACED }).waitFor(); // the match is highlighted
      assert.equal(await liveLog(page).locator(".log-row").count(), 1, "the search leaves only this entry");
      await row.getByRole("button", { expanded: false }).click();
      const link = row.getByRole("link", { name: `Open trace ${traceId}` });
      await link.click();
      await page.waitForURL(`**/tools/activity-console/traces/${traceId}`);
      await page.getByRole("heading", { name: new RegExp(`Trace ${traceId}`) }).waitFor();
      // The timeline opens first: one lane, one mark for the one entry.
      const timeline = page.getByRole("region", { name: "Trace timeline" });
      await timeline.locator(".trace-mark").first().waitFor();
      assert.equal(await timeline.locator(".trace-mark").count(), 1, "one mark for the one entry");
      await page.getByRole("group", { name: "Trace view" }).getByRole("button", { name: "Table" }).click();
      const table = page.getByRole("table", { name: "Trace entries" });
      await table.locator("tbody tr", { hasText: TRACED }).waitFor();
      assert.equal(await table.locator("tbody tr").count(), 1, "only this trace's entry");
      assert.match((await table.locator("tbody tr .trace-offset").first().textContent()) ?? "", /^\+0(\.0)? ms$/);
    });
  });

  test("the docked panel shows the live entries on another page", async () => {
    await withFailureShot("docked", page, async () => {
      // Client-side navigation only: a reload would start with an empty live buffer.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Activity Console" }).click();
      const search = page.getByRole("toolbar", { name: "Console filters" }).getByRole("searchbox", { name: "Search messages" });
      await search.fill("");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
      await page.waitForURL("**/settings");
      const toggle = page.getByRole("button", { name: "Console", exact: true });
      if ((await toggle.getAttribute("aria-pressed")) !== "true") await toggle.click();
      const dock = page.getByRole("complementary", { name: "Docked activity console" });
      await dock.waitFor();
      await page.keyboard.press("Escape"); // collapse the row expanded for the trace
      const jump = dock.getByRole("button", { name: /^Jump to latest/ });
      if (await jump.isVisible()) await jump.click();
      await dock.locator(".log-row", { hasText: `${RUN} while paused #5` }).waitFor();
      await page.screenshot({ path: screenshotPath("docked-panel.png") });
    });
  });

  test("a creator sees their project's and system entries, never another project's", async () => {
    const own = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: `${RUN} own` } });
    const other = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: `${RUN} other` } });
    const creatorLogin = { email: `creator-${RUN}@e2e.test`, password: "creator-password-1" };
    const creator = await api(server, "/admin/users", { method: "POST", token: adminToken, body: { ...creatorLogin, role: "creator" } });
    await api(server, `/admin/projects/${own.id}/members`, { method: "POST", token: adminToken, body: { user_id: creator.id } });

    const { context, pageErrors } = await newContext(browser, server);
    const cpage = await context.newPage();
    try {
      await withFailureShot("creator", cpage, async () => {
        await uiLogin(cpage, creatorLogin);
        await cpage.waitForURL("**/tools/activity-console");
        assert.equal(await cpage.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).count(), 0);
        await waitLive(cpage);

        const OWN = `${RUN} scope own project`;
        const OTHER = `${RUN} scope other project`;
        const SYSTEM = `${RUN} scope system`;
        await sendLogs(server, {
          records: [
            { message: OTHER, project_id: other.id },
            { message: OWN, project_id: own.id },
            { message: SYSTEM },
          ],
        });
        // All three went out in one export and one writer batch: once the visible two are shown,
        // the hidden one would have been too.
        await liveRow(cpage, OWN).waitFor();
        await liveRow(cpage, SYSTEM).waitFor();
        assert.equal(await liveRow(cpage, OTHER).count(), 0, "another project's entry in the creator's live panel");

        const stored = await api(server, `/activity-logs?search=${encodeURIComponent(OTHER)}`, { token: adminToken });
        assert.equal(stored.data.length, 1, "the other project's entry was stored (the admin sees it)");

        const history = cpage.getByRole("region", { name: "History" });
        await history.getByLabel("Search history").fill(`${RUN} scope`);
        const table = history.getByRole("table", { name: "History results" });
        await table.locator("tbody tr", { hasText: OWN }).waitFor();
        await table.locator("tbody tr", { hasText: SYSTEM }).waitFor();
        await history.getByRole("navigation", { name: "Pagination" }).getByText("2 entries", { exact: true }).waitFor();
        assert.equal(await table.locator("tbody tr", { hasText: OTHER }).count(), 0, "another project's entry in the creator's history");
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  test("a long entry is shortened in the live panel and loads whole on demand", async () => {
    await withFailureShot("shortened", page, async () => {
      if (!page.url().includes("/tools/activity-console")) await page.goto("/tools/activity-console");
      await waitLive(page);
      const head = `${RUN} worker crashed with a long traceback`;
      const tail = `${RUN} end of the traceback`;
      const message = `${head} ${"frame line ".repeat(2_000)}${tail}`; // about 22,000 characters
      await sendLogs(server, { records: [{ message, level: "error", source: "worker" }] });
      const row = liveRow(page, head);
      await row.waitFor({ timeout: 10_000 });
      await row.locator(".log-line").click();
      const notice = row.getByRole("note").filter({ hasText: "Shortened for display" });
      await notice.waitFor();
      const stated = ((await notice.textContent()) ?? "").match(/message ([\d,.\s\u00a0\u202f]+) characters/);
      assert.ok(stated, "the notice states the full length");
      assert.equal(Number(stated[1].replace(/\D/g, "")), message.length);
      assert.equal(await row.getByText(tail).count(), 0, "the live view carries only the start of the message");
      await row.getByRole("button", { name: "Load full entry" }).click();
      const full = row.getByRole("region", { name: "Full message" });
      await full.waitFor();
      assert.ok(((await full.textContent()) ?? "").endsWith(tail), "the whole message, fetched from the API");
      assert.deepEqual(admin.pageErrors, [], "no page errors (CSP included)");
      await row.locator(".log-line").click(); // collapse again for the tests that follow
    });
  });

  test("the settings page shows each field's limits and rejects a too-short retention in plain words inline", async () => {
    await withFailureShot("settings", page, async () => {
      if (!page.url().endsWith("/settings")) await page.goto("/settings");
      const before = await api(server, "/admin/activity-logs/settings", { token: adminToken });
      const field = page.getByLabel("Error retention");
      await field.fill("3");
      await page.getByRole("button", { name: "Save settings" }).click();
      const message = page.locator("#retention_days_error-error");
      await message.waitFor();
      assert.equal(await message.getAttribute("role"), "alert");
      assert.equal(await message.textContent(), "Error retention must be between 7 and 3650 days", "the API's words, with its bounds");
      assert.equal(await field.getAttribute("aria-invalid"), "true");
      // The limits are shown before any error, from the API description; the error adds to them.
      assert.equal(await page.locator("#retention_days_error-help").textContent(), "7–3,650 days; errors are kept at least a week");
      assert.equal(await field.getAttribute("aria-describedby"), "retention_days_error-help retention_days_error-error");
      assert.equal(await page.getByRole("status").filter({ hasText: "Saved." }).count(), 0);
      const afterSave = await api(server, "/admin/activity-logs/settings", { token: adminToken });
      assert.equal((afterSave.data ?? afterSave).retention_days_error, (before.data ?? before).retention_days_error, "nothing was saved");
    });
  });
});
