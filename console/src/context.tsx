// The console's shared state: the session manager, the API, and the current session
// (re-rendered whenever it changes: login, refresh, logout).
import { useSyncExternalStore } from "react";
import { Api } from "./lib/api";
import { SessionManager, type AuthMode, type Session } from "./lib/session";

export const manager = new SessionManager();
export const api = new Api(manager);

interface Snapshot {
  mode: AuthMode;
  session: Session | null;
  endedBecause: string;
}

let snapshot: Snapshot = { mode: manager.mode, session: manager.session, endedBecause: manager.endedBecause };
function subscribe(fn: () => void) {
  return manager.subscribe(() => {
    snapshot = { mode: manager.mode, session: manager.session, endedBecause: manager.endedBecause };
    fn();
  });
}

export function useSession(): Snapshot {
  return useSyncExternalStore(subscribe, () => snapshot);
}

// True if the user may create and drop collections (an admin user, or auth off).
export function useIsAdmin(): boolean {
  const { mode, session } = useSession();
  return mode === "off" || session?.role === "admin";
}
