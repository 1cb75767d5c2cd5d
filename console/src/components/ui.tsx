// Small shared pieces: dialogs (native <dialog>: focus is kept inside, Esc closes),
// the copy button, error boxes, and a hook that loads data with a reload handle.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { errorText } from "../lib/http";

export function Dialog(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      className={props.wide ? "dialog wide" : "dialog"}
      aria-labelledby={titleId}
      onClose={props.onClose}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <div className="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" className="icon" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </div>
      {props.open && <div className="dialog-body">{props.children}</div>}
    </dialog>
  );
}

// A form whose submit runs `onSubmit` (async): the button says `busyLabel` meanwhile,
// and whatever it throws is shown above the buttons (throw an Error with a message for
// checks made before calling the server).
export function ActionForm(props: {
  onSubmit: () => Promise<void>;
  label: string;
  busyLabel: string;
  children: ReactNode;
  disabled?: boolean;
  danger?: boolean;
  className?: string;
  ariaLabel?: string;
  before?: ReactNode; // Buttons before the submit button (e.g. Cancel).
  autoFocusSubmit?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      className={props.className}
      aria-label={props.ariaLabel}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await props.onSubmit();
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.children}
      <ErrorBox error={error} />
      <div className="actions">
        {props.before}
        <button
          type="submit"
          className={props.danger ? "danger" : "primary"}
          disabled={busy || props.disabled}
          autoFocus={props.autoFocusSubmit}
        >
          {busy ? props.busyLabel : props.label}
        </button>
      </div>
    </form>
  );
}

// Asks before something that cannot be undone. With `typeToConfirm`, the user types
// that text (e.g. the collection's name) before the button works.
export function Confirm(props: {
  open: boolean;
  title: string;
  message: ReactNode;
  action: string;
  typeToConfirm?: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [typed, setTyped] = useState("");
  useEffect(() => {
    if (props.open) setTyped("");
  }, [props.open]);
  return (
    <Dialog open={props.open} title={props.title} onClose={props.onClose}>
      <ActionForm
        label={props.action}
        busyLabel="Working…"
        danger
        disabled={!!props.typeToConfirm && typed !== props.typeToConfirm}
        autoFocusSubmit={!props.typeToConfirm}
        before={
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        }
        onSubmit={async () => {
          await props.onConfirm();
          props.onClose();
        }}
      >
        <div className="confirm-message">{props.message}</div>
        {props.typeToConfirm && (
          <label className="field">
            <span>
              Type <code>{props.typeToConfirm}</code> to confirm
            </span>
            <input value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus autoComplete="off" spellCheck={false} />
          </label>
        )}
      </ActionForm>
    </Dialog>
  );
}

async function copyText(text: string, fallbackFrom?: HTMLElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission: select the text so the user can copy it by hand.
    if (fallbackFrom instanceof HTMLInputElement || fallbackFrom instanceof HTMLTextAreaElement) {
      fallbackFrom.focus();
      fallbackFrom.select();
    }
    return false;
  }
}

export function CopyButton(props: { text: string; label?: string; from?: () => HTMLElement | null }) {
  const [state, setState] = useState<"" | "copied" | "select">("");
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return (
    <>
      <button
        type="button"
        onClick={async () => {
          const ok = await copyText(props.text, props.from?.());
          setState(ok ? "copied" : "select");
          clearTimeout(timer.current);
          timer.current = setTimeout(() => setState(""), 2500);
        }}
      >
        {state === "copied" ? "Copied" : props.label ?? "Copy"}
      </button>
      <span className="sr-only" role="status">
        {state === "copied" ? "Copied to the clipboard" : state === "select" ? "Copy failed; the text is selected, press Ctrl+C" : ""}
      </span>
    </>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      {typeof error === "string" ? error : errorText(error)}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

// Runs `load` on mount and whenever `deps` change; `reload()` runs it again.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    const my = ++seq.current;
    setLoading(true);
    try {
      const d = await run();
      if (my === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (my === seq.current) setError(e);
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

export function PageHead(props: { title: string; children?: ReactNode; sub?: ReactNode }) {
  useEffect(() => {
    document.title = `${props.title} · Vectron console`;
  }, [props.title]);
  return (
    <div className="page-head">
      <div>
        <h1 id="page-title">{props.title}</h1>
        {props.sub && <p className="muted">{props.sub}</p>}
      </div>
      {props.children && <div className="page-actions">{props.children}</div>}
    </div>
  );
}

export interface Column {
  label: string;
  num?: boolean; // Right-aligned figures.
  hidden?: boolean; // Named for screen readers only (e.g. the actions column).
}
export const num = (label: string): Column => ({ label, num: true });
export const ACTIONS: Column = { label: "Actions", hidden: true };

// A data table with a header row, scrolling sideways on narrow screens (a labelled
// region the keyboard can reach). Children are the body's rows.
export function DataTable(props: {
  label: string;
  columns: (string | Column | false)[];
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  const cols = props.columns.filter((c): c is string | Column => c !== false).map((c) => (typeof c === "string" ? { label: c } : c));
  return (
    <div className="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      <table className={props.className ? `data ${props.className}` : "data"} data-testid={props.testId}>
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.label} scope="col" className={c.num ? "num" : undefined}>
                {c.hidden ? <span className="sr-only">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
