// Drives Debian's Chromium through playwright-core (no downloaded browsers) to look at the console:
// `node scripts/screenshots.mjs http://127.0.0.1:4173 /tmp/shots` against the mock or the real server.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.argv[2] ?? "http://127.0.0.1:4173";
const out = process.argv[3] ?? "/tmp/shots";
const email = process.env.CONSOLE_EMAIL ?? "admin@localhost";
const password = process.env.CONSOLE_PASSWORD ?? "admin";
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("region", { name: "Live activity console" }).waitFor();
  await page.waitForTimeout(2500);
  await page.screenshot({ path: `${out}/console-page.png` });

  // Scroll the live list up: the paused state and "Jump to latest" must be obvious.
  const list = page.getByRole("log", { name: "Log entries" });
  await list.hover();
  await page.mouse.wheel(0, -600);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${out}/console-paused.png` });
  await page.getByRole("button", { name: /Jump to latest/ }).click();

  // Expand one row.
  await page.getByRole("log").getByRole("button").last().click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/console-expanded.png` });

  // Trace view from the expanded row, and the context dialog.
  const traceLink = page.getByRole("link", { name: /^Open trace/ }).first();
  if (await traceLink.count()) {
    await traceLink.click();
    await page.getByRole("table", { name: "Trace entries" }).waitFor();
    await page.screenshot({ path: `${out}/trace.png` });
    await page.goBack();
    await page.getByRole("region", { name: "Live activity console" }).waitFor();
  }

  // Docked panel on another page, then the right dock, then the light theme.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.waitForURL("**/settings");
  await page.getByRole("heading", { name: "Settings" }).waitFor();
  await page.getByRole("button", { name: "Console", exact: true }).click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${out}/settings-docked-bottom.png` });
  await page.getByRole("button", { name: "Dock on the right" }).click();
  await page.getByRole("button", { name: "Switch to light theme" }).click();
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${out}/settings-docked-right-light.png` });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
}
