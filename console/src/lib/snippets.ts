// The curl and Python equivalents of a request made in the search playground. They
// read the token from $VECTRON_TOKEN (and the server's certificate from $VECTRON_CA),
// so no token is ever written into a snippet.

// `value` as a Python literal (JSON with True/False/None).
export function pyLiteral(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : "None";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(pyLiteral).join(", ") + "]";
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}: ${pyLiteral(v)}`);
  return "{" + entries.join(", ") + "}";
}

// `s` quoted for a POSIX shell.
export function shellQuote(s: string): string {
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

export function curlSnippet(origin: string, path: string, body: unknown, auth: boolean): string {
  const lines = ["curl -s"];
  if (origin.startsWith("https:")) lines.push('  --cacert "$VECTRON_CA"');
  if (auth) lines.push('  -H "Authorization: Bearer $VECTRON_TOKEN"');
  lines.push("  -H 'Content-Type: application/json'");
  lines.push(`  ${shellQuote(origin + path)}`);
  lines.push(`  -d ${shellQuote(JSON.stringify(body))}`);
  return lines.join(" \\\n");
}

export function pythonSnippet(origin: string, path: string, body: unknown, auth: boolean): string {
  const headers = auth
    ? '{"Authorization": "Bearer " + os.environ["VECTRON_TOKEN"], "Content-Type": "application/json"}'
    : '{"Content-Type": "application/json"}';
  const https = origin.startsWith("https:");
  return [
    `import json${auth || https ? ", os" : ""}${https ? ", ssl" : ""}, urllib.request`,
    "",
    ...(https ? ['ctx = ssl.create_default_context(cafile=os.environ.get("VECTRON_CA"))'] : []),
    `body = ${pyLiteral(body)}`,
    "req = urllib.request.Request(",
    `    ${JSON.stringify(origin + path)},`,
    "    data=json.dumps(body).encode(),",
    `    headers=${headers},`,
    ")",
    `with urllib.request.urlopen(req${https ? ", context=ctx" : ""}) as r:`,
    '    for hit in json.load(r)["hits"]:',
    '        print(hit["id"], hit["score"])',
    "",
  ].join("\n");
}
