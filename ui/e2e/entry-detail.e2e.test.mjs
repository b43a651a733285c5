// End-to-end tests of the entry detail (issue 13): a record with a real Python stack trace and a
// 20 kB message, sent through the OpenTelemetry SDK, read in full in the live panel and on its own
// page, copied, and used to filter the live tail. Real server, real PostgreSQL, Debian's Chromium.
// Run: `npm run e2e` in ui/ (needs the Python venv at ../.venv and a built ui/dist).
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ADMIN,
  REPO,
  RUN,
  apiLogin,
  endRun,
  failureShotsNamed,
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
} from "./harness.mjs";

let server;
let browser;
let admin; // { context, pageErrors }
let page;
let entryPage; // the permalink, opened in a new tab

const CRASH_HEAD = `${RUN} render of prompt 7f3a crashed on gpu-2`;
const OTHER = `${RUN} comfyui queue drained`;
/** About 20 kB: prose lines, one 600-character token with no break opportunity, and an end marker. */
const CRASH_MESSAGE = (() => {
  const lines = [CRASH_HEAD, `payload=${"QUJDRA".repeat(100)}`];
  for (let i = 1; lines.join("\n").length < 19_900; i++) {
    lines.push(`step ${String(i).padStart(3, "0")}: sampler KSampler denoise 0.75 cfg 7.0 seed ${1000 + i} latent (1, 4, 128, 128) ok`);
  }
  lines.push(`${RUN} END OF MESSAGE`);
  return lines.join("\n");
})();

const withFailureShot = failureShotsNamed("entry-detail-");

async function setTheme(p, theme) {
  const toggle = p.getByRole("button", { name: `Switch to ${theme} theme` });
  if (await toggle.count()) await toggle.click();
  await p.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
}

/** Scrolls the live list (only it, not the page) so that the row's top is at the list's top. */
const scrollLogTo = (row) =>
  row.evaluate((el) => {
    const log = el.closest('[role="log"]');
    log.scrollTop += el.getBoundingClientRect().top - log.getBoundingClientRect().top;
  });

/** Whether an element's content fits its width (nothing cut off at the right). */
const fitsWidth = (locator) => locator.evaluate((el) => el.scrollWidth <= el.clientWidth + 1);

describe("entry detail end to end", { concurrency: 1 }, () => {
  let crashId;

  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    const token = await apiLogin(server, ADMIN);
    await fastFlush(server, token);
    admin = await newContext(browser, server);
    await admin.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
    page = await admin.context.newPage();
    await uiLogin(page, ADMIN);
    // A taller live pane than the default split, so the screenshots show an expanded entry.
    await page.evaluate(() => localStorage.setItem("activity-console:page-split", "640"));
    await page.goto("/tools/activity-console");
    await waitLive(page);
  });

  after(() => endRun({ browser, server, admin }, "the admin's pages"));

  test("a 20 kB message with a real Python stack trace reads in full in the live panel", async () => {
    await withFailureShot("live", page, async () => {
      await sendLogs(server, {
        records: [
          {
            message: CRASH_MESSAGE,
            level: "error",
            source: "worker",
            project_id: 7,
            trace: true,
            python_exception: true,
            fields: { node: "KSampler", attempt: 2, retried: false, gpu: { index: 0, name: "A100" }, tags: ["sdxl", "batch"] },
          },
          { message: OTHER, level: "info", source: "comfyui" },
        ],
      });
      await liveRow(page, OTHER).waitFor();
      const row = liveRow(page, CRASH_HEAD);
      await row.locator(".log-line").click();
      // The server shortened it for the live tail (8,192 characters); the full entry loads on demand.
      await row.getByRole("note").filter({ hasText: `message ${CRASH_MESSAGE.length.toLocaleString("en-US")} characters` }).waitFor();
      await row.getByRole("button", { name: "Load full entry" }).click();
      const message = row.getByRole("region", { name: "Full message" });
      await message.waitFor();
      assert.equal(await message.textContent(), CRASH_MESSAGE, "the whole message, every character");
      assert.equal(await message.evaluate((el) => getComputedStyle(el).whiteSpace), "pre-wrap");
      assert.ok(await fitsWidth(message), "the message wraps, even its 600-character token: nothing cut off at the right");

      const trace = row.getByRole("region", { name: "Exception" }).getByRole("region", { name: "Stack trace" });
      const text = await trace.textContent();
      assert.match(text, /^Traceback \(most recent call last\):\n/);
      assert.match(text, /\nValueError: checkpoint '\/models\/ksampler\/sd_xl_base_1\.0\.safetensors' has an unexpected latent shape/);
      const frames = await trace.locator(".stack-frame").allTextContents();
      assert.equal(frames.length, 3, `one line per frame: ${JSON.stringify(frames)}`);
      for (const [i, fn] of ["_python_exception_attributes", "_run_node", "_load_checkpoint"].entries()) {
        assert.match(frames[i], new RegExp(`^  File ".*send_logs\\.py", line \\d+, in ${fn}$`));
      }
      // Each frame is its own line box: no two frames share a vertical position.
      const tops = await trace.locator(".stack-frame").evaluateAll((els) => els.map((el) => el.getBoundingClientRect().top));
      assert.equal(new Set(tops).size, 3);
      // A long line scrolls inside the code block; the panel itself never scrolls sideways.
      assert.equal(await trace.evaluate((el) => getComputedStyle(el).overflowX), "auto");
      assert.ok(await fitsWidth(liveLog(page)), "the live list has no horizontal overflow");

      const fields = row.getByRole("table", { name: "Fields" });
      assert.equal(await fields.locator('tr[data-path="gpu.name"] .kv-value').textContent(), "A100");
      assert.equal(await fields.locator('tr[data-path="attempt"] .kv-type').textContent(), "number");
      assert.equal(await fields.locator('tr[data-path="tags[1]"] .kv-value').textContent(), "batch");
      crashId = Number(await row.getByRole("table", { name: "Entry" }).locator('tr[data-path="id"] .kv-value').textContent());
      assert.ok(crashId > 0);

      await scrollLogTo(row);
      await page.screenshot({ path: screenshotPath("entry-detail-live-dark.png") });
    });
  });

  test("copy entry (JSON) and copy message put the whole entry on the clipboard", async () => {
    await withFailureShot("copy", page, async () => {
      const row = liveRow(page, CRASH_HEAD);
      const copyMessage = row.getByRole("button", { name: "Copy message" });
      await copyMessage.click();
      await copyMessage.filter({ hasText: "Copied" }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), CRASH_MESSAGE);

      await row.getByRole("button", { name: "Copy entry (JSON)" }).click();
      const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
      assert.equal(copied.id, crashId);
      assert.equal(copied.message, CRASH_MESSAGE);
      assert.equal(copied.fields["exception.type"], "ValueError");
      assert.equal(copied.truncated, undefined, "the full entry, not the shortened one");

      await row.getByRole("button", { name: "Copy value of gpu.name" }).click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "A100");
    });
  });

  test("its permalink opens the entry's own page in a new tab, whole, in both themes", async () => {
    await withFailureShot("page", page, async () => {
      const link = liveRow(page, CRASH_HEAD).getByRole("link", { name: `Open in new tab: entry ${crashId}` });
      assert.equal(await link.getAttribute("href"), `/tools/activity-console/entries/${crashId}`);
      [entryPage] = await Promise.all([admin.context.waitForEvent("page"), link.click()]);
      await entryPage.waitForURL(`**/tools/activity-console/entries/${crashId}`);
      await entryPage.getByRole("heading", { level: 1, name: `Entry #${crashId}` }).waitFor();
      const message = entryPage.getByRole("region", { name: "Message" });
      assert.equal(await message.textContent(), CRASH_MESSAGE);
      assert.equal(await entryPage.getByRole("region", { name: "Stack trace" }).locator(".stack-frame").count(), 3);
      assert.equal(await entryPage.getByRole("note").count(), 0, "the page has the full entry: no shortened notice");
      await entryPage.getByRole("link", { name: /^Open trace [0-9a-f]{32}$/ }).waitFor();

      for (const [theme, width, height] of [
        ["dark", 1440, 900],
        ["light", 1440, 900],
        ["light", 1024, 700],
        ["dark", 1024, 700],
      ]) {
        await entryPage.setViewportSize({ width, height });
        await setTheme(entryPage, theme);
        const noSideways = await entryPage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
        assert.ok(noSideways, `no horizontal page scroll at ${width}×${height}`);
        assert.ok(await fitsWidth(message), `the message wraps at ${width}×${height}`);
        const suffix = width === 1440 ? theme : `${theme}-${width}`;
        await entryPage.screenshot({ path: screenshotPath(`entry-detail-page-${suffix}.png`) });
      }
      mkdirSync(join(REPO, "docs", "img"), { recursive: true });
      copyFileSync(screenshotPath("entry-detail-page-dark.png"), join(REPO, "docs", "img", "entry-detail.png"));
    });
  });

  test("an id that does not exist says 'not found or not visible to you'", async () => {
    await withFailureShot("not-found", entryPage, async () => {
      await entryPage.goto(`/tools/activity-console/entries/${crashId + 100000}`);
      await entryPage
        .getByRole("alert")
        .filter({ hasText: `Entry #${crashId + 100000} was not found, or it is not visible to you.` })
        .waitFor();
      await entryPage.close();
    });
  });

  test("'filter for' on its source keeps only that source in the live tail", async () => {
    await withFailureShot("filter-for", page, async () => {
      await setTheme(page, "light");
      const row = liveRow(page, CRASH_HEAD);
      assert.ok(await liveRow(page, OTHER).isVisible(), "the other source's entry is there before");
      await row.getByRole("button", { name: "Filter for source worker" }).click();
      await liveRow(page, OTHER).waitFor({ state: "detached" });
      assert.ok(await row.isVisible(), "the entry's own source stays");
      const sources = page.getByRole("toolbar", { name: "Console filters" }).getByRole("group", { name: "Sources" });
      assert.equal(await sources.getByRole("button", { name: "Worker", exact: true }).getAttribute("aria-pressed"), "true");
      assert.equal(await sources.getByRole("button", { name: "ComfyUI", exact: true }).getAttribute("aria-pressed"), "false");
      await scrollLogTo(row);
      await page.screenshot({ path: screenshotPath("entry-detail-live-light.png") });

      // "Filter out" the level hides the entry itself.
      await row.getByRole("button", { name: "Filter out level error" }).click();
      await row.waitFor({ state: "detached" });
    });
  });
});
