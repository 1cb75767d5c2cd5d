// The `where` box: a strict JSON parser that remembers where every value is in the
// text, so that both JSON syntax errors and the server's filter errors ("filter at
// $.year.$gt: ...") can be shown at the characters they are about.

export interface Span {
  start: number; // Offset of the first character.
  end: number; // Offset just past the last character.
}

export type JsonNode =
  | { kind: "object"; start: number; end: number; entries: { key: string; keyStart: number; value: JsonNode }[] }
  | { kind: "array"; start: number; end: number; items: JsonNode[] }
  | { kind: "string"; start: number; end: number; value: string }
  | { kind: "number"; start: number; end: number; value: number }
  | { kind: "literal"; start: number; end: number; value: boolean | null };

export interface Problem extends Span {
  message: string;
  line: number; // 1-based.
  column: number; // 1-based, in UTF-16 code units.
}

export type Parsed = { ok: true; node: JsonNode; value: unknown } | { ok: false; problem: Problem };

const MAX_DEPTH = 64;

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function problemAt(text: string, start: number, end: number, message: string): Problem {
  const s = Math.max(0, Math.min(start, text.length));
  const e = Math.max(s, Math.min(end, text.length));
  return { start: s, end: e, message, ...lineColumn(text, s) };
}

class SyntaxProblem {
  constructor(
    readonly start: number,
    readonly end: number,
    readonly message: string,
  ) {}
}

function describe(ch: string | undefined): string {
  if (ch === undefined) return "the end of the text";
  if (ch === "\n") return "a line break";
  return `'${ch}'`;
}

// Recursive descent over RFC 8259 JSON. Throws SyntaxProblem.
class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseDocument(): JsonNode {
    this.ws();
    if (this.i >= this.s.length) throw new SyntaxProblem(0, 0, "empty");
    const node = this.value(1);
    this.ws();
    if (this.i < this.s.length)
      throw new SyntaxProblem(this.i, this.i + 1, `unexpected ${describe(this.s[this.i])} after the end of the filter`);
    return node;
  }

  private ws() {
    while (this.i < this.s.length && " \t\n\r".includes(this.s[this.i])) this.i++;
  }

  private value(depth: number): JsonNode {
    if (depth > MAX_DEPTH) throw new SyntaxProblem(this.i, this.i + 1, `nested deeper than ${MAX_DEPTH} levels`);
    const c = this.s[this.i];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') {
      const start = this.i;
      const value = this.string();
      return { kind: "string", start, end: this.i, value };
    }
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        const start = this.i;
        this.i += word.length;
        return { kind: "literal", start, end: this.i, value };
      }
    }
    if (c === "'") throw new SyntaxProblem(this.i, this.i + 1, "strings take double quotes (\"), not single quotes");
    if (c === undefined) throw new SyntaxProblem(this.i, this.i, "expected a value, found the end of the text");
    // A bare word: say so in full.
    const m = /^[A-Za-z_$][\w$.]*/.exec(this.s.slice(this.i));
    if (m) throw new SyntaxProblem(this.i, this.i + m[0].length, `expected a value, found ${m[0]} (strings need double quotes)`);
    throw new SyntaxProblem(this.i, this.i + 1, `expected a value, found ${describe(c)}`);
  }

  private object(depth: number): JsonNode {
    const start = this.i++;
    const entries: { key: string; keyStart: number; value: JsonNode }[] = [];
    const seen = new Map<string, number>();
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return { kind: "object", start, end: this.i, entries };
    }
    for (;;) {
      this.ws();
      const keyStart = this.i;
      if (this.s[this.i] !== '"') {
        if (this.s[this.i] === "}" && entries.length > 0)
          throw new SyntaxProblem(this.i, this.i + 1, "trailing comma before '}'");
        const m = /^[A-Za-z_$][\w$.]*/.exec(this.s.slice(this.i));
        if (m) throw new SyntaxProblem(this.i, this.i + m[0].length, `keys take double quotes: "${m[0]}"`);
        throw new SyntaxProblem(this.i, this.i + 1, `expected a key in double quotes, found ${describe(this.s[this.i])}`);
      }
      const key = this.string();
      if (seen.has(key))
        throw new SyntaxProblem(keyStart, this.i, `key "${key}" appears twice in one object; combine the conditions with $and`);
      seen.set(key, keyStart);
      this.ws();
      if (this.s[this.i] !== ":")
        throw new SyntaxProblem(this.i, this.i + 1, `expected ':' after the key "${key}", found ${describe(this.s[this.i])}`);
      this.i++;
      this.ws();
      const value = this.value(depth + 1);
      entries.push({ key, keyStart, value });
      this.ws();
      const c = this.s[this.i];
      if (c === ",") {
        this.i++;
        continue;
      }
      if (c === "}") {
        this.i++;
        return { kind: "object", start, end: this.i, entries };
      }
      throw new SyntaxProblem(this.i, this.i + 1, `expected ',' or '}' after the value of "${key}", found ${describe(c)}`);
    }
  }

  private array(depth: number): JsonNode {
    const start = this.i++;
    const items: JsonNode[] = [];
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return { kind: "array", start, end: this.i, items };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] === "]" && items.length > 0) throw new SyntaxProblem(this.i, this.i + 1, "trailing comma before ']'");
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ",") {
        this.i++;
        continue;
      }
      if (c === "]") {
        this.i++;
        return { kind: "array", start, end: this.i, items };
      }
      throw new SyntaxProblem(this.i, this.i + 1, `expected ',' or ']' in the array, found ${describe(c)}`);
    }
  }

  private string(): string {
    const start = this.i++;
    let out = "";
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined || c === "\n")
        throw new SyntaxProblem(start, this.i, "string is not closed (a \" is missing)");
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c < " ") throw new SyntaxProblem(this.i, this.i + 1, "control character inside a string; escape it");
      if (c === "\\") {
        const e = this.s[this.i + 1];
        const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.i += 2;
          continue;
        }
        if (e === "u" && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i + 2, this.i + 6))) {
          out += String.fromCharCode(parseInt(this.s.slice(this.i + 2, this.i + 6), 16));
          this.i += 6;
          continue;
        }
        throw new SyntaxProblem(this.i, this.i + 2, `bad escape ${JSON.stringify(this.s.slice(this.i, this.i + 2))} in a string`);
      }
      out += c;
      this.i++;
    }
  }

  private number(): JsonNode {
    const start = this.i;
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    if (!m) throw new SyntaxProblem(this.i, this.i + 1, "malformed number");
    this.i += m[0].length;
    const next = this.s[this.i];
    if (next !== undefined && /[\w.]/.test(next))
      throw new SyntaxProblem(start, this.i + 1, `malformed number ${this.s.slice(start, this.i + 1)}`);
    return { kind: "number", start, end: this.i, value: Number(m[0]) };
  }
}

function toValue(n: JsonNode): unknown {
  switch (n.kind) {
    case "object": {
      const o: Record<string, unknown> = {};
      for (const e of n.entries) o[e.key] = toValue(e.value);
      return o;
    }
    case "array":
      return n.items.map(toValue);
    default:
      return n.value;
  }
}

export function parseJson(text: string): Parsed {
  try {
    const node = new Parser(text).parseDocument();
    return { ok: true, node, value: toValue(node) };
  } catch (e) {
    if (e instanceof SyntaxProblem) return { ok: false, problem: problemAt(text, e.start, e.end, e.message) };
    throw e;
  }
}

// The outcome of checking a where box locally: nothing typed (no filter), a filter
// object ready to send, or a problem at a place in the text.
export type WhereCheck =
  | { kind: "empty" }
  | { kind: "ok"; where: Record<string, unknown>; node: JsonNode }
  | { kind: "problem"; problem: Problem };

export function checkWhereSyntax(text: string): WhereCheck {
  if (text.trim() === "") return { kind: "empty" };
  const p = parseJson(text);
  if (!p.ok) return { kind: "problem", problem: p.problem };
  if (p.node.kind !== "object") {
    return {
      kind: "problem",
      problem: problemAt(text, p.node.start, p.node.end, 'a filter is a JSON object, such as {"genre": "jazz"}'),
    };
  }
  return { kind: "ok", where: p.value as Record<string, unknown>, node: p.node };
}

const PLAIN_KEY = /^[A-Za-z0-9_\-.$]+$/;

// The span a server filter path ("$.year.$gt", "$.$or[1]", '$["a b"]') points at in
// `root`: the key and value of the last step. Null if the path does not fit the tree.
export function locatePath(root: JsonNode, path: string): Span | null {
  if (!path.startsWith("$")) return null;
  let rest = path.slice(1);
  let node = root;
  let span: Span = { start: root.start, end: root.end };
  while (rest.length > 0) {
    if (node.kind === "object") {
      // Keys may hold '.', so try the longest key that fits the rest of the path.
      let best: { len: number; entry: (typeof node.entries)[number] } | null = null;
      for (const e of node.entries) {
        const step = PLAIN_KEY.test(e.key) ? "." + e.key : "[" + JSON.stringify(e.key) + "]";
        if (!rest.startsWith(step)) continue;
        const after = rest[step.length];
        if (after !== undefined && after !== "." && after !== "[") continue;
        if (!best || step.length > best.len) best = { len: step.length, entry: e };
      }
      if (!best) return null;
      rest = rest.slice(best.len);
      node = best.entry.value;
      span = { start: best.entry.keyStart, end: node.end };
    } else if (node.kind === "array") {
      const m = /^\[(\d+)\]/.exec(rest);
      if (!m) return null;
      const item = node.items[Number(m[1])];
      if (!item) return null;
      rest = rest.slice(m[0].length);
      node = item;
      span = { start: item.start, end: item.end };
    } else {
      return null;
    }
  }
  return span;
}

// Turns a server error about a filter into a problem at its place in `text` (the whole
// filter when the message names no position that fits).
export function serverProblem(text: string, root: JsonNode, message: string): Problem {
  const m = /filter at (\$[^]*?): ([^]*)$/.exec(message);
  if (m) {
    // The path ends at the first ": " that leaves a path the tree knows.
    const whole = message.slice(message.indexOf("filter at ") + "filter at ".length);
    for (let cut = whole.indexOf(": "); cut >= 0; cut = whole.indexOf(": ", cut + 1)) {
      const span = locatePath(root, whole.slice(0, cut));
      if (span) return problemAt(text, span.start, span.end, whole.slice(cut + 2));
    }
    return problemAt(text, root.start, root.end, m[2]);
  }
  return problemAt(text, root.start, root.end, message);
}
