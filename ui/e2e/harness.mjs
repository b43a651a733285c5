// The end-to-end tests' fixtures: the real server (`activity-console serve`) on a fresh database,
// records sent through the real OpenTelemetry SDK (send_logs.py), the admin REST API, and Debian's
// Chromium driven by playwright-core.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "..", "..");
const VENV_BIN = join(REPO, ".venv", "bin");
const PYTHON = join(VENV_BIN, "python");
export const SCREENSHOTS = join(REPO, "test-artifacts", "screenshots");

export const ADMIN = { email: "admin@e2e.test", password: "e2e-console-passphrase" };

/** Runs a command to completion; resolves with its stdout, rejects with stderr on failure or timeout. */
function run(cmd, args, { timeoutMs = 30_000, env = process.env } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args[0]} exited with ${code ?? signal}: ${err.trim().slice(-2000)}`));
    });
  });
}

/**
 * Starts `activity-console serve` on free ports. With TEST_DATABASE_URL a fresh database
 * `ac_e2e_<pid>` is created on that server; otherwise the server starts its embedded PostgreSQL.
 * Resolves once the banner is printed, with the ports and the first-run ingest token from it.
 */
export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), "ac-e2e-"));
  const env = { ...process.env, ACTIVITY_ADMIN_EMAIL: ADMIN.email, ACTIVITY_ADMIN_PASSWORD: ADMIN.password, ACTIVITY_LOG_LEVEL: "WARNING" };
  delete env.DATABASE_URL;
  delete env.ACTIVITY_HTTP_PORT;
  let database = null;
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (adminUrl) {
    const name = `ac_e2e_${process.pid}`;
    env.DATABASE_URL = (await run(PYTHON, [join(here, "database.py"), "create", adminUrl, name])).trim();
    database = { adminUrl, name };
  }
  const server = { dataDir, database, env };
  try {
    await spawnServer(server, { http: 0, grpc: 0, otlpHttp: 0 });
    return server;
  } catch (e) {
    await stopServer(server);
    throw e;
  }
}

/**
 * Runs `activity-console serve` for `server` (its data dir and database) on the given ports (0: a
 * free one) and fills in the ports, URLs and ingest token from the banner it prints.
 */
async function spawnServer(server, ports) {
  const child = spawn(
    join(VENV_BIN, "activity-console"),
    ["serve", "--data-dir", server.dataDir, "--http-port", String(ports.http), "--otlp-grpc-port", String(ports.grpc), "--otlp-http-port", String(ports.otlpHttp)],
    { cwd: REPO, env: server.env, stdio: ["ignore", "pipe", "pipe"] },
  );
  // Never leave the server behind, even when the runner is interrupted.
  const killOnExit = () => child.exitCode === null && child.kill("SIGKILL");
  process.on("exit", killOnExit);
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });
  Object.assign(server, { child, stderr: () => stderr, killOnExit });
  const banner = await new Promise((resolveBanner, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      // A restart prints no token (only the run that created it does): the ports are what it needs.
      const complete = server.token ? /Database: .*\n/.test(out) : /OTEL_EXPORTER_OTLP_HEADERS=\S+/.test(out) && out.includes("(OTLP/HTTP exporters");
      if (complete) {
        clearTimeout(timer);
        resolveBanner(out);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before its banner; stdout:\n${out}\nstderr:\n${stderr}`));
    });
  });
  const grab = (re, what) => {
    const m = re.exec(banner);
    if (!m) throw new Error(`banner has no ${what}:\n${banner}`);
    return m[1];
  };
  server.httpPort = Number(grab(/Console:\s+http:\/\/[^:/]+:(\d+)\//, "console URL"));
  server.grpcPort = Number(grab(/OTLP\/gRPC:\s+\S+:(\d+)/, "OTLP/gRPC port"));
  server.otlpHttpPort = Number(grab(/OTLP\/HTTP:\s+http:\/\/[^:/]+:(\d+)\//, "OTLP/HTTP port"));
  server.token ??= decodeURIComponent(grab(/OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20(\S+)/, "ingest token"));
  // 127.0.0.1, not "localhost": the server binds IPv4 loopback only.
  server.baseUrl = `http://127.0.0.1:${server.httpPort}`;
  server.grpcEndpoint = `http://127.0.0.1:${server.grpcPort}`;
}

/** Stops the server process only (SIGTERM, SIGKILL after 20 s), keeping its data dir and database for `restartServer`. */
export async function stopServerProcess(server) {
  const { child } = server;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
  if (server.killOnExit) process.off("exit", server.killOnExit);
}

/** Starts a server stopped with `stopServerProcess` again: the same ports, data dir, database and JWT key. */
export async function restartServer(server) {
  await spawnServer(server, { http: server.httpPort, grpc: server.grpcPort, otlpHttp: server.otlpHttpPort });
}

/** SIGTERM (the server flushes and stops its embedded PostgreSQL), SIGKILL after 20 s; drops the database. */
export async function stopServer(server) {
  if (!server) return;
  await stopServerProcess(server);
  if (server.database) {
    await run(PYTHON, [join(here, "database.py"), "drop", server.database.adminUrl, server.database.name]);
  }
  rmSync(server.dataDir, { recursive: true, force: true });
}

/**
 * Sends records through the OpenTelemetry SDK. The helper starts, configures the SDK and reports
 * ready; then it is told to go (`emittedAt`, Date.now()) and emits, and the promise resolves as soon
 * as it reports that its exporter was flushed — the server acknowledges an export once the records
 * are written — with `{ sent, trace_ids, emittedAt }`.
 */
export function sendLogs(server, options) {
  const args = [join(here, "send_logs.py"), "--endpoint", server.grpcEndpoint, "--token", server.token, "--wait-for-go"];
  if (options.records) args.push("--records", JSON.stringify(options.records));
  else {
    args.push("--message", options.message);
    if (options.level) args.push("--level", options.level);
    if (options.source) args.push("--source", options.source);
    if (options.projectId != null) args.push("--project-id", String(options.projectId));
    if (options.trace) args.push("--trace");
    if (options.count) args.push("--count", String(options.count));
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, args, { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let emittedAt = null;
    let settled = false;
    const fail = (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`send_logs.py timed out; stderr: ${err}`));
    }, 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf("\n")) >= 0) {
        const message = JSON.parse(out.slice(0, nl));
        out = out.slice(nl + 1);
        if (message.ready) {
          emittedAt = Date.now();
          child.stdin.end("go\n");
        } else if (message.error) {
          fail(new Error(`send_logs.py: ${message.error}; stderr: ${err}`));
        } else if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolvePromise({ ...message, emittedAt });
        }
      }
    });
    child.stderr.on("data", (d) => (err += d));
    child.stdin.on("error", () => {}); // a helper that died early is reported by "close"
    child.on("close", (code) => fail(new Error(`send_logs.py exited with ${code} before reporting; stderr: ${err}`)));
  });
}

/** A small REST client for the server's API. */
export async function api(server, path, { method = "GET", token, body } = {}) {
  const res = await fetch(`${server.baseUrl}/api/v1${path}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return json;
}

export async function apiLogin(server, { email, password }) {
  return (await api(server, "/auth/login", { method: "POST", body: { email, password } })).token;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A browser context with bounded waits and page errors collected (a test fails on any). */
export async function newContext(browser, server) {
  const context = await browser.newContext({ baseURL: server.baseUrl, viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const pageErrors = [];
  context.on("page", (page) => page.on("pageerror", (e) => pageErrors.push(e.message)));
  return { context, pageErrors };
}

export async function uiLogin(page, { email, password }) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).getByText(email).waitFor();
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}

/** Removes the failure screenshots of an earlier run. */
export function clearFailureShots() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const name of readdirSync(SCREENSHOTS)) if (name.startsWith("failed-")) rmSync(join(SCREENSHOTS, name));
}

/** A unique tag per run, so that searches find this run's records only. */
export const RUN = `e2e${Date.now().toString(36)}`;

/**
 * Polls `read` every 100 ms until it returns `expected` (compared as JSON); returns that value,
 * else fails after `timeout` ms with the last value read (`what` says what was awaited).
 */
export async function until(read, expected, what, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let value;
  while (Date.now() < deadline) {
    value = await read();
    if (JSON.stringify(value) === JSON.stringify(expected)) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(value, expected, what);
  return value;
}

/**
 * A query bar's syntax error (`.query-error` in `pane`): checks that its caret stands under the
 * character the message names and returns `{ text, position }` (0-based).
 */
export async function readQueryError(pane) {
  const error = pane.locator(".query-error");
  await error.waitFor();
  const caretLine = (await error.locator("pre").innerText()).split("\n")[1];
  const text = await error.innerText();
  const position = Number(/at character (\d+)/.exec(text)[1]) - 1;
  assert.equal(caretLine, `${" ".repeat(position)}^`);
  return { text, position };
}

/** The live panel's list of entries. */
export const liveLog = (p) => p.getByRole("region", { name: "Live activity console" }).getByRole("log", { name: "Log entries" });

/** The live panel's rows that contain `text`. */
export const liveRow = (p, text) => liveLog(p).locator(".log-row", { hasText: text });

/** Waits until the console's connection status reads Live. */
export async function waitLive(p, timeout = 10_000) {
  await p.getByRole("status", { name: "Connection: Live" }).waitFor({ timeout });
}

/**
 * Runs a test body; on failure saves a screenshot of the page as `failed-<prefix><name>.png`
 * (`prefix` tells the test files apart) and rethrows.
 */
export async function withFailureShot(name, p, fn, prefix = "") {
  try {
    await fn();
  } catch (e) {
    await p?.screenshot({ path: screenshotPath(`failed-${prefix}${name}.png`) }).catch(() => {});
    throw e;
  }
}

/** `withFailureShot` with the screenshot names of one test file: `failed-<prefix><name>.png`. */
export const failureShotsNamed = (prefix) => (name, p, fn) => withFailureShot(name, p, fn, prefix);

/** Makes the batch writer flush every 100 ms, so that waits measure the console, not the writer; resolves with the settings. */
export async function fastFlush(server, token) {
  const settings = await api(server, "/admin/activity-logs/settings", { method: "PUT", token, body: { flush_interval_ms: 100 } });
  return settings.data ?? settings;
}

/**
 * A test file's `after`: closes the browser, stops the server, then fails if the admin's pages
 * threw (`pages` names them in the message). Copes with a `before` that failed part way.
 */
export async function endRun({ browser, server, admin }, pages) {
  await browser?.close().catch(() => {});
  await stopServer(server);
  if (admin) assert.deepEqual(admin.pageErrors, [], `uncaught errors in ${pages}`);
}
