// A transport over node:https with a custom CA and keep-alive connections (Node only).
import https from "node:https";

import { Transport, connectionError } from "./transport.js";

/** A transport that trusts exactly the given CA certificates (PEM) and checks host names. */
export function nodeHttpsTransport(ca: string | string[]): Transport {
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 32 });
  const transport: Transport = (req) =>
    new Promise((resolve, reject) => {
      const url = new URL(req.url);
      if (url.protocol !== "https:") {
        reject(new TypeError(`the \`ca\` option is for https:// URLs, got ${req.url}`));
        return;
      }
      const fail = (e: unknown) =>
        reject(req.signal.aborted ? (req.signal.reason ?? e) : connectionError(e, req.method, req.url));
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers["Content-Length"] = Buffer.byteLength(req.body);
      const r = https.request(url, { method: req.method, headers, agent, signal: req.signal }, (res) => {
        const chunks: string[] = [];
        res.setEncoding("utf8");
        res.on("data", (c: string) => chunks.push(c));
        res.on("error", fail);
        // 'close' without a complete body: the connection broke mid-response.
        res.on("close", () => {
          if (!res.complete) fail(new Error("the server closed the connection mid-response"));
        });
        res.on("end", () => {
          if (!res.complete) return;
          resolve({
            status: res.statusCode ?? 0,
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(", ") : String(v);
            },
            text: chunks.join(""),
          });
        });
      });
      r.on("error", fail);
      r.end(req.body);
    });
  transport.close = () => agent.destroy();
  return transport;
}
