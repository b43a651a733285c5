// End-to-end test of the console shell against the real server on a real PostgreSQL, in Debian's
// Chromium: the `?` shortcut sheet, j/k selection and Enter on the live rows, the sidebar and the
// right dock at 1024×700, the Local/UTC time zone choice, and a creator's "What you can see" note.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ADMIN,
  RUN,
  api,
  apiLogin,
  endRun,
  failureShotsNamed,
  fastFlush,
  launchBrowser,
  liveLog,
  liveRow,
  screenshotPath,
  sendLogs,
  startServer,
  uiLogin,
  waitLive,
} from "./harness.mjs";

// A zone with a fixed half-hour offset (no daylight saving), so Local and UTC always differ.
const LOCAL_ZONE = "Asia/Kolkata";
const LOCAL_LABEL = "UTC+05:30";

let server;
let browser;
let admin; // { context, pageErrors }
let page;
let adminToken;

const KB = `${RUN} shell kb`;
const withFailureShot = failureShotsNamed("console-shell-");

/** A context like the harness's, in LOCAL_ZONE. */
async function zonedContext() {
  const context = await browser.newContext({ baseURL: server.baseUrl, viewport: { width: 1440, height: 900 }, timezoneId: LOCAL_ZONE });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const pageErrors = [];
  context.on("page", (p) => p.on("pageerror", (e) => pageErrors.push(e.message)));
  return { context, pageErrors };
}

/** Moves the focus out of every pane and field, so keys go to the live pane. */
const blur = (p) => p.evaluate(() => (document.activeElement instanceof HTMLElement ? document.activeElement.blur() : undefined));

const selectedRow = (p) => liveLog(p).locator(".virtual-row[data-selected]");

/** HH:MM:SS.mmm of an RFC 3339 instant, in UTC or at a fixed offset in minutes. */
function clock(iso, offsetMinutes) {
  const d = new Date(Date.parse(iso) + offsetMinutes * 60_000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

describe("console shell end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    adminToken = await apiLogin(server, ADMIN);
    await fastFlush(server, adminToken);
    admin = await zonedContext();
    page = await admin.context.newPage();
    await uiLogin(page, ADMIN);
    await page.waitForURL("**/tools/activity-console");
    await waitLive(page);
  });

  after(() => endRun({ browser, server, admin }, "the admin's page"));

  test("? opens the shortcut sheet; Esc closes it", async () => {
    await withFailureShot("sheet", page, async () => {
      await blur(page);
      await page.keyboard.press("?");
      const sheet = page.getByRole("dialog", { name: "Keyboard shortcuts" });
      await sheet.waitFor();
      for (const key of ["j", "k", "Enter", "Esc", "/", "G"]) {
        assert.equal(await sheet.locator("kbd", { hasText: new RegExp(`^${key.replace("/", "\\/")}$`) }).count(), 1, `the sheet lists ${key}`);
      }
      await page.screenshot({ path: screenshotPath("console-shell-shortcuts.png") });
      await page.keyboard.press("Escape");
      await sheet.waitFor({ state: "detached" });
      // Typed into a field, ? is a character, not a shortcut.
      const search = page.getByRole("region", { name: "Live activity console" }).getByLabel("Search messages");
      await search.fill("");
      await search.press("?");
      assert.equal(await search.inputValue(), "?");
      assert.equal(await page.getByRole("dialog", { name: "Keyboard shortcuts" }).count(), 0);
      await search.fill("");
    });
  });

  test("j/k move a visible selection through the live rows; Enter opens the selected entry", async () => {
    await withFailureShot("keys", page, async () => {
      await sendLogs(server, { records: [1, 2, 3].map((n) => ({ message: `${KB} ${n}` })) });
      await liveRow(page, `${KB} 3`).waitFor();
      const search = page.getByRole("region", { name: "Live activity console" }).getByLabel("Search messages");
      await search.fill(KB);
      await liveRow(page, `${KB} 1`).waitFor();
      assert.equal(await liveLog(page).locator(".log-row").count(), 3);
      await blur(page);

      await page.keyboard.press("G");
      await selectedRow(page).filter({ hasText: `${KB} 3` }).waitFor();
      await page.keyboard.press("k");
      await selectedRow(page).filter({ hasText: `${KB} 2` }).waitFor();
      await page.keyboard.press("k");
      await selectedRow(page).filter({ hasText: `${KB} 1` }).waitFor();
      await page.keyboard.press("j");
      await selectedRow(page).filter({ hasText: `${KB} 2` }).waitFor();
      assert.equal(await selectedRow(page).count(), 1, "one row selected");

      await page.keyboard.press("Enter");
      const line = liveRow(page, `${KB} 2`).locator(".log-line");
      assert.equal(await line.getAttribute("aria-expanded"), "true");
      await liveRow(page, `${KB} 2`).locator(".entry-detail, [class*='entry-']").first().waitFor();
      assert.equal(await liveRow(page, `${KB} 1`).locator(".log-line").getAttribute("aria-expanded"), "false");
      await page.screenshot({ path: screenshotPath("console-shell-selection.png") });
      await page.keyboard.press("Escape");
      await page.waitForFunction((text) => {
        const row = [...document.querySelectorAll(".log-row")].find((r) => r.textContent.includes(text));
        return row?.querySelector(".log-line")?.getAttribute("aria-expanded") === "false";
      }, `${KB} 2`);
      await search.fill("");
      // The live filters reach the URL 300 ms after they change (usePaneSync); the next test reloads
      // the page, which restores them from the URL: wait until the cleared search is there too.
      await page.waitForFunction(() => !new URL(location.href).searchParams.has("live_search"));
      await blur(page);
      await page.keyboard.press("G");
      assert.equal(await search.inputValue(), "", "G is a shortcut, not typed into the search box");
    });
  });

  test("switching to UTC changes the row times and the zone label", async () => {
    await withFailureShot("zone", page, async () => {
      const zone = page.getByTestId("zone-label");
      assert.equal((await zone.textContent()).trim(), LOCAL_LABEL);
      const time = liveRow(page, `${KB} 1`).locator("time.log-time");
      const iso = await time.getAttribute("datetime");
      assert.equal((await time.textContent()).trim(), clock(iso, 330), "local (UTC+05:30) row time");
      await page.getByRole("combobox", { name: "Time zone" }).selectOption("utc");
      await page.waitForFunction(() => document.querySelector("[data-testid=zone-label]")?.textContent?.trim() === "UTC");
      assert.equal((await time.textContent()).trim(), clock(iso, 0), "UTC row time");
      // History writes its times and its column label in the same zone.
      await page.getByRole("columnheader", { name: "Time (UTC)" }).waitFor();
      // Remembered across a reload.
      await page.reload();
      await waitLive(page);
      assert.equal((await page.getByTestId("zone-label").textContent()).trim(), "UTC");
      await page.getByRole("combobox", { name: "Time zone" }).selectOption("local");
      await page.waitForFunction((label) => document.querySelector("[data-testid=zone-label]")?.textContent?.trim() === label, LOCAL_LABEL);
    });
  });

  test("at 1024×700 the sidebar collapses and a long message in the right dock is readable whole", async () => {
    await withFailureShot("narrow", page, async () => {
      await page.setViewportSize({ width: 1024, height: 700 });
      const shell = page.locator(".app-shell");
      await page.waitForFunction(() => document.querySelector(".app-shell")?.classList.contains("sidebar-collapsed"));
      const nav = await page.getByRole("navigation", { name: "Main" }).boundingBox();
      assert.ok(nav.width < 80, `collapsed sidebar is ${nav.width}px wide`);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
      await page.waitForURL("**/settings");

      const consoleButton = page.getByRole("button", { name: "Console", exact: true });
      if ((await consoleButton.getAttribute("aria-pressed")) !== "true") await consoleButton.click();
      const dock = page.getByRole("complementary", { name: "Docked activity console" });
      await dock.waitFor();
      const toRight = dock.getByRole("button", { name: "Dock on the right" });
      if (await toRight.count()) await toRight.click();
      await page.locator(".dock-right").waitFor();

      const END = `END-${RUN}`;
      const LONG = `${RUN} shell long: ${"the render worker could not load the checkpoint for this node and retried ".repeat(6)}${END}`;
      await sendLogs(server, { records: [{ message: LONG, level: "error" }] });
      const row = dock.locator(".log-row", { hasText: END });
      await row.waitFor();
      const message = row.locator(".log-message");
      const { scrollWidth, clientWidth } = await message.evaluate((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth }));
      assert.ok(scrollWidth <= clientWidth + 1, `the message is cut (${scrollWidth} > ${clientWidth})`);
      const dockBox = await dock.boundingBox();
      const messageBox = await message.boundingBox();
      assert.ok(messageBox.height > 22 * 2, "the long message wraps onto several lines");
      assert.ok(messageBox.x + messageBox.width <= dockBox.x + dockBox.width + 1, "the message ends inside the dock");
      assert.equal((await message.textContent()).trim(), LONG, "the whole message is in the row");
      await page.screenshot({ path: screenshotPath("console-shell-dock-1024.png") });

      // The choice to expand is remembered over the width.
      await page.getByRole("button", { name: "Expand sidebar" }).click();
      await page.reload();
      await page.getByRole("button", { name: "Collapse sidebar" }).waitFor();
      assert.equal(await shell.evaluate((el) => el.classList.contains("sidebar-collapsed")), false);
      await page.getByRole("button", { name: "Collapse sidebar" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
    });
  });

  test("a creator sees what they can see, naming their project, and no dock control", async () => {
    const projectName = `${RUN} shell studio`;
    const own = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: projectName } });
    await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: `${RUN} shell elsewhere` } });
    const login = { email: `shell-${RUN}@e2e.test`, password: "console-shell-passphrase-1" };
    const creator = await api(server, "/admin/users", { method: "POST", token: adminToken, body: { ...login, role: "creator" } });
    await api(server, `/admin/projects/${own.id}/members`, { method: "POST", token: adminToken, body: { user_id: creator.id } });

    const { context, pageErrors } = await zonedContext();
    const cpage = await context.newPage();
    try {
      await withFailureShot("creator", cpage, async () => {
        await uiLogin(cpage, login);
        await cpage.waitForURL("**/tools/activity-console");
        const note = cpage.getByRole("note", { name: "What you can see" });
        await note.waitFor();
        const text = await note.textContent();
        assert.ok(text.includes(projectName), `the note names the project: ${text}`);
        assert.ok(text.includes("system entries"), `the note mentions system entries: ${text}`);
        assert.ok(!text.includes(`${RUN} shell elsewhere`), "the note names only the creator's projects");
        await waitLive(cpage);
        assert.equal(await cpage.getByRole("button", { name: "Console", exact: true }).count(), 0, "no dock control for a creator");
        await cpage.screenshot({ path: screenshotPath("console-shell-creator.png") });
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
