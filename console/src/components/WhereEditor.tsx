// The `where` box: checked as you type. JSON syntax is checked here, then (after a short
// pause) the server checks the filter itself by counting what it matches
// (POST .../count). A problem from either is underlined at its place in the text and
// described below the box with its line and column.
import { useEffect, useId, useRef, useState } from "react";
import { api } from "../context";
import { ApiError, errorText } from "../lib/http";
import { checkWhereSyntax, serverProblem, type Problem } from "../lib/where";

export type WhereState =
  | { kind: "empty" }
  | { kind: "checking" }
  | { kind: "ok"; where: Record<string, unknown>; count: number }
  | { kind: "problem"; problem: Problem }
  | { kind: "error"; message: string }; // The check itself failed (network, permission).

export const CHECK_DELAY_MS = 300;

export function WhereEditor(props: {
  collection: string;
  value: string;
  onChange: (text: string) => void;
  onState?: (s: WhereState) => void;
  label?: string;
}) {
  const id = useId();
  const [state, setState] = useState<WhereState>({ kind: "empty" });
  const backdrop = useRef<HTMLDivElement>(null);
  const onState = useRef(props.onState);
  onState.current = props.onState;

  useEffect(() => {
    const text = props.value;
    const local = checkWhereSyntax(text);
    let next: WhereState;
    if (local.kind === "empty") next = { kind: "empty" };
    else if (local.kind === "problem") next = { kind: "problem", problem: local.problem };
    else next = { kind: "checking" };
    setState(next);
    onState.current?.(next);
    if (local.kind !== "ok" || !props.collection) return;
    const ctl = new AbortController();
    const timer = setTimeout(async () => {
      let s: WhereState;
      try {
        const n = await api.count(props.collection, local.where, ctl.signal);
        s = { kind: "ok", where: local.where, count: n };
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 400) s = { kind: "problem", problem: serverProblem(text, local.node, e.message) };
        else s = { kind: "error", message: errorText(e) };
      }
      if (ctl.signal.aborted) return;
      setState(s);
      onState.current?.(s);
    }, CHECK_DELAY_MS);
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [props.value, props.collection]);

  const problem = state.kind === "problem" ? state.problem : null;
  const text = props.value;
  // The backdrop mirrors the text under the (transparent) textarea and marks the problem.
  const before = problem ? text.slice(0, problem.start) : text;
  const marked = problem ? text.slice(problem.start, problem.end) : "";
  const after = problem ? text.slice(problem.end) : "";

  return (
    <div className="where">
      <label htmlFor={id}>{props.label ?? "Filter (where)"}</label>
      <div className={problem ? "where-box invalid" : "where-box"}>
        <div className="where-backdrop" ref={backdrop} aria-hidden="true">
          {before}
          {problem && <mark className={marked === "" ? "at" : undefined}>{marked === "" ? " " : marked}</mark>}
          {after}
          {"\n"}
        </div>
        <textarea
          id={id}
          value={text}
          rows={3}
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          placeholder='{"genre": "jazz", "year": {"$gte": 1960}}'
          aria-invalid={problem !== null}
          aria-describedby={`${id}-status`}
          onChange={(e) => props.onChange(e.target.value)}
          onScroll={(e) => {
            if (backdrop.current) {
              backdrop.current.scrollTop = e.currentTarget.scrollTop;
              backdrop.current.scrollLeft = e.currentTarget.scrollLeft;
            }
          }}
        />
      </div>
      <p id={`${id}-status`} className={"where-status " + state.kind} aria-live="polite">
        {state.kind === "empty" && "No filter: every point."}
        {state.kind === "checking" && "Checking…"}
        {state.kind === "ok" && `Valid filter: matches ${state.count.toLocaleString("en-US")} point${state.count === 1 ? "" : "s"}.`}
        {problem && (
          <>
            <span className="where-pos">
              Line {problem.line}, column {problem.column}:
            </span>{" "}
            {problem.message}
          </>
        )}
        {state.kind === "error" && `Could not check the filter: ${state.message}`}
      </p>
    </div>
  );
}
