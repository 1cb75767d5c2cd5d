// The browser build: what `exports` resolves to without the "node" condition. This file
// imports nothing of the Node entry, so the process is as a browser bundle would see it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("the browser entry (exports 'default') reaches no Node built-in; `ca` there explains itself", async () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.deepEqual(Object.keys(pkg.exports["."]), ["types", "node", "default"]);
  const seen = new Set();
  const visit = (rel) => {
    const url = new URL(rel, new URL("../", import.meta.url));
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const src = readFileSync(url, "utf8");
    const code = src.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    assert.doesNotMatch(code, /["']node:|\bBuffer\b|\bprocess\.|\brequire\(/, url.pathname);
    for (const [, spec] of src.matchAll(/(?:import|export)[^"']*?from\s+["']([^"']+)["']/g)) {
      assert.ok(spec.startsWith("./"), `${url.pathname} imports ${spec}`);
      visit(new URL(spec, url).href);
    }
  };
  visit(pkg.exports["."].default);
  assert.ok(seen.size >= 8, `only ${seen.size} modules reached`);
  const browser = await import("../dist/index.js");
  assert.throws(() => new browser.VectronClient({ url: "https://h:1", ca: "PEM" }), /needs Node\.js/);
});
