import type { Ref } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import type { DailyReport } from "../bindings/DailyReport";
import type { PersonSummary } from "../bindings/PersonSummary";
import type { SessionView } from "../bindings/SessionView";
import type { UiError } from "../bindings/UiError";
import type { VaccineEntry } from "../bindings/VaccineEntry";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { EMPTY_PERSON, PersonFields, type PersonDraft } from "../components/PersonFields";
import { formatBirthDate, formatDateTime, formatPhone, vaccineName } from "../format";
import { lang, t } from "../i18n";
import { draftToInput, identityLabel, verificationLabel } from "../person";
import { checkPersonForm, checkSearch, classifySearchTerm } from "../validate";
import { PersonView } from "./PersonView";

/** What the session screen keeps while the nurse moves around (nothing typed is lost). */
export interface SessionDrafts {
  searchName: string;
  searchOther: string;
  results: PersonSummary[] | null;
  register: PersonDraft | null;
  /** Filled from a scanned CCCD QR code; `diacritics_lost`: the scanner dropped the marks. */
  registerFromQr: false | "ok" | "diacritics_lost";
  personId: string | null;
  vaccine: string;
  lot: string;
}

interface Props {
  session: SessionView;
  catalogue: VaccineEntry[];
  drafts: SessionDrafts;
  /** Takes an update of the latest drafts, so keystrokes faster than a render are all kept. */
  setDrafts: (update: (d: SessionDrafts) => SessionDrafts) => void;
  searchRef: Ref<HTMLInputElement>;
  changed: () => void;
  refreshKey: number;
}

/** Today's session: find or register the person in front of you, then record their dose. */
export function Session({ session, catalogue, drafts, setDrafts, searchRef, changed, refreshKey }: Props) {
  const [searchErrors, setSearchErrors] = useState<Record<string, string>>({});
  const [searchError, setSearchError] = useState<UiError | null>(null);
  const [registerErrors, setRegisterErrors] = useState<Record<string, string>>({});
  const [registerError, setRegisterError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [today, setToday] = useState<DailyReport | null>(null);
  const phoneRef = useRef<HTMLInputElement>(null);
  const set = (patch: Partial<SessionDrafts>) => setDrafts((d) => ({ ...d, ...patch }));

  useEffect(() => {
    api.dailyReport(null).then(setToday, () => setToday(null));
  }, [refreshKey]);

  useEffect(() => {
    // A scan that lost its diacritics needs the name typed again; a good one, only the phone.
    if (drafts.register && drafts.registerFromQr === "diacritics_lost") document.getElementById("reg-full_name")?.focus();
    else if (drafts.register && drafts.registerFromQr) phoneRef.current?.focus();
  }, [drafts.register !== null, drafts.registerFromQr]);

  async function search(e: Event) {
    e.preventDefault();
    const local = checkSearch(drafts.searchName, drafts.searchOther, lang.get());
    setSearchErrors(local);
    if (Object.keys(local).length) return;
    setSearchError(null);
    try {
      const term = classifySearchTerm(drafts.searchOther);
      const results = await api.findPeople({ full_name: drafts.searchName, ...term });
      setDrafts((d) => ({ ...d, results, personId: results.length === 1 ? results[0].id : d.personId }));
    } catch (err) {
      setSearchError(err as UiError);
    }
  }

  async function register(e: Event) {
    e.preventDefault();
    if (!drafts.register) return;
    const local = checkPersonForm(drafts.register, lang.get());
    setRegisterErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setRegisterError(null);
    try {
      const record = await api.registerPerson(draftToInput(drafts.register));
      set({ register: null, registerFromQr: false, personId: record.person.id, results: null });
      changed();
    } catch (err) {
      // The form keeps everything typed; the fields at fault are marked.
      setRegisterError(err as UiError);
      setRegisterErrors(fieldErrors(err as UiError));
    } finally {
      setBusy(false);
    }
  }

  const existing = registerError?.existing_person;
  return (
    <div class="session">
      <div class="column">
        <form class="card" onSubmit={search} data-testid="search-form" role="search">
          <h2>{t("searchTitle")}</h2>
          <p class="help">{t("searchHelp")}</p>
          <Field
            id="search-name"
            label={t("fullName")}
            value={drafts.searchName}
            onInput={(v) => set({ searchName: v })}
            error={searchErrors.full_name}
            inputRef={searchRef}
            hint="F2"
          />
          <Field id="search-other" label={t("phoneOrId")} value={drafts.searchOther} onInput={(v) => set({ searchOther: v })} error={searchErrors.other} />
          <ErrorBox error={searchError} />
          <div class="actions">
            <button type="submit" class="primary" data-testid="search-submit">
              {t("search")}
            </button>
            {session.writes_people ? (
              <button
                type="button"
                data-testid="new-person"
                title="Alt+N"
                onClick={() =>
                  set({
                    register: emptyFromSearch(drafts),
                    registerFromQr: false,
                    personId: null,
                  })
                }
              >
                {t("newPerson")}
              </button>
            ) : null}
          </div>
          {drafts.results ? (
            drafts.results.length === 0 ? (
              <p class="notice" data-testid="no-results">
                {t("noResults")}
              </p>
            ) : (
              <ul class="results" data-testid="search-results">
                {drafts.results.map((p) => (
                  <li key={p.id}>
                    <button type="button" class={`result${p.id === drafts.personId ? " selected" : ""}`} onClick={() => set({ personId: p.id, register: null })}>
                      <strong>{p.full_name}</strong>
                      <span>
                        {formatBirthDate(p.birth_date)} · {identityLabel(p.id_kind, p.id_number)} · {formatPhone(p.phone)}
                      </span>
                      <span class="muted">
                        {p.active_doses} {t("doseNo").toLowerCase()} · {verificationLabel(p.verification, lang.get())}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            )
          ) : null}
        </form>
        <section class="card" aria-labelledby="today-title">
          <h2 id="today-title">
            {t("todayDoses")}: <span data-testid="today-count">{today?.doses ?? 0}</span>
          </h2>
          <ul class="today">
            {(today?.day_doses ?? []).slice(0, 30).map((d) => (
              <li key={d.dose_id} class={d.voided ? "voided" : ""}>
                <button type="button" class="link" onClick={() => set({ personId: d.person_id, register: null })}>
                  {formatDateTime(d.given_at).slice(11)} · {d.full_name} · {vaccineName(catalogue, d.vaccine)} ({t("doseNo").toLowerCase()} {d.dose_number})
                </button>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <div class="column wide">
        {drafts.register ? (
          <form class="card" onSubmit={register} data-testid="register-form">
            <h2>{t("registerTitle")}</h2>
            {drafts.registerFromQr === "diacritics_lost" ? (
              <p class="notice warn" role="alert" data-testid="qr-diacritics-lost">
                {t("qrDiacriticsLost")}
              </p>
            ) : drafts.registerFromQr ? (
              <p class="notice" data-testid="from-qr">
                {t("fromQr")}
              </p>
            ) : null}
            <PersonFields prefix="reg" draft={drafts.register} onChange={(update) => setDrafts((d) => (d.register ? { ...d, register: update(d.register) } : d))} errors={registerErrors} phoneRef={phoneRef} />
            <ErrorBox error={registerError} />
            {existing ? (
              <button type="button" onClick={() => set({ register: null, personId: existing })}>
                {t("openExisting")}
              </button>
            ) : null}
            <div class="actions">
              <button type="submit" class="primary" disabled={busy} data-testid="register-submit">
                {t("register")}
              </button>
              <button type="button" onClick={() => set({ register: null })}>
                {t("close")}
              </button>
            </div>
          </form>
        ) : drafts.personId ? (
          <PersonView
            key={drafts.personId}
            personId={drafts.personId}
            session={session}
            catalogue={catalogue}
            vaccine={drafts.vaccine}
            lot={drafts.lot}
            remember={(vaccine, lot) => set({ vaccine, lot })}
            changed={changed}
            refreshKey={refreshKey}
            close={() => set({ personId: null })}
          />
        ) : (
          <div class="card placeholder">
            <p>{t("searchHelp")}</p>
            <p class="muted">{t("shortcuts")}</p>
          </div>
        )}
      </div>
    </div>
  );
}

/** A new registration starts from what was typed in the search. */
export function emptyFromSearch(d: SessionDrafts): PersonDraft {
  const term = classifySearchTerm(d.searchOther);
  return {
    ...EMPTY_PERSON,
    full_name: d.searchName,
    id_number: term.id_number ?? "",
    phone: term.phone ?? "",
  };
}
