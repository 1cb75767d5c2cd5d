// A node:test reporter that writes one line per test in meson's testlog.json format
// ({"name", "result": "OK" | "FAIL" | "SKIP", "stdo"}), which scripts/summarize.py counts.
//   node --test --test-reporter=./test/testlog-reporter.mjs --test-reporter-destination=OUT.json ...
export default async function* testlogReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") continue;
    const skipped = d.skip !== undefined && d.skip !== false;
    const result = event.type === "test:fail" ? "FAIL" : skipped ? "SKIP" : "OK";
    const err = d.details?.error;
    const stdo = err ? String(err.cause?.stack ?? err.cause ?? err.stack ?? err) : typeof d.skip === "string" ? d.skip : "";
    yield JSON.stringify({
      name: `js: ${d.name}`,
      result,
      duration: (d.details?.duration_ms ?? 0) / 1000,
      suite: ["clients-js"],
      stdo,
    }) + "\n";
  }
}
