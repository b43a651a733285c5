// Browser benchmark (issue 4): stream entries at a fixed rate into a 50,000-entry buffer and measure
// frames per second and the longest main-thread task in Debian's Chromium.
// `MOCK_RATE=2000 node scripts/mock-api.mjs 4174 & node scripts/bench-ui.mjs http://127.0.0.1:4174 20`
import { chromium } from "playwright-core";

const base = process.argv[2] ?? "http://127.0.0.1:4174";
const seconds = Number(process.argv[3] ?? 20);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.addInitScript(() => {
    localStorage.setItem("activity-console:panel", JSON.stringify({ state: { maxEntries: 50000, mode: "verbose" }, version: 1 }));
  });
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(process.env.CONSOLE_EMAIL ?? "admin@localhost");
  await page.getByLabel("Password").fill(process.env.CONSOLE_PASSWORD ?? "admin");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("region", { name: "Live activity console" }).waitFor();
  await page.waitForTimeout(1000);
  const result = await page.evaluate(async (ms) => {
    const longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: "longtask" });
    let frames = 0;
    let worstFrame = 0;
    let last = performance.now();
    const start = last;
    await new Promise((resolve) => {
      const tick = (now) => {
        frames++;
        worstFrame = Math.max(worstFrame, now - last);
        last = now;
        if (now - start < ms) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    const counts = document.querySelector(".console-counts")?.textContent;
    return { fps: (frames * 1000) / (performance.now() - start), worstFrameMs: worstFrame, longTasks: longTasks.length, longestTaskMs: Math.max(0, ...longTasks), counts };
  }, seconds * 1000);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
