// End-to-end test of the console's query language in history against the real server on a real
// PostgreSQL, in Debian's Chromium: an attribute term with a level comparison selects only the
// matching records; a bad query shows the server's message under the bar with a caret at its
// position; a facet value filters for, an entry-detail value filters out.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, api, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, newContext, screenshotPath, sendLogs, startServer, uiLogin, readQueryError, until } from "./harness.mjs";

let server;
let browser;
let admin;
let page;

const TAG = `${RUN}q`;
const withFailureShot = failureShotsNamed("query-");

const history = () => page.getByRole("region", { name: "History" });
const table = () => history().getByRole("table", { name: "History results" });
const rowsOf = (text) => table().locator("tbody tr", { hasText: text });
const bar = () => history().getByRole("combobox", { name: "History query" });

/** Types a query into the bar and applies it with Enter: it is in the URL when this returns. */
async function runQuery(q) {
  await bar().fill(q);
  await bar().press("Enter");
  await until(() => new URL(page.url()).searchParams.get("q"), q, "the applied query in the URL");
}

const shownRows = async () => (await rowsOf(TAG).allInnerTexts()).map((t) => /\b(alpha|beta|gamma|delta)\b/.exec(t)?.[1]).sort();
const waitRows = (expected) => until(shownRows, [...expected].sort(), "history rows");

describe("query language in the console end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    const token = await apiLogin(server, ADMIN);
    await fastFlush(server, token);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await sendLogs(server, {
      records: [
        { message: `${TAG} alpha`, level: "error", fields: { gpu: 1, node: "node a" } },
        { message: `${TAG} beta`, level: "info", fields: { gpu: 1, node: "node b" } },
        { message: `${TAG} gamma`, level: "warn", fields: { gpu: 2, node: "node a" } },
        { message: `${TAG} delta`, level: "warn", fields: { gpu: 1, node: "node b" } },
      ],
    });
    // The writer adds keys to the catalogue every few seconds; the page reads it once a minute.
    const catalogueHasNode = async () => (await api(server, "/activity-logs/keys", { token })).data.some((k) => k.key === "node");
    await until(catalogueHasNode, true, "the key catalogue lists node", 15_000);
  });

  after(() => endRun({ browser, server, admin }, "the history page"));

  test("an attribute term with a level comparison shows only the matching rows", async () => {
    await withFailureShot("attribute", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console?mode=verbose&search=${encodeURIComponent(TAG)}`);
      await waitRows(["alpha", "beta", "gamma", "delta"]);
      await runQuery("gpu:1 level>=warn");
      await waitRows(["alpha", "delta"]);
      assert.equal(new URL(page.url()).searchParams.get("q"), "gpu:1 level>=warn");
      // The bar offers keys from the catalogue as they are typed.
      await bar().fill("gpu:1 level>=warn no");
      await history().getByRole("option", { name: "node" }).waitFor();
      await page.screenshot({ path: screenshotPath("query-bar.png") });
      await bar().press("Escape");
      assert.equal(await history().getByRole("listbox").count(), 0);
    });
  });

  test("a bad query shows the server's message with a caret at its position", async () => {
    await withFailureShot("error", page, async () => {
      await runQuery("gpu:1 (level:warn");
      const { text, position } = await readQueryError(history());
      assert.ok(position >= 6, `the error points into the group, not at its start (${position})`);
      assert.match(text, /expected/i);
      await page.screenshot({ path: screenshotPath("query-error.png") });
    });
  });

  test("a facet value filters for, an entry-detail value filters out", async () => {
    await withFailureShot("facets", page, async () => {
      await runQuery("gpu:1");
      await waitRows(["alpha", "beta", "delta"]);
      await history().getByRole("button", { name: "Filter for level warn" }).click();
      await waitRows(["delta"]);
      assert.equal(new URL(page.url()).searchParams.get("q"), "gpu:1 level:warn");
      await page.screenshot({ path: screenshotPath("facets.png") });

      await runQuery("gpu:1");
      await waitRows(["alpha", "beta", "delta"]);
      await rowsOf(`${TAG} beta`).getByRole("button", { name: /^Details of entry/ }).click();
      await history().getByRole("button", { name: "Filter out node node b" }).first().click();
      await waitRows(["alpha"]);
      assert.equal(new URL(page.url()).searchParams.get("q"), 'gpu:1 -node:"node b"');
    });
  });
});
