// End-to-end test of history's saved views against the real server on a real PostgreSQL, in
// Debian's Chromium: the admin saves a query, range and mode as a view, reopens it by `?view=<id>`,
// renames it (a name in use is refused in words), shares it with a project; a creator in that
// project sees it marked as shared, opens it under their own scope and is offered no change.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, api, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, newContext, screenshotPath, sendLogs, startServer, uiLogin, until } from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page; // the admin's page
let adminToken;
let project;

const TAG = `${RUN}v`;
const QUERY = `${TAG} level:error`;
const NAME = "run errors";
const RENAMED = "run errors, renamed";
const TAKEN = "second view";
const PROJECT = `${RUN} views studio`;
const CREATOR = { email: `views-${RUN}@e2e.test`, password: "views-creator-passphrase-1" };

const withFailureShot = failureShotsNamed("views-");

const history = (p) => p.getByRole("region", { name: "History" });
const bar = (p) => history(p).getByRole("combobox", { name: "History query" });
const menu = (p) => history(p).getByRole("dialog", { name: "Saved views" });
const viewItem = (p, name) => menu(p).getByRole("listitem").filter({ has: p.getByRole("button", { name, exact: true }) });
const urlParams = (p) => new URL(p.url()).searchParams;

/** Opens the Views menu (once open, its list is read afresh). */
async function openMenu(p) {
  await history(p).getByRole("button", { name: "Views", exact: true }).click();
  await menu(p).waitFor();
}

/** Waits until history's rows of this run are exactly `expected` (own, other, system, quiet). */
async function waitRows(p, expected) {
  const rows = history(p).getByRole("table", { name: "History results" }).locator("tbody tr", { hasText: TAG });
  const shown = async () => (await rows.allInnerTexts()).map((t) => /\b(own|other|system|quiet)\b/.exec(t)?.[1]).sort();
  await until(shown, [...expected].sort(), "history rows");
}

/** The admin's view named `name`, as the API has it. */
async function storedView(name) {
  return (await api(server, "/views", { token: adminToken })).data.find((v) => v.name === name);
}

describe("saved views: rename and share end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    adminToken = await apiLogin(server, ADMIN);
    await fastFlush(server, adminToken);
    project = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: PROJECT } });
    const other = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: `${RUN} views elsewhere` } });
    const creator = await api(server, "/admin/users", { method: "POST", token: adminToken, body: { ...CREATOR, role: "creator" } });
    await api(server, `/admin/projects/${project.id}/members`, { method: "POST", token: adminToken, body: { user_id: creator.id } });
    await sendLogs(server, {
      records: [
        { message: `${TAG} own`, level: "error", project_id: project.id },
        { message: `${TAG} other`, level: "error", project_id: other.id },
        { message: `${TAG} system`, level: "error" },
        { message: `${TAG} quiet`, level: "info", project_id: project.id },
      ],
    });
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  after(() => endRun({ browser, server, admin }, "the admin's page"));

  test("the admin saves a view and reopens it by ?view=<id>: query, range and mode", async () => {
    await withFailureShot("save", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto("/tools/activity-console");
      await bar(page).fill(QUERY);
      await bar(page).press("Enter");
      await history(page).getByRole("button", { name: "Last 1h" }).click();
      await history(page).getByRole("radiogroup", { name: "History mode" }).getByRole("radio", { name: "All" }).click();
      await waitRows(page, ["own", "other", "system"]);

      await openMenu(page);
      await menu(page).getByRole("textbox", { name: "View name" }).fill(NAME);
      await menu(page).getByRole("button", { name: "Save current" }).click();
      await viewItem(page, NAME).waitFor();
      const saved = await storedView(NAME);
      assert.deepEqual([saved.q, saved.range_from, saved.range_to, saved.mode], [QUERY, "now-1h", null, "verbose"]);

      await page.goto(`/tools/activity-console?view=${saved.id}`);
      await waitRows(page, ["own", "other", "system"]);
      assert.equal(urlParams(page).get("q"), QUERY);
      assert.equal(urlParams(page).get("from"), "now-1h");
      assert.equal(urlParams(page).get("mode"), "verbose");
      assert.equal(urlParams(page).get("view"), null, "the view's id gives way to its filters");
      assert.equal(await bar(page).inputValue(), QUERY);
      assert.equal(await history(page).getByRole("button", { name: "Last 1h" }).getAttribute("aria-pressed"), "true");
      assert.equal(await history(page).getByRole("radio", { name: "All" }).getAttribute("aria-checked"), "true");
    });
  });

  test("the owner renames the view: a name in use is refused next to the field, Esc cancels, Enter saves", async () => {
    await withFailureShot("rename", page, async () => {
      await api(server, "/views", { method: "POST", token: adminToken, body: { name: TAKEN, q: "" } });
      await openMenu(page);
      await viewItem(page, TAKEN).waitFor();

      await menu(page).getByRole("button", { name: `Rename view ${NAME}` }).click();
      const field = menu(page).getByRole("textbox", { name: `New name for view ${NAME}` });
      await field.fill(TAKEN);
      await field.press("Enter");
      // Said next to the field (the name's button is the field while renaming).
      await menu(page).getByRole("alert").filter({ hasText: `A view named "${TAKEN}" exists already` }).waitFor();
      assert.equal(await field.getAttribute("aria-invalid"), "true");
      // Esc: back to the name, focus on Rename, the menu still open.
      await field.press("Escape");
      await field.waitFor({ state: "detached" });
      await page.waitForFunction((name) => document.activeElement?.getAttribute("aria-label") === `Rename view ${name}`, NAME);
      assert.equal((await storedView(NAME))?.name, NAME);

      // By keyboard: Enter on the focused Rename button, type, Enter.
      await page.keyboard.press("Enter");
      await field.fill(RENAMED);
      await field.press("Enter");
      await viewItem(page, RENAMED).waitFor();
      assert.equal(await menu(page).getByRole("textbox", { name: /^New name for view/ }).count(), 0);
      assert.ok(await storedView(RENAMED), "the server has the new name");
      assert.equal(await storedView(NAME), undefined);
    });
  });

  test("the admin shares the view with a project; the menu fits at 1024×700 in the light theme", async () => {
    await withFailureShot("share", page, async () => {
      const share = menu(page).getByRole("combobox", { name: `Share view ${RENAMED} with` });
      assert.equal(await share.inputValue(), "", "not shared yet");
      await share.selectOption({ label: PROJECT });
      await until(async () => (await storedView(RENAMED)).project_id, project.id, "the server has the view shared");
      assert.equal((await storedView(RENAMED)).project_name, PROJECT);
      await until(() => share.inputValue(), String(project.id), "the menu shows the share");
      await page.screenshot({ path: screenshotPath("views-menu.png") });

      await page.getByRole("button", { name: "Switch to light theme" }).click();
      await page.setViewportSize({ width: 1024, height: 700 });
      await menu(page).getByRole("button", { name: `Rename view ${RENAMED}` }).click();
      const field = menu(page).getByRole("textbox", { name: `New name for view ${RENAMED}` });
      await field.waitFor();
      await menu(page).scrollIntoViewIfNeeded();
      const box = await menu(page).boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= 1024, `the menu fits across: ${JSON.stringify(box)}`);
      assert.ok(box.height <= 700, `the menu fits in the window's height: ${box.height}`);
      for (const control of [field, share]) {
        const b = await control.boundingBox();
        assert.ok(b.x >= box.x && b.x + b.width <= box.x + box.width + 0.5, `a control sticks out of the menu: ${JSON.stringify(b)}`);
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(overflow, 0, "the page scrolls sideways");
      await page.screenshot({ path: screenshotPath("views-light-1024.png") });
      await field.press("Escape");
      await page.getByRole("button", { name: "Switch to dark theme" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
    });
  });

  test("a creator in the project sees the shared view, opens it under their own scope, and may not change it", async () => {
    const { context, pageErrors } = await newContext(browser, server);
    const cpage = await context.newPage();
    await cpage.setViewportSize({ width: 1440, height: 900 });
    try {
      await withFailureShot("creator", cpage, async () => {
        await uiLogin(cpage, CREATOR);
        await cpage.goto("/tools/activity-console");
        await openMenu(cpage);
        const item = viewItem(cpage, RENAMED);
        await item.getByText(`shared in ${PROJECT} by ${ADMIN.email}`).waitFor();
        assert.equal(await viewItem(cpage, TAKEN).count(), 0, "the admin's unshared view is not listed");
        for (const name of [`Rename view ${RENAMED}`, `Delete view ${RENAMED}`]) {
          assert.equal(await menu(cpage).getByRole("button", { name }).count(), 0, `${name} is offered`);
        }
        assert.equal(await menu(cpage).getByRole("combobox").count(), 0, "a share control is offered");
        await cpage.screenshot({ path: screenshotPath("views-shared.png") });

        await item.getByRole("button", { name: RENAMED, exact: true }).click();
        await menu(cpage).waitFor({ state: "detached" });
        // The view's query, under the creator's scope: their project's and system entries only.
        await waitRows(cpage, ["own", "system"]);
        assert.equal(urlParams(cpage).get("q"), QUERY);
        assert.equal(await bar(cpage).inputValue(), QUERY);

        // The server refuses a change, too.
        const creatorToken = await apiLogin(server, CREATOR);
        const id = (await storedView(RENAMED)).id;
        await assert.rejects(api(server, `/views/${id}`, { method: "PATCH", token: creatorToken, body: { name: "mine now" } }), /HTTP 403/);
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
