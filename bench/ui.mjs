// Browser benchmark of the live console: entries stream at 2,000/s for 20 s into a
// 50,000-entry buffer while Chromium reports frames per second and the longest main-thread task.
// Goal: >= 50 fps and no task over 50 ms.
//
// It uses the MOCK API (ui/scripts/mock-api.mjs), not the real server: the mock serves the built
// console (ui/dist) and pushes generated entries over the same WebSocket protocol, in batches every
// 100 ms, so that the numbers measure the browser side (store, batching, virtualized list) only.
// The mock runs on the same machine as the browser, as a separate Node process.
//
//   cd ui && npm ci && npm run build        # once
//   node bench/ui.mjs                        # from the repo root (or `npm run bench` in ui/)
//   node bench/ui.mjs --rate 2000 --seconds 20 --buffer 50000 --warmup 0 [--url http://127.0.0.1:4174]
//
// --warmup S streams S seconds before measuring (e.g. 10, so that the buffer is full and evicting
// during the measured window); --trace FILE saves a Chromium performance trace of the measured
// window (open it in DevTools' Performance panel) and prints what the long tasks spent time in; --url measures against an already running mock or server instead of
// starting the mock. Chromium is Debian's /usr/bin/chromium (or $CHROMIUM) via ui/'s playwright-core.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../ui/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const { values: opt } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "20" },
    buffer: { type: "string", default: "50000" },
    warmup: { type: "string", default: "0" },
    url: { type: "string" },
    trace: { type: "string" },
  },
});
const rate = Number(opt.rate);
const seconds = Number(opt.seconds);
const buffer = Number(opt.buffer);
const warmup = Number(opt.warmup);

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startMock() {
  const mockScript = fileURLToPath(new URL("../ui/scripts/mock-api.mjs", import.meta.url));
  if (!existsSync(fileURLToPath(new URL("../ui/dist/index.html", import.meta.url)))) {
    throw new Error("ui/dist is missing: run `cd ui && npm run build` first");
  }
  const port = await freePort();
  const child = spawn(process.execPath, [mockScript, String(port)], {
    env: { ...process.env, MOCK_RATE: String(rate) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.on("exit", () => child.exitCode === null && child.kill("SIGKILL"));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the mock API did not start within 10 s")), 10_000);
    child.stdout.on("data", (d) => String(d).includes("mock API") && (clearTimeout(timer), resolve()));
    child.once("exit", (code) => reject(new Error(`the mock API exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

const mock = opt.url ? null : await startMock();
const base = opt.url ?? mock.url;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(15_000);
  await page.addInitScript((maxEntries) => {
    // Debug mode (every category) and the buffer size, as the console's own persisted preferences.
    localStorage.setItem("activity-console:panel", JSON.stringify({ state: { maxEntries, mode: "verbose" }, version: 1 }));
  }, buffer);
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(process.env.CONSOLE_EMAIL ?? "admin@localhost");
  await page.getByLabel("Password").fill(process.env.CONSOLE_PASSWORD ?? "admin");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("region", { name: "Live activity console" }).waitFor();
  await page.getByRole("status", { name: "Connection: Live" }).waitFor();
  if (warmup > 0) await page.waitForTimeout(warmup * 1000);
  if (opt.trace) {
    await browser.startTracing(page, { path: opt.trace, categories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.execute", "disabled-by-default-v8.gc", "blink.user_timing"] });
  }

  const result = await page.evaluate(async (ms) => {
    const counts = () => {
      const m = /Showing ([\d,]+) of ([\d,]+)/.exec(document.querySelector(".console-counts")?.textContent ?? "");
      return m ? Number(m[2].replace(/,/g, "")) : null;
    };
    const longTasks = [];
    const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
    observer.observe({ type: "longtask" });
    const frameTimes = [];
    const startCount = counts();
    let last = performance.now();
    const start = last;
    await new Promise((resolve) => {
      const tick = (now) => {
        frameTimes.push(now - last);
        last = now;
        if (now - start < ms) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    const elapsed = performance.now() - start;
    observer.disconnect();
    const sorted = [...frameTimes].sort((a, b) => a - b);
    return {
      fps: Math.round(((frameTimes.length * 1000) / elapsed) * 10) / 10,
      frames: frameTimes.length,
      p99FrameMs: Math.round(sorted[Math.floor(sorted.length * 0.99)] * 10) / 10,
      worstFrameMs: Math.round(sorted[sorted.length - 1] * 10) / 10,
      framesOver50ms: frameTimes.filter((t) => t > 50).length,
      longTasks: longTasks.length,
      longestTaskMs: Math.round(Math.max(0, ...longTasks)),
      bufferAtStart: startCount,
      bufferAtEnd: counts(),
      elapsedS: Math.round(elapsed) / 1000,
    };
  }, seconds * 1000);
  if (opt.trace) {
    await browser.stopTracing();
    summarizeTrace(opt.trace);
  }
  const ok = result.fps >= 50 && result.longestTaskMs <= 50;
  console.log(
    `${rate.toLocaleString()} entries/s for ${seconds} s (after ${warmup} s warm-up) into a ${buffer.toLocaleString()}-entry buffer` +
      `${mock ? " (mock API)" : ` (${base})`}: ${result.fps} fps, longest main-thread task ${result.longestTaskMs} ms ` +
      `(${result.longTasks} tasks over 50 ms), worst frame ${result.worstFrameMs} ms, p99 frame ${result.p99FrameMs} ms, ` +
      `buffer ${result.bufferAtStart?.toLocaleString()} → ${result.bufferAtEnd?.toLocaleString()} entries — goal ${ok ? "met" : "NOT met"}`,
  );
  console.log(JSON.stringify({ rate, seconds, buffer, warmup, ...result }));
} finally {
  await browser.close();
  if (mock) {
    mock.child.kill("SIGTERM");
  }
}

/** The long tasks (> 50 ms) on the renderer's main thread, with their heaviest nested events. */
function summarizeTrace(file) {
  const { traceEvents } = JSON.parse(readFileSync(file, "utf8"));
  const main = traceEvents.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain");
  const events = traceEvents.filter((e) => e.ph === "X" && main && e.pid === main.pid && e.tid === main.tid && e.dur);
  const tasks = events.filter((e) => e.name === "RunTask" && e.dur > 50_000);
  for (const task of tasks) {
    const inside = events.filter((e) => e !== task && e.ts >= task.ts && e.ts + e.dur <= task.ts + task.dur);
    const byName = new Map();
    for (const e of inside) byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur);
    const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, d]) => `${n} ${(d / 1000).toFixed(1)}`);
    console.log(`long task ${(task.dur / 1000).toFixed(1)} ms: ${top.join(", ")}`);
  }
  console.log(`trace saved to ${file} (${tasks.length} main-thread tasks over 50 ms)`);
}
