// End-to-end test of the People page against the real server on a real PostgreSQL, in Debian's
// Chromium: an admin creates a creator and a project with that creator as a member through the
// page, and the creator, signed in in a browser context of their own, sees their project's entries
// and system entries only.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, api, apiLogin, endRun, failureShotsNamed, launchBrowser, newContext, screenshotPath, sendLogs, startServer, uiLogin } from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page; // the admin's page
let adminToken;

const CREATOR = { email: `people-${RUN}@e2e.test`, password: "people-page-passphrase-1" };
const PROJECT = `${RUN} studio`;

const withFailureShot = failureShotsNamed("people-");

describe("people admin end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    adminToken = await apiLogin(server, ADMIN);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  after(() => endRun({ browser, server, admin }, "the admin's page"));

  test("the admin creates a creator and a project with that member on the People page", async () => {
    await withFailureShot("admin", page, async () => {
      await uiLogin(page, ADMIN);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "People" }).click();
      await page.waitForURL("**/admin/people");
      await page.getByRole("heading", { name: "People", level: 1 }).waitFor();

      const userForm = page.getByRole("form", { name: "Create user" });
      await userForm.getByLabel("Email").fill(CREATOR.email);
      await userForm.getByLabel("Role").selectOption("creator");
      // A password the API refuses: its message is shown inline.
      await userForm.getByLabel("Password").fill("short");
      await userForm.getByRole("button", { name: "Create user" }).click();
      await userForm.getByRole("alert").filter({ hasText: "at least" }).waitFor();
      await userForm.getByLabel("Password").fill(CREATOR.password);
      await userForm.getByRole("button", { name: "Create user" }).click();
      const users = page.getByRole("table", { name: "Users" });
      await users.locator("tbody tr", { hasText: CREATOR.email }).waitFor();

      const projectForm = page.getByRole("form", { name: "Create project" });
      await projectForm.getByLabel("Project name").fill(PROJECT);
      await projectForm.getByRole("button", { name: "Create project" }).click();
      await page.getByRole("heading", { name: PROJECT }).waitFor();
      await page.getByLabel(`User to add to ${PROJECT}`).selectOption({ label: CREATOR.email });
      await page.locator(".project-item", { hasText: PROJECT }).getByRole("button", { name: "Add member" }).click();
      await page.getByRole("list", { name: `Members of ${PROJECT}` }).getByText(CREATOR.email).waitFor();

      // The server agrees.
      const projects = await api(server, "/admin/projects", { token: adminToken });
      const created = projects.data.find((p) => p.name === PROJECT);
      const creator = (await api(server, "/admin/users", { token: adminToken })).data.find((u) => u.email === CREATOR.email);
      assert.equal(creator.role, "creator");
      assert.deepEqual(created.member_ids, [creator.id]);

      // The last admin cannot be demoted: the API's reason shows in the dialog.
      await users.getByRole("button", { name: `Make creator: ${ADMIN.email}` }).click();
      const dialog = page.getByRole("dialog", { name: `Make ${ADMIN.email} a creator?` });
      await dialog.getByRole("button", { name: "Make creator" }).click();
      await dialog.getByRole("alert").filter({ hasText: "last admin" }).waitFor();
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });

      await page.screenshot({ path: screenshotPath("people-admin.png"), fullPage: true });
      await page.getByRole("button", { name: "Switch to light theme" }).click();
      await page.setViewportSize({ width: 1024, height: 700 });
      await page.screenshot({ path: screenshotPath("people-admin-light-1024.png"), fullPage: true });
      await page.getByRole("button", { name: "Switch to dark theme" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
    });
  });

  test("the new creator signs in and sees only their project's entries and system entries", async () => {
    const other = await api(server, "/admin/projects", { method: "POST", token: adminToken, body: { name: `${RUN} elsewhere` } });
    const own = (await api(server, "/admin/projects", { token: adminToken })).data.find((p) => p.name === PROJECT);
    const { context, pageErrors } = await newContext(browser, server);
    const cpage = await context.newPage();
    try {
      await withFailureShot("creator", cpage, async () => {
        await uiLogin(cpage, CREATOR);
        await cpage.waitForURL("**/tools/activity-console");
        const nav = cpage.getByRole("navigation", { name: "Main" });
        assert.equal(await nav.getByRole("link", { name: "People" }).count(), 0, "a creator has no People entry");

        const OWN = `${RUN} people own project`;
        const OTHER = `${RUN} people other project`;
        const SYSTEM = `${RUN} people system`;
        await sendLogs(server, {
          records: [
            { message: OTHER, project_id: other.id },
            { message: OWN, project_id: own.id },
            { message: SYSTEM },
          ],
        });
        const stored = await api(server, `/activity-logs?search=${encodeURIComponent(`${RUN} people`)}`, { token: adminToken });
        assert.equal(stored.data.length, 3, "the admin sees all three entries");

        const history = cpage.getByRole("region", { name: "History" });
        await history.getByLabel("Search history").fill(`${RUN} people`);
        const table = history.getByRole("table", { name: "History results" });
        await table.locator("tbody tr", { hasText: OWN }).waitFor();
        await table.locator("tbody tr", { hasText: SYSTEM }).waitFor();
        await history.getByRole("navigation", { name: "Pagination" }).getByText("2 entries", { exact: true }).waitFor();
        assert.equal(await table.locator("tbody tr", { hasText: OTHER }).count(), 0, "another project's entry in the creator's history");

        // The page itself is closed to creators, and so is the API behind it.
        await cpage.goto("/admin/people");
        await cpage.getByRole("heading", { name: "Not allowed" }).waitFor();
        const creatorToken = await apiLogin(server, CREATOR);
        await assert.rejects(api(server, "/admin/users", { token: creatorToken }), /HTTP 403/);
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
