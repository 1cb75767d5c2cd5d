// The shell: login gate, navigation (a side bar; a menu button on narrow screens), and
// the page for the current path.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { manager, useSession } from "./context";
import { Link, match, navigate, useLocation } from "./router";
import { LoginPage } from "./pages/Login";
import { CollectionsPage } from "./pages/Collections";
import { CollectionPage } from "./pages/Collection";
import { PointsPage } from "./pages/Points";
import { SearchPage } from "./pages/Search";
import { KeysPage } from "./pages/Keys";
import { UsersPage } from "./pages/Users";
import { AuditPage } from "./pages/Audit";
import { ClusterPage } from "./pages/Cluster";
import { MetricsPage } from "./pages/Metrics";
import { AccountPage } from "./pages/Account";
import { ErrorBox } from "./components/ui";

interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
  auth?: boolean; // Only when the server has auth on.
}

const NAV: NavItem[] = [
  { to: "/collections", label: "Collections" },
  { to: "/search", label: "Search" },
  { to: "/keys", label: "API keys", auth: true },
  { to: "/users", label: "Users", admin: true, auth: true },
  { to: "/audit", label: "Audit log", admin: true, auth: true },
  { to: "/cluster", label: "Cluster" },
  { to: "/metrics", label: "Metrics" },
];

function route(path: string, query: URLSearchParams): ReactNode {
  let m: Record<string, string> | null;
  if (path === "/" || path === "/collections") return <CollectionsPage />;
  if ((m = match("/collections/:name", path))) return <CollectionPage key={m.name} name={m.name} />;
  if ((m = match("/collections/:name/points", path))) return <PointsPage key={m.name} name={m.name} />;
  if ((m = match("/collections/:name/search", path))) return <SearchPage name={m.name} pointId={query.get("point") ?? ""} />;
  if (path === "/search") return <SearchPage name="" pointId="" />;
  if (path === "/keys") return <KeysPage />;
  if (path === "/users") return <UsersPage />;
  if (path === "/audit") return <AuditPage />;
  if (path === "/cluster") return <ClusterPage />;
  if (path === "/metrics") return <MetricsPage />;
  if (path === "/account") return <AccountPage />;
  return (
    <div>
      <h1 id="page-title">Not found</h1>
      <p>
        There is no page <code>{path}</code>. <Link to="/collections">Go to the collections</Link>.
      </p>
    </div>
  );
}

export function App() {
  const { mode, session } = useSession();
  const { path, query } = useLocation();
  const [startError, setStartError] = useState<unknown>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const firstPath = useRef(true);

  useEffect(() => {
    manager.start().catch(setStartError);
    const wake = () => document.visibilityState === "visible" && manager.wake();
    document.addEventListener("visibilitychange", wake);
    return () => document.removeEventListener("visibilitychange", wake);
  }, []);

  // Move focus to the new page's heading, so keyboard and screen-reader users land there.
  useEffect(() => {
    setMenuOpen(false);
    if (firstPath.current) {
      firstPath.current = false;
      return;
    }
    const h = document.getElementById("page-title");
    if (h) {
      h.setAttribute("tabindex", "-1");
      h.focus({ preventScroll: true });
    }
  }, [path]);

  if (startError)
    return (
      <main className="center">
        <h1>Vectron console</h1>
        <ErrorBox error={startError} />
        <button onClick={() => window.location.reload()}>Try again</button>
      </main>
    );
  if (mode === "unknown")
    return (
      <main className="center">
        <p role="status">Connecting…</p>
      </main>
    );
  if (mode === "on" && !session) return <LoginPage />;

  const admin = mode === "off" || session?.role === "admin";
  const items = NAV.filter((n) => (!n.auth || mode === "on") && (!n.admin || admin));
  const searching = /^\/collections\/[^/]+\/search$/.test(path);
  const active = (to: string) =>
    to === "/search"
      ? path === "/search" || searching
      : !(to === "/collections" && searching) && (path === to || path.startsWith(to + "/") || (to === "/collections" && path === "/"));

  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <Link to="/collections" className="brand">
          Vectron
        </Link>
        <div className="who">
          {mode === "off" ? (
            <span className="badge warn" title="vectron serve runs with --no-auth">
              auth off
            </span>
          ) : (
            <>
              <Link to="/account" aria-label={`Account: ${session!.user}`}>
                {session!.user}
              </Link>
              {session!.role === "admin" && <span className="badge">admin</span>}
              <button
                type="button"
                onClick={async () => {
                  await manager.logout();
                  navigate("/", { replace: true });
                }}
              >
                Log out
              </button>
            </>
          )}
        </div>
      </header>
      <nav id="nav" className={menuOpen ? "side open" : "side"} aria-label="Main">
        <ul>
          {items.map((n) => (
            <li key={n.to}>
              <Link to={n.to} aria-current={active(n.to) ? "page" : undefined}>
                {n.label}
              </Link>
            </li>
          ))}
          {mode === "on" && (
            <li>
              <Link to="/account" aria-current={path === "/account" ? "page" : undefined}>
                Account
              </Link>
            </li>
          )}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {route(path, query)}
      </main>
    </div>
  );
}
