import { describe, expect, it } from "vitest";
import { checkWhereSyntax, locatePath, parseJson, serverProblem } from "./where";

function problem(text: string) {
  const c = checkWhereSyntax(text);
  if (c.kind !== "problem") throw new Error(`expected a problem for ${text}, got ${c.kind}`);
  return { ...c.problem, marked: text.slice(c.problem.start, c.problem.end) };
}

describe("where syntax", () => {
  it("accepts an empty box as no filter and a JSON object as a filter", () => {
    expect(checkWhereSyntax("  \n").kind).toBe("empty");
    const c = checkWhereSyntax('{"genre": "jazz", "year": {"$gte": 1960}, "tags": ["a", 1.5e3, true, null]}');
    expect(c.kind).toBe("ok");
    if (c.kind === "ok") expect(c.where).toEqual({ genre: "jazz", year: { $gte: 1960 }, tags: ["a", 1500, true, null] });
  });

  it("points at the character where JSON goes wrong, with line and column", () => {
    const p = problem('{"genre": "jazz",\n "year" 1960}');
    expect(p.line).toBe(2);
    expect(p.column).toBe(9);
    expect(p.marked).toBe("1");
    expect(p.message).toContain("expected ':' after the key \"year\"");
  });

  it("names common mistakes", () => {
    expect(problem("{'a': 1}").message).toContain("double quotes");
    expect(problem('{genre: "jazz"}').marked).toBe("genre");
    expect(problem('{"a": jazz}').message).toContain("found jazz");
    expect(problem('{"a": 1,}').message).toContain("trailing comma");
    expect(problem('{"a": [1, 2,]}').message).toContain("trailing comma");
    expect(problem('{"a": "x}').message).toContain("not closed");
    expect(problem('{"a": 01}').message).toContain("malformed number");
    expect(problem('{"a": 1} x').message).toContain("after the end");
    expect(problem('{"a": 1, "a": 2}').message).toContain("appears twice");
    expect(problem('{"a": "\\q"}').message).toContain("bad escape");
  });

  it("points at the end of the text when it stops early", () => {
    const text = '{"a": {"$gt": 1}';
    const p = problem(text);
    expect(p.start).toBe(text.length);
    expect(p.message).toContain("found the end of the text");
  });

  it("refuses a filter that is not an object", () => {
    expect(problem("[1, 2]").message).toContain("a filter is a JSON object");
    expect(problem('"jazz"').marked).toBe('"jazz"');
  });

  it("bounds nesting depth", () => {
    const deep = "[".repeat(100) + "]".repeat(100);
    expect(parseJson(deep).ok).toBe(false);
  });

  it("decodes escapes", () => {
    const p = parseJson('{"a\\u00e9\\n": "\\"x\\""}');
    expect(p.ok && p.value).toEqual({ "aé\n": '"x"' });
  });
});

describe("server filter errors at their place", () => {
  const text = '{"genre": "jazz",\n "year": {"$gt": [1, 2]},\n "$or": [{"a": 1}, {"b": {"$in": []}}]}';
  const c = checkWhereSyntax(text);
  if (c.kind !== "ok") throw new Error("fixture must parse");
  const root = c.node;
  const at = (path: string) => {
    const s = locatePath(root, path);
    return s ? text.slice(s.start, s.end) : null;
  };

  it("finds keys, operators and array elements", () => {
    expect(at("$.genre")).toBe('"genre": "jazz"');
    expect(at("$.year.$gt")).toBe('"$gt": [1, 2]');
    expect(at("$.$or[1].b.$in")).toBe('"$in": []');
    expect(at("$")).toBe(text);
    expect(at("$.nothing")).toBeNull();
    expect(at("$.year[0]")).toBeNull();
  });

  it("handles keys that need brackets or hold dots", () => {
    const t = '{"a b": {"$eq": 1}, "x.y": {"$gt": "z"}}';
    const c2 = checkWhereSyntax(t);
    if (c2.kind !== "ok") throw new Error("parse");
    const s1 = locatePath(c2.node, '$["a b"].$eq')!;
    expect(t.slice(s1.start, s1.end)).toBe('"$eq": 1');
    const s2 = locatePath(c2.node, "$.x.y.$gt")!;
    expect(t.slice(s2.start, s2.end)).toBe('"$gt": "z"');
  });

  it("turns the server's message into a problem at the path", () => {
    const p = serverProblem(text, root, "filter at $.year.$gt: $gt expects a number or string, got array");
    expect(text.slice(p.start, p.end)).toBe('"$gt": [1, 2]');
    expect(p.message).toBe("$gt expects a number or string, got array");
    expect(p.line).toBe(2);
    const q = serverProblem(text, root, "filter at $.$or[1].b.$in: $in expects a non-empty array of scalars, got an empty array");
    expect(text.slice(q.start, q.end)).toBe('"$in": []');
    expect(q.line).toBe(3);
  });

  it("falls back to the whole filter for messages without a known path", () => {
    const p = serverProblem(text, root, "filter has more than 1024 conditions");
    expect(p.start).toBe(0);
    expect(p.end).toBe(text.length);
  });
});
