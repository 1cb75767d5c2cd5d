// End to end: a real `vectron serve` (TLS and auth on, login tokens living 20 s so that
// the console must refresh them) and Debian's Chromium driven by playwright-core.
// Logs in, creates a collection, upserts points through the API, browses and filters
// them, searches in the playground (and runs the curl and Python snippets it shows),
// makes a key, uses its token, revokes it and sees it refused; the admin pages, the
// cluster and metrics views, a password change, a phone-sized window and the keyboard.
// A screenshot of each page goes to $VECTRON_CONSOLE_ARTIFACTS (and, with
// VECTRON_CONSOLE_DOCS=1, to docs/console/ for the user guide).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Server } from "./server";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.VECTRON_BIN ?? "";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = resolve(process.env.VECTRON_CONSOLE_ARTIFACTS ?? join(here, "..", "e2e-artifacts"));
const DOCS = process.env.VECTRON_CONSOLE_DOCS === "1" ? resolve(here, "..", "..", "docs", "console") : "";
const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a much longer passphrase";
const LOGIN_TTL_S = 20;

let server: Server;
let context: BrowserContext;
let page: Page;
let profile: string;
const urls: string[] = [];
const consoleErrors: string[] = [];
const failed: string[] = []; // "404 GET /v1/cluster": every answer >= 400 the browser got.
let refreshes = 0;
let readerToken = "";

// Polls `fn` until it returns a truthy value; fails after `ms` naming `what`.
async function until<T>(what: string, fn: () => Promise<T> | T, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function textOf(l: Locator): Promise<string> {
  return (await l.textContent()) ?? "";
}

async function shot(name: string, mask: Locator[] = []) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const opts = { mask, maskColor: "#9aa3ae" };
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), ...opts });
  if (DOCS) {
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, `${name}.png`), ...opts });
  }
}

async function heading(name: string) {
  await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
}

function vector(i: number): number[] {
  return [Math.cos(i / 10), Math.sin(i / 10), ((i % 7) + 1) / 7, 1];
}

const POINTS = Array.from({ length: 240 }, (_, i) => ({
  id: `p${String(i).padStart(3, "0")}`,
  vector: vector(i),
  metadata: { genre: ["jazz", "rock", "pop"][i % 3], year: 1950 + (i % 70), n: i },
}));
const JAZZ_SINCE_1960 = POINTS.filter((p) => p.metadata.genre === "jazz" && p.metadata.year >= 1960).length;
const ROCK = POINTS.filter((p) => p.metadata.genre === "rock").length;

async function apiLogin(password = PASSWORD): Promise<string> {
  const r = await server.call("POST", "/v1/auth/login", { body: { username: "admin", password } });
  expect(r.status, r.text).toBe(200);
  return r.json.token;
}

function sh(cmd: string, env: Record<string, string>): string {
  return execFileSync("bash", ["-c", cmd], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 30_000 });
}

beforeAll(async () => {
  if (!BIN) throw new Error("set VECTRON_BIN to the vectron binary");
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  server = new Server(BIN, PASSWORD, ["--login-ttl", String(LOGIN_TTL_S), "--no-request-log"]);
  await server.start();
  profile = mkdtempSync(join(tmpdir(), "vectron-console-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Trust exactly the server's generated certificate (not: ignore every error).
      `--ignore-certificate-errors-spki-list=${server.spkiHash()}`,
    ],
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (r) => urls.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.url().endsWith("/v1/auth/refresh") && r.status() === 200) refreshes++;
    if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
});

// A step that failed with a dialog open leaves it open; close it so that the next step
// reports its own problem rather than a click the dialog intercepts.
beforeEach(async () => {
  if (page && (await page.locator("dialog[open]").count()) > 0) await page.keyboard.press("Escape");
});

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (server) expect(await server.stop()).toBe(0);
});

describe("the console against a real vectron serve", () => {
  it("is served at /console/ with strict security headers", async () => {
    const r = await server.call("GET", "/console/");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toContain("text/html");
    const csp = String(r.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    expect(r.headers["x-frame-options"]).toBe("DENY");
    expect(r.headers["referrer-policy"]).toBe("no-referrer");
    const js = /src="(\/console\/assets\/[^"]+\.js)"/.exec(r.text)![1];
    const asset = await server.call("GET", js);
    expect(asset.status).toBe(200);
    expect(asset.headers["cache-control"]).toContain("immutable");
    expect((await server.call("GET", "/")).headers.location).toBe("/console/");
    expect((await server.call("GET", "/console/collections/x/points")).text).toBe(r.text);
    expect((await server.call("GET", "/console/assets/missing.js")).status).toBe(404);
  });

  it("logs in with the keyboard, keeping tokens out of localStorage", async () => {
    await page.goto(server.url + "/console/");
    await page.getByLabel("User name").waitFor();
    await shot("login");
    // The user name field has the focus; Tab to the password, Enter submits.
    await page.keyboard.type("admin");
    await page.keyboard.press("Tab");
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press("Enter");
    await heading("Collections");
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      tab: sessionStorage.getItem("vectron.console.session") !== null,
    }));
    expect(stored).toEqual({ local: 0, tab: true });
  });

  it("creates a collection", async () => {
    await page.getByRole("button", { name: "New collection" }).click();
    const dlg = page.getByRole("dialog", { name: "New collection" });
    await dlg.getByLabel("Name").fill("docs");
    await dlg.getByLabel("Dimension").fill("4");
    await dlg.getByRole("button", { name: "Create collection" }).click();
    await heading("docs");
    expect(page.url()).toBe(server.url + "/console/collections/docs");
  });

  it("shows points upserted through the API, and manages payload indexes", async () => {
    const login = await apiLogin();
    const key = await server.call("POST", "/v1/keys", { token: login, body: { name: "loader", scopes: ["read", "write"] } });
    expect(key.status).toBe(201);
    const up = await server.call("PUT", "/v1/collections/docs/points", { token: key.json.token, body: { points: POINTS } });
    expect(up.json).toEqual({ upserted: 240 });
    readerToken = key.json.token;

    await page.getByRole("button", { name: "Refresh" }).click();
    await until("the count", async () => (await textOf(page.locator("dl.stats"))).includes("240"));
    await page.getByLabel("Field").fill("genre");
    await page.getByRole("button", { name: "Add index" }).click();
    await page.getByRole("row", { name: /genre keyword/ }).waitFor();
    await shot("collection");

    await page.getByRole("link", { name: "Collections", exact: true }).click();
    await heading("Collections");
    const row = page.getByRole("row", { name: /docs/ });
    await until("the collection row", async () => /240.*4.*cosine.*flat/.test(await textOf(row)));
    await shot("collections");
  });

  it("browses points page by page and filters them, showing errors where they are", async () => {
    await page.goto(server.url + "/console/collections/docs/points");
    await heading("Points in docs");
    const shown = page.getByTestId("points-shown");
    await until("the first page", async () => (await textOf(shown)).includes("Showing 50 of 240"));
    // Scrolling to the end of the list loads the next page by itself.
    await page.locator(".more").scrollIntoViewIfNeeded();
    await until("the second page", async () => (await textOf(shown)).includes("Showing 100 of 240"));
    await page.locator(".more").scrollIntoViewIfNeeded();
    await until("the third page", async () => (await textOf(shown)).includes("Showing 150 of 240"));

    const where = page.getByLabel("Filter (where)");
    const status = page.locator(".where-status");
    await where.fill('{"genre": "jazz", "year": {"$gte": 1960}}');
    await until("the filter's count", async () => (await textOf(status)).includes(`matches ${JAZZ_SINCE_1960} points`));
    await until("the filtered list", async () => (await textOf(shown)).includes(`of ${JAZZ_SINCE_1960} points matching`));
    const metas = await page.locator("table.points code.meta").allTextContents();
    expect(metas.length).toBe(50);
    for (const m of metas) expect(JSON.parse(m).genre).toBe("jazz");

    // A JSON mistake: marked at its character, with line and column.
    await where.fill('{"genre": "jazz",\n "year" 1960}');
    await until("the syntax error", async () => (await textOf(status)).includes("Line 2, column 9"));
    expect(await textOf(page.locator(".where-backdrop mark"))).toBe("1");
    // A filter the server refuses: marked at the path the server names.
    await where.fill('{"genre": "jazz", "year": {"$gt": [1960]}}');
    await until("the server's error", async () => (await textOf(status)).includes("$gt expects"));
    expect(await textOf(page.locator(".where-backdrop mark"))).toBe('"$gt": [1960]');
    expect(await where.getAttribute("aria-invalid")).toBe("true");
    await shot("points-filter-error");

    await where.fill('{"genre": "rock"}');
    await until("the rock filter", async () => (await textOf(status)).includes(`matches ${ROCK} points`));
    await page.getByRole("button", { name: "Open point p001" }).click();
    const dlg = page.getByRole("dialog", { name: "Point p001" });
    await until("the point's metadata", async () => (await textOf(dlg.getByTestId("point-metadata"))).includes('"genre": "rock"'));
    // Stored as float32, printed with 9 significant digits: the same float32 values.
    const shownVector = JSON.parse(await textOf(dlg.getByTestId("point-vector"))) as number[];
    expect(shownVector.map(Math.fround)).toEqual(vector(1).map(Math.fround));
    await shot("point");
    // Esc closes the dialog and gives the focus back to the button that opened it.
    await page.keyboard.press("Escape");
    await until("the dialog to close", async () => !(await dlg.isVisible()));
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Open point p001");
    await shot("points");
  });

  it("searches from a point in the playground, and its curl and Python snippets give the same hits", async () => {
    await page.getByRole("button", { name: "Open point p010" }).click();
    const dlg = page.getByRole("dialog", { name: "Point p010" });
    await dlg.getByRole("link", { name: "Search similar" }).click();
    await heading("Search docs");
    expect(await page.getByLabel("Point id").inputValue()).toBe("p010");
    await page.getByLabel("k (results)").fill("5");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const rows = page.getByTestId("results").locator("tbody tr");
    await until("5 results", async () => (await rows.count()) === 5);
    const first = await rows.first().locator("th").textContent();
    expect(first).toBe("p010");
    expect(Number(await rows.first().locator("td code").first().textContent())).toBeLessThan(1e-5);
    const uiIds = (await rows.locator("th").allTextContents()).map((s) => s.trim());
    await shot("search");

    const env = { VECTRON_TOKEN: readerToken, VECTRON_CA: server.certPath };
    const curl = await textOf(page.getByTestId("snippet"));
    expect(curl).not.toContain("eyJ"); // No token in a snippet.
    const viaCurl = JSON.parse(sh(curl, env)).hits.map((h: { id: string }) => h.id);
    expect(viaCurl).toEqual(uiIds);
    await page.getByRole("tab", { name: "Python" }).click();
    const py = await textOf(page.getByTestId("snippet"));
    const viaPython = execFileSync("/usr/bin/python3", ["-c", py], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 30_000 })
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0]);
    expect(viaPython).toEqual(uiIds);
  });

  it("creates a key, shows its token once with a copy button; the token works until revoked", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await heading("API keys");
    await page.getByRole("button", { name: "New key" }).click();
    const dlg = page.getByRole("dialog", { name: "New API key" });
    await dlg.getByLabel("Name").fill("e2e-reader");
    await dlg.getByRole("radio", { name: "Only these:" }).check();
    await dlg.getByRole("checkbox", { name: "docs" }).check();
    await dlg.getByLabel("Expires").selectOption("86400");
    await dlg.getByRole("button", { name: "Create key" }).click();
    const once = page.getByRole("dialog", { name: "Your new SDK token" });
    const tokenBox = once.getByTestId("new-token");
    const token = await until("the token", async () => tokenBox.inputValue());
    expect(token.split(".").length).toBe(3);
    await once.getByRole("button", { name: "Copy token" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
    await shot("key-token", [tokenBox]);
    await once.getByRole("button", { name: "Done" }).click();
    expect(await page.locator("body").textContent()).not.toContain(token); // Gone for good.

    const curl = (path: string, body: string) => {
      const out = sh(`curl -s -w '\\n%{http_code}' --cacert "$VECTRON_CA" -H "Authorization: Bearer $T" "$U${path}" -d '${body}'`, {
        VECTRON_CA: server.certPath,
        T: token,
        U: server.url,
      });
      const cut = out.lastIndexOf("\n");
      return [out.slice(0, cut).trim(), out.slice(cut + 1)];
    };
    expect(curl("/v1/collections/docs/count", "{}")).toEqual(['{"count":240}', "200"]);
    const row = page.locator("tr", { hasText: "e2e-reader" });
    await until("the key row", async () => (await textOf(row)).includes("active"));
    expect(await textOf(row)).toContain("docs");
    await shot("keys");

    await row.getByRole("button", { name: /Revoke key e2e-reader/ }).click();
    await page.getByRole("dialog", { name: "Revoke API key" }).getByRole("button", { name: "Revoke" }).click();
    await until("the revoked key to leave the list", async () => (await row.count()) === 0);
    const [body, code] = curl("/v1/collections/docs/count", "{}");
    expect(code).toBe("401");
    expect(JSON.parse(body).error.message).toContain("revoked");
  });

  it("creates a feedback-only key: it rates points and is refused reads and writes", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await heading("API keys");
    await page.getByRole("button", { name: "New key" }).click();
    const dlg = page.getByRole("dialog", { name: "New API key" });
    await dlg.getByLabel("Name").fill("e2e-rater");
    await dlg.getByRole("checkbox", { name: /^read/ }).uncheck();
    await dlg.getByRole("checkbox", { name: /^feedback/ }).check();
    await dlg.getByRole("button", { name: "Create key" }).click();
    const once = page.getByRole("dialog", { name: "Your new SDK token" });
    const token = await until("the token", async () => once.getByTestId("new-token").inputValue());
    expect(await textOf(once)).toContain("scopes feedback,");
    await once.getByRole("button", { name: "Done" }).click();

    const rating = { point_id: "p001", rating: 5 };
    const rated = await server.call("POST", "/v1/collections/docs/feedback", { token, body: rating });
    expect(rated.status).toBe(201);
    const read = await server.call("POST", "/v1/collections/docs/count", { token, body: {} });
    expect(read.status).toBe(403);
    const write = await server.call("PUT", "/v1/collections/docs/points", { token, body: { points: [POINTS[0]] } });
    expect(write.status).toBe(403);
    const row = page.locator("tr", { hasText: "e2e-rater" });
    await until("the key row", async () => (await textOf(row)).includes("feedback"));
  });

  it("lets an admin manage users and read the audit log", async () => {
    await page.getByRole("link", { name: "Users" }).click();
    await heading("Users");
    await page.getByRole("button", { name: "New user" }).click();
    const dlg = page.getByRole("dialog", { name: "New user" });
    await dlg.getByLabel("User name").fill("alice");
    await dlg.getByLabel("Password").fill("alice-password-1");
    await dlg.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("row", { name: /alice user/ }).waitFor();
    await shot("users");

    await page.getByRole("link", { name: "Audit log" }).click();
    await heading("Audit log");
    const table = page.getByRole("region", { name: "Audit events" });
    await until("the audit events", async () => {
      const t = await textOf(table);
      return ["login_ok", "key_created", "key_revoked", "user_created"].every((e) => t.includes(e));
    });
    await shot("audit");
  });

  it("shows vectron serve as a single-node cluster", async () => {
    await page.getByRole("link", { name: "Cluster" }).click();
    await heading("Cluster");
    await until("the shard row", async () => (await textOf(page.locator('.table-wrap[aria-label="Shards"]'))).includes("docs"));
    expect(await textOf(page.locator(".node"))).toContain("ready");
    await shot("cluster");
  });

  it("charts QPS and latency from /metrics, live", async () => {
    await page.getByRole("link", { name: "Metrics" }).click();
    await heading("Metrics");
    await page.getByLabel("Every").selectOption("1");
    // Traffic while the page watches: searches through the API, one at a time, until
    // the charts have filled a little (at most 20,000).
    let stop = false;
    const load = (async () => {
      for (let i = 0; i < 20_000 && !stop; i++) {
        await server.call("POST", "/v1/collections/docs/search", { token: readerToken, body: { vector: vector(i), k: 3 } });
      }
    })();
    await until(
      "a search rate above zero",
      async () => {
        const t = await textOf(page.locator(".legend").first());
        const m = /searches ([\d.]+)/.exec(t);
        return m !== null && Number(m[1]) > 0;
      },
      30_000,
    );
    await until("a latency value", async () => /p50 [\d.]+ ms/.test(await textOf(page.locator(".legend").nth(1))), 30_000);
    const points = async () => Number(await page.locator("figure.chart svg").first().getAttribute("data-points"));
    await until("8 samples on the chart", async () => (await points()) >= 8, 30_000);
    await shot("metrics");
    stop = true;
    await load;
  });

  it("refreshed the login token before it expired", async () => {
    // Tokens live 20 s; the console renews them 5 s before expiry.
    await until("a token refresh", () => refreshes > 0, 30_000);
    await page.getByRole("link", { name: "Collections", exact: true }).click();
    await heading("Collections");
    await page.getByRole("row", { name: /docs/ }).waitFor();
  });

  it("changes the password, logs out (revoking its session key) and in again with 'remember me'", async () => {
    await page.getByRole("link", { name: "Account", exact: true }).click();
    await heading("Account");
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel("New password (8 characters or more)").fill(NEW_PASSWORD);
    await page.getByLabel("New password again").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed.").waitFor();
    await shot("account");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("User name").waitFor();
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    const keys = await server.call("GET", "/v1/keys", { token: await apiLogin(NEW_PASSWORD) });
    const sessionKeys = keys.json.keys.filter((k: { name: string }) => k.name === "console session");
    expect(sessionKeys.length).toBeGreaterThan(0);
    for (const k of sessionKeys) expect(k.revoked).toBe(true);

    await page.getByLabel("User name").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").waitFor();
    expect(await textOf(page.getByRole("alert"))).toContain("wrong user name or password");
    await page.getByLabel("Password").fill(NEW_PASSWORD);
    await page.getByLabel("Remember me on this computer").check();
    await page.getByRole("button", { name: "Log in" }).click();
    await heading("Collections");
    expect(await page.evaluate(() => localStorage.getItem("vectron.console.session") !== null)).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it("works in a phone-sized window, with a menu", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url + "/console/collections");
    await heading("Collections");
    expect(await page.locator("nav#nav").isVisible()).toBe(false);
    await page.getByRole("row", { name: /docs/ }).waitFor();
    await shot("phone-collections");
    const menu = page.getByRole("button", { name: "Menu" });
    await menu.click();
    expect(await menu.getAttribute("aria-expanded")).toBe("true");
    await shot("phone-menu");
    await page.getByRole("link", { name: "Search", exact: true }).click();
    await heading("Search");
    expect(await page.locator("nav#nav").isVisible()).toBe(false);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390); // Nothing sticks out sideways.
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("can be used with the keyboard alone: skip link, menu, dialogs", async () => {
    await page.goto(server.url + "/console/collections");
    await heading("Collections");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");
    // Tab to "New collection", open it with Enter; focus is in the dialog; Esc closes it.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) === "New collection") break;
    }
    await page.keyboard.press("Enter");
    const dlg = page.getByRole("dialog", { name: "New collection" });
    await dlg.waitFor();
    expect(await page.evaluate(() => document.activeElement?.closest("dialog") !== null)).toBe(true);
    await page.keyboard.press("Escape");
    await until("the dialog to close", async () => !(await dlg.isVisible()));
  });

  it("never put a token in a URL and broke no CSP rule", () => {
    expect(urls.length).toBeGreaterThan(20);
    for (const u of urls) {
      expect(u).not.toMatch(/eyJ/);
      expect(u.toLowerCase()).not.toContain("token=");
    }
    const csp = consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e));
    expect(csp).toEqual([]);
    // Chromium logs failed requests as errors; the rest must be none.
    expect(consoleErrors.filter((e) => !/^Failed to load resource/.test(e))).toEqual([]);
    // The only failed requests: those the test provoked (a filter the server refused,
    // a wrong password), the probe for a gateway's cluster map, and the "am I logged in"
    // probes without a token at start.
    const expected = new Set([
      "400 POST /v1/collections/docs/count",
      "401 POST /v1/auth/login",
      "404 GET /v1/cluster",
      "401 GET /v1/auth/me",
    ]);
    expect(failed.filter((f) => !expected.has(f))).toEqual([]);
  });
});

describe("with --no-auth", () => {
  let open: Server;
  beforeAll(async () => {
    open = new Server(BIN, PASSWORD, ["--no-auth", "--insecure-http", "--no-request-log"]);
    await open.start();
    expect((await open.call("POST", "/v1/collections", { body: { name: "free", dim: 2 } })).status).toBe(201);
  });
  afterAll(async () => {
    if (open) expect(await open.stop()).toBe(0);
  });

  it("opens without a login, says auth is off and hides the account pages", async () => {
    await page.goto(open.url + "/console/");
    await heading("Collections");
    await page.getByRole("row", { name: /free/ }).waitFor();
    expect(await textOf(page.locator(".who"))).toContain("auth off");
    const nav = await textOf(page.locator("nav#nav"));
    for (const hidden of ["API keys", "Users", "Audit log", "Account"]) expect(nav).not.toContain(hidden);
    // The data API works without a session key.
    await page.goto(open.url + "/console/collections/free/points");
    await page.getByTestId("points-shown").waitFor();
    await until("the empty list", async () => (await textOf(page.getByTestId("points-shown"))).includes("Showing 0 of 0"));
  });
});
