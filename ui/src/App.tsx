import { useEffect, useRef, useState } from "preact/hooks";
import { api, progressEvents } from "./api";
import type { AppStatus } from "./bindings/AppStatus";
import type { UiError } from "./bindings/UiError";
import type { VaccineEntry } from "./bindings/VaccineEntry";
import { ErrorBox } from "./components/ErrorBox";
import { ResetNotices } from "./components/ResetNotices";
import { SyncBar } from "./components/SyncBar";
import { formatCount } from "./format";
import { lang, t, toggleLang } from "./i18n";
import { inputToDraft } from "./person";
import { findCompleteQr, findQrAtEnter } from "./qr";
import { Account } from "./screens/Account";
import { Cleaning } from "./screens/Cleaning";
import { Complaints } from "./screens/Complaints";
import { Passport } from "./screens/Passport";
import { Report } from "./screens/Report";
import { Routine } from "./screens/Routine";
import { emptyFromSearch, Session, type SessionDrafts } from "./screens/Session";
import { Setup } from "./screens/Setup";
import { SignIn } from "./screens/SignIn";
import { Signing } from "./screens/Signing";
import { Staff } from "./screens/Staff";

type Screen = "session" | "report" | "account" | "cleaning" | "signing" | "staff" | "passport" | "complaints" | "routine";

/** Alt+1…9, in this order; a screen the role has not stays on the account screen. */
const SCREENS: Screen[] = ["session", "report", "account", "cleaning", "signing", "staff", "passport", "complaints", "routine"];

const EMPTY_DRAFTS: SessionDrafts = {
  searchName: "",
  searchOther: "",
  results: null,
  register: null,
  registerFromQr: false,
  personId: null,
  vaccine: "",
  lot: "",
};

/** The session's vaccine and lot, kept for the day on this laptop. */
function rememberedDose(): { vaccine: string; lot: string } {
  try {
    const kept = JSON.parse(localStorage.getItem("sotiem.dose") ?? "null");
    if (kept && kept.day === new Date().toDateString()) return { vaccine: kept.vaccine, lot: kept.lot };
  } catch {
    // Nothing kept.
  }
  return { vaccine: "", lot: "" };
}

export function App() {
  const [, rerender] = useState(0);
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [statusError, setStatusError] = useState<UiError | null>(null);
  const [screen, setScreen] = useState<Screen>("session");
  const [drafts, setDrafts] = useState<SessionDrafts>({ ...EMPTY_DRAFTS, ...rememberedDose() });
  const [catalogue, setCatalogue] = useState<VaccineEntry[]>([]);
  const [syncError, setSyncError] = useState<UiError | null>(null);
  const [syncMessage, setSyncMessage] = useState<string | null>(null);
  const [scanError, setScanError] = useState<UiError | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  // The complaint opened on the Phản ánh screen, kept while the nurse corrects the record.
  const [complaintId, setComplaintId] = useState<string | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const draftsRef = useRef(drafts);
  draftsRef.current = drafts;

  useEffect(() => lang.subscribe(() => rerender((n) => n + 1)), []);

  async function refresh() {
    try {
      setStatus(await api.appStatus());
      setStatusError(null);
    } catch (e) {
      setStatusError(e as UiError);
    }
  }

  // The bars follow the station every few seconds; a sync's progress is pushed as it changes,
  // and its end refreshes the rest (pending changes, last sync).
  useEffect(() => {
    void refresh();
    const id = setInterval(refresh, 2500);
    const stop = progressEvents.sync((progress) => {
      setStatus((s) => (s ? { ...s, progress } : s));
      if (!progress.running) void refresh();
    });
    return () => {
      clearInterval(id);
      stop();
    };
  }, []);

  const signedIn = status?.session?.reads_people ?? false;
  useEffect(() => {
    if (signedIn) api.catalogue().then(setCatalogue, () => setCatalogue([]));
  }, [signedIn]);

  useEffect(() => {
    try {
      localStorage.setItem("sotiem.dose", JSON.stringify({ day: new Date().toDateString(), vaccine: drafts.vaccine, lot: drafts.lot }));
    } catch {
      // Private mode: remembered for this run only.
    }
  }, [drafts.vaccine, drafts.lot]);

  function changed() {
    setRefreshKey((k) => k + 1);
    void refresh();
  }

  async function sync() {
    setSyncError(null);
    setSyncMessage(null);
    const started = api.syncNow();
    setTimeout(refresh, 50);
    try {
      const r = await started;
      const deferred = r.deferred > 0 ? `, ${formatCount(r.deferred)} ${t("deferred")}` : "";
      const complaints = r.complaints_pulled > 0 ? `, ${formatCount(r.complaints_pulled)} ${t("complaintsReceived")}` : "";
      setSyncMessage(
        `${t("syncDone")}: ${t("sent")} ${formatCount(r.pushed)}, ${t("received")} ${formatCount(r.pulled_changes + r.pulled_snapshots + r.bootstrapped)}${deferred}${complaints}`,
      );
    } catch (e) {
      setSyncError(e as UiError);
    }
    changed();
  }

  // A CCCD QR code scanned into any field: find the person, or start their registration.
  async function scanned(qr: string) {
    setScanError(null);
    setScreen("session");
    try {
      const reading = await api.readCccdQr(qr);
      const input = reading.input;
      const found = await api.findPeople({ full_name: input.full_name, phone: null, id_number: input.id_number });
      const d = draftsRef.current;
      if (found.length > 0) {
        setDrafts({ ...d, searchName: input.full_name, searchOther: input.id_number ?? "", results: found, personId: found[0].id, register: null });
      } else {
        setDrafts({ ...d, register: inputToDraft(input), registerFromQr: reading.diacritics_lost ? "diacritics_lost" : "ok", personId: null, results: null });
      }
    } catch (e) {
      setScanError(e as UiError);
    }
  }
  const scannedRef = useRef(scanned);
  scannedRef.current = scanned;

  useEffect(() => {
    let lastScan = 0;
    // The scanner types into whichever field has the focus; take the QR text out of that field
    // (it keeps what it held before) and act on the scan.
    // A scanner may still be typing a newer card's extra fields when the seventh is complete:
    // the code is taken when the typing pauses, or at the scanner's Enter.
    let pending: number | undefined;
    function take(el: HTMLInputElement | HTMLTextAreaElement, found: { qr: string; rest: string }) {
      window.clearTimeout(pending);
      lastScan = Date.now();
      el.value = found.rest;
      el.dispatchEvent(new Event("input", { bubbles: true }));
      void scannedRef.current(found.qr);
    }
    function field(target: EventTarget | null) {
      return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ? target : null;
    }
    function onInput(e: Event) {
      const el = field(e.target);
      const found = el && findCompleteQr(el.value);
      window.clearTimeout(pending);
      if (el && found) {
        // The field's own state follows what was typed (the QR included) until the code is
        // taken: a re-render in the meantime (a status refresh, a sync's progress) then writes
        // back the same text instead of an older one that lacks the code's last characters.
        pending = window.setTimeout(() => {
          const now = findCompleteQr(el.value);
          if (now) take(el, now);
        }, 150);
      }
    }
    function onKeyDown(e: KeyboardEvent) {
      if (e.key === "Enter") {
        // The scanner's Enter after a complete code must not submit the form it landed in.
        if (Date.now() - lastScan < 500) {
          e.preventDefault();
          e.stopImmediatePropagation();
          return;
        }
        const el = field(e.target);
        const found = el && findQrAtEnter(el.value);
        if (el && found) {
          e.preventDefault();
          e.stopImmediatePropagation();
          take(el, found);
        }
        return;
      }
      if (e.altKey && ["1", "2", "3", "4", "5", "6", "7", "8", "9"].includes(e.key)) {
        e.preventDefault();
        setScreen(SCREENS[Number(e.key) - 1]);
      } else if (e.key === "F2" || (e.altKey && (e.key === "f" || e.key === "F"))) {
        e.preventDefault();
        setScreen("session");
        setTimeout(() => searchRef.current?.focus(), 0);
      } else if (e.altKey && (e.key === "n" || e.key === "N")) {
        e.preventDefault();
        setScreen("session");
        setDrafts({ ...draftsRef.current, register: emptyFromSearch(draftsRef.current), registerFromQr: false, personId: null });
      } else if (e.altKey && (e.key === "s" || e.key === "S")) {
        e.preventDefault();
        document.querySelector<HTMLButtonElement>("[data-testid=sync-now]:not(:disabled)")?.click();
      } else if (e.key === "Escape") {
        const d = draftsRef.current;
        if (d.register) setDrafts({ ...d, register: null });
      }
    }
    document.addEventListener("input", onInput, true);
    document.addEventListener("keydown", onKeyDown, true);
    return () => {
      document.removeEventListener("input", onInput, true);
      document.removeEventListener("keydown", onKeyDown, true);
    };
  }, []);

  if (!status) {
    return (
      <main class="centered">
        <ErrorBox error={statusError} />
      </main>
    );
  }
  if (status.fatal) {
    return (
      <main class="centered">
        <div class="card narrow">
          <h1>{t("fatalTitle")}</h1>
          <ErrorBox error={status.fatal} />
          <p>{t("whatToDo")}</p>
        </div>
      </main>
    );
  }
  if (status.setup_needed) return <Setup status={status} onDone={refresh} />;

  const session = status.session;
  return (
    <div class="app">
      <header class="top">
        <div class="brand">
          <img src="/icon.png" alt="" width="28" height="28" />
          <span>{t("appName")}</span>
          <span class="facility-name" data-testid="facility-name">
            {status.facility?.name}
          </span>
        </div>
        {session ? (
          <nav aria-label="Sổ Tiêm">
            {SCREENS.filter((s) => (s !== "signing" || session.role === "signer") && (s !== "staff" || session.role === "facility_admin")).map((s) => (
              <button
                type="button"
                key={s}
                data-testid={`nav-${s}`}
                class={screen === s ? "current" : ""}
                aria-current={screen === s ? "page" : undefined}
                title={`Alt+${SCREENS.indexOf(s) + 1}`}
                onClick={() => setScreen(s)}
              >
                {t(s === "session" ? "navSession" : s === "report" ? "navReport" : s === "signing" ? "navSigning" : s === "cleaning" ? "navCleaning" : s === "staff" ? "navStaff" : s === "passport" ? "navPassport" : s === "complaints" ? "navComplaints" : s === "routine" ? "navRoutine" : "navAccount")}
                {s === "complaints" && status.complaints && status.complaints.to_answer > 0 ? (
                  <span class={status.complaints.overdue > 0 ? "badge overdue" : "badge"} data-testid="complaints-badge" title={status.complaints.overdue > 0 ? `${status.complaints.overdue} ${t("complaintsOverdue")}` : undefined}>
                    {status.complaints.to_answer}
                  </span>
                ) : null}
              </button>
            ))}
          </nav>
        ) : null}
        <div class="user">
          {session && status?.update_available ? (
            <button type="button" class="link" onClick={() => setScreen("account")} data-testid="update-badge">
              {t("updateAvailable")} {status.update_available}
            </button>
          ) : null}
          {session ? (
            <span data-testid="signed-in-user">
              {session.full_name} ({session.username})
            </span>
          ) : null}
          <button type="button" class="link" onClick={toggleLang} data-testid="language">
            {t("language")}
          </button>
        </div>
      </header>
      <SyncBar status={status} syncError={syncError} syncMessage={syncMessage} onSync={sync} onCancel={() => void api.cancelSync()} />
      <ErrorBox error={scanError} onClose={() => setScanError(null)} />
      {session ? <ResetNotices notices={session.reset_notices} onDone={() => void refresh()} /> : null}
      {!session ? (
        <SignIn status={status} onDone={refresh} />
      ) : !session.reads_people ? (
        <main class="centered">
          <p class="notice">{t(session.role === "district_officer" || session.role === "province_officer" ? "officerNoData" : "adminNoData")}</p>
          <Account session={session} signedOut={refresh} />
        </main>
      ) : screen === "session" ? (
        <Session session={session} catalogue={catalogue} drafts={drafts} setDrafts={setDrafts} searchRef={searchRef} changed={changed} refreshKey={refreshKey} />
      ) : screen === "report" ? (
        <Report
          refreshKey={refreshKey}
          catalogue={catalogue}
          openPerson={(id) => {
            setDrafts({ ...drafts, personId: id, register: null });
            setScreen("session");
          }}
        />
      ) : screen === "routine" ? (
        <Routine
          refreshKey={refreshKey}
          writes={session.writes_people}
          openPerson={(id) => {
            setDrafts({ ...drafts, personId: id, register: null });
            setScreen("session");
          }}
        />
      ) : screen === "cleaning" ? (
        <Cleaning
          changed={changed}
          refreshKey={refreshKey}
          openPerson={(id) => {
            setDrafts({ ...drafts, personId: id, register: null });
            setScreen("session");
          }}
        />
      ) : screen === "signing" && session.role === "signer" ? (
        <Signing catalogue={catalogue} changed={changed} refreshKey={refreshKey} />
      ) : screen === "staff" && session.role === "facility_admin" ? (
        <Staff me={session.username} />
      ) : screen === "passport" ? (
        <Passport />
      ) : screen === "complaints" ? (
        <Complaints
          openId={complaintId}
          setOpenId={setComplaintId}
          refreshKey={refreshKey}
          openPerson={(id) => {
            setDrafts({ ...drafts, personId: id, register: null });
            setScreen("session");
          }}
        />
      ) : (
        <Account session={session} signedOut={refresh} />
      )}
      <footer class="bottom muted">{t("shortcuts")}</footer>
    </div>
  );
}
