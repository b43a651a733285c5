// End-to-end test of the live pane's query bar against the real server on a real PostgreSQL, in
// Debian's Chromium: records with attributes sent through the OTel SDK; an attribute term with a
// level comparison typed into the live bar leaves only the matching rows, and of two records sent
// afterwards only the matching one appears live; the query sits in the URL as `live_q` and the page
// reopens with it; a bad query shows the server's message under the live bar with a caret while the
// tail keeps the previous query; with Sync on history shows the same query, with Sync off the panes
// go their own ways and the URL says `sync=off`; at 1024×700 in the light theme the bar fits.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN, RUN, api, apiLogin, endRun, failureShotsNamed, fastFlush, launchBrowser, liveLog, newContext, screenshotPath, sendLogs, startServer, uiLogin, readQueryError, until, waitLive } from "./harness.mjs";

let server;
let browser;
let admin;
let page;
let token;

const TAG = `${RUN}lq`;
const QUERY = "gpu:1 level>=warn";
const withFailureShot = failureShotsNamed("live-query-");
const NAMES = /\b(alpha|beta|gamma|delta|epsilon|zeta|eta|theta)\b/;

const live = () => page.getByRole("region", { name: "Live activity console" });
const liveBar = () => live().getByRole("combobox", { name: "Live query" });
const history = () => page.getByRole("region", { name: "History" });
const historyBar = () => history().getByRole("combobox", { name: "History query" });
const syncToggle = () => live().getByRole("button", { name: "Sync" });
const urlParams = () => new URL(page.url()).searchParams;

const names = (texts) => texts.map((t) => NAMES.exec(t)?.[1]).filter(Boolean).sort();
const liveNames = async () => names(await liveLog(page).locator(".log-row", { hasText: TAG }).allInnerTexts());
const historyNames = async () =>
  names(await history().getByRole("table", { name: "History results" }).locator("tbody tr", { hasText: TAG }).allInnerTexts());

const waitLiveRows = (expected) => until(liveNames, [...expected].sort(), "live rows");
const waitHistoryRows = (expected) => until(historyNames, [...expected].sort(), "history rows");

async function applyLive(q) {
  await liveBar().fill(q);
  await liveBar().press("Enter");
}

/** Sends one record and waits until the server has stored it (the SDK call returns once written). */
const send = (name, level, fields) => sendLogs(server, { records: [{ message: `${TAG} ${name}`, level, fields }] });

describe("the live pane's query, its URL and Sync end to end", { concurrency: 1 }, () => {
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    token = await apiLogin(server, ADMIN);
    await fastFlush(server, token);
    admin = await newContext(browser, server);
    page = await admin.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await sendLogs(server, {
      records: [
        { message: `${TAG} alpha`, level: "error", fields: { gpu: 1 } },
        { message: `${TAG} beta`, level: "info", fields: { gpu: 1 } },
        { message: `${TAG} gamma`, level: "warn", fields: { gpu: 2 } },
        { message: `${TAG} delta`, level: "warn", fields: { gpu: 1 } },
      ],
    });
  });

  after(() => endRun({ browser, server, admin }, "the console page"));

  test("the live bar filters the tail on the server, new records included, and sits in the URL", async () => {
    await withFailureShot("filter", page, async () => {
      await uiLogin(page, ADMIN);
      await page.goto(`/tools/activity-console?live_mode=verbose&live_search=${encodeURIComponent(TAG)}`);
      await waitLive(page);
      await waitLiveRows(["alpha", "beta", "gamma", "delta"]);
      // Sync is on by default, and history opened on the live pane's filters.
      assert.equal(await syncToggle().getAttribute("aria-pressed"), "true");
      await waitHistoryRows(["alpha", "beta", "gamma", "delta"]);

      await applyLive(QUERY);
      // The recent page is read again with the query: only the matching stored records.
      await waitLiveRows(["alpha", "delta"]);
      // Sent one after the other, so once epsilon is shown zeta (stored first) has had its chance.
      await send("zeta", "error", { gpu: 2 });
      await send("epsilon", "warn", { gpu: 1 });
      await waitLiveRows(["alpha", "delta", "epsilon"]);
      const stored = await api(server, `/activity-logs?search=${encodeURIComponent(`${TAG} zeta`)}&per_page=5`, { token });
      assert.equal(stored.data.length, 1, "zeta is stored, only filtered out of the live tail");

      await until(() => urlParams().get("live_q"), QUERY, "live_q in the URL");
      // Sync: history runs the same query (its own time range).
      await until(() => urlParams().get("q"), QUERY, "q in the URL");
      assert.equal(await historyBar().inputValue(), QUERY);
      // History is read when its filters change or on Refresh (epsilon came after the query did).
      await history().getByRole("button", { name: "Refresh" }).click();
      await waitHistoryRows(["alpha", "delta", "epsilon"]);
      await page.screenshot({ path: screenshotPath("live-query.png") });

      await page.reload();
      await waitLive(page);
      assert.equal(await liveBar().inputValue(), QUERY);
      await waitLiveRows(["alpha", "delta", "epsilon"]);
      assert.equal(urlParams().get("live_q"), QUERY);
      // A later record still arrives under the query read from the URL, a non-matching one does not.
      await send("eta", "info", { gpu: 1 });
      await send("theta", "warn", { gpu: 1 });
      await waitLiveRows(["alpha", "delta", "epsilon", "theta"]);
    });
  });

  test("a bad live query shows the server's message with a caret; the tail keeps the previous query", async () => {
    await withFailureShot("error", page, async () => {
      await applyLive("gpu:1 (level:warn");
      const error = live().locator(".query-error");
      const { text, position } = await readQueryError(live());
      assert.ok(position >= 6, `the error points into the group, not at its start (${position})`);
      assert.match(text, /expected/i);
      assert.equal(await liveBar().getAttribute("aria-invalid"), "true");
      await live().getByText(`The live tail keeps its previous query: ${QUERY}`).waitFor();
      await page.screenshot({ path: screenshotPath("live-query-error.png") });
      // Still the previous query: the rows stay, a matching record comes in, a non-matching one does not.
      await send("beta", "info", { gpu: 2 });
      await send("epsilon", "error", { gpu: 1 });
      await until(async () => (await liveNames()).length, 5, "five live rows");
      assert.deepEqual(await liveNames(), ["alpha", "delta", "epsilon", "epsilon", "theta"]);

      await applyLive(QUERY);
      await until(() => error.count(), 0, "the error goes with a good query");
      await until(() => historyBar().inputValue(), QUERY, "history follows (Sync)");
    });
  });

  test("Sync off: each pane has its own query, and the URL says sync=off", async () => {
    await withFailureShot("sync", page, async () => {
      await syncToggle().click();
      // The toggle reads the URL, which the router updates in a transition: not always by the
      // time the click returns on a loaded machine.
      await until(() => syncToggle().getAttribute("aria-pressed"), "false", "the toggle shows off");
      await until(() => urlParams().get("sync"), "off", "sync=off in the URL");

      await applyLive("gpu:2");
      await waitLiveRows(["beta", "gamma", "zeta"]);
      await until(() => urlParams().get("live_q"), "gpu:2", "live_q in the URL");
      assert.equal(urlParams().get("q"), QUERY, "history's query stays");
      assert.equal(await historyBar().inputValue(), QUERY);

      await historyBar().fill("level:error");
      await historyBar().press("Enter");
      await waitHistoryRows(["alpha", "epsilon", "zeta"]);
      assert.equal(await liveBar().inputValue(), "gpu:2", "the live query stays");
      assert.equal(urlParams().get("live_q"), "gpu:2");

      await page.reload();
      await waitLive(page);
      assert.equal(await syncToggle().getAttribute("aria-pressed"), "false");
      assert.equal(await liveBar().inputValue(), "gpu:2");
      assert.equal(await historyBar().inputValue(), "level:error");
      await waitLiveRows(["beta", "gamma", "zeta"]);

      // On again: history takes the live pane's query.
      await syncToggle().click();
      await until(() => urlParams().get("q"), "gpu:2", "history follows the live query");
      assert.equal(urlParams().has("sync"), false);
      await waitHistoryRows(["beta", "gamma", "zeta"]);
    });
  });

  test("at 1024×700 in the light theme the live bar fits without sideways scrolling", async () => {
    await withFailureShot("light-1024", page, async () => {
      await applyLive(QUERY);
      await waitLiveRows(["alpha", "delta", "epsilon", "epsilon", "theta"]);
      await page.getByRole("button", { name: "Switch to light theme" }).click();
      await page.setViewportSize({ width: 1024, height: 700 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
      const bar = await liveBar().boundingBox();
      const toggle = await syncToggle().boundingBox();
      assert.ok(bar && toggle && toggle.x + toggle.width <= 1024, `the Sync toggle is off screen (${JSON.stringify(toggle)})`);
      await page.screenshot({ path: screenshotPath("live-query-light-1024.png") });
      await page.getByRole("button", { name: "Switch to dark theme" }).click();
      await page.setViewportSize({ width: 1440, height: 900 });
    });
  });
});
