// A real `vectron serve` for the end-to-end test: TLS and auth on (the defaults, unless
// `extra` turns them off), free ports on 127.0.0.1, its address read from its
// "listening" line; and an HTTPS client that trusts exactly the server's generated
// certificate.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, createHash } from "node:crypto";

export class Server {
  url = "";
  ca = "";
  certPath = "";
  readonly log: string[] = [];
  private proc: ChildProcess | null = null;
  readonly dir: string;

  constructor(
    readonly bin: string,
    readonly password: string,
    readonly extra: string[] = [],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "vectron-console-e2e-"));
  }

  // Starts the server and waits (up to `deadlineMs`) for its "ready" line.
  start(deadlineMs = 60_000): Promise<void> {
    const data = join(this.dir, "data");
    const p = spawn(this.bin, ["serve", "--data", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", ...this.extra], {
      env: { ...process.env, VECTRON_ADMIN_PASSWORD: this.password },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = p;
    p.stderr!.on("data", (d: Buffer) => this.log.push(d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vectron serve did not start: ${this.log.join("")}`)), deadlineMs);
      let buf = "";
      p.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const m = /http listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(buf);
        if (m) this.url = m[1];
        if (/vectron serve: ready/.test(buf) && this.url) {
          clearTimeout(timer);
          if (this.url.startsWith("https:")) {
            this.certPath = join(data, "tls", "cert.pem");
            this.ca = readFileSync(this.certPath, "utf8");
          }
          resolve();
        }
      });
      p.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`vectron serve exited with ${code}: ${this.log.join("")}`));
      });
    });
  }

  // The base64 SHA-256 of the certificate's public key, for Chromium's
  // --ignore-certificate-errors-spki-list: the browser trusts this one certificate.
  spkiHash(): string {
    const der = new X509Certificate(this.ca).publicKey.export({ type: "spki", format: "der" });
    return createHash("sha256").update(der).digest("base64");
  }

  // One HTTPS request, verified against the server's certificate.
  call(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string } = {},
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }> {
    const u = new URL(path, this.url);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const request = u.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: {
            ...(body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}),
            ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown = undefined;
            try {
              json = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p) return null;
    if (p.exitCode !== null) return p.exitCode;
    p.removeAllListeners("exit");
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => p.kill("SIGKILL"), 30_000);
      p.on("exit", (c) => {
        clearTimeout(t);
        resolve(c);
      });
      p.kill("SIGTERM");
    });
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}
