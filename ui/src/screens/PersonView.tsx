import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import type { Dose } from "../bindings/Dose";
import type { PersonRecord } from "../bindings/PersonRecord";
import type { SessionView } from "../bindings/SessionView";
import type { UiError } from "../bindings/UiError";
import type { VaccineEntry } from "../bindings/VaccineEntry";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field, Select } from "../components/Field";
import { PassportCard } from "../components/PassportCard";
import { PersonFields, type PersonDraft } from "../components/PersonFields";
import { ScheduleCard } from "../components/ScheduleCard";
import { formatBirthDate, formatDateTime, formatPhone, vaccineName } from "../format";
import { lang, t } from "../i18n";
import { draftToEdit, identityLabel, personToDraft, verificationLabel } from "../person";
import { checkDoseForm, checkOtp, checkPersonForm, checkVoidReason } from "../validate";

interface Props {
  personId: string;
  session: SessionView;
  catalogue: VaccineEntry[];
  vaccine: string;
  lot: string;
  remember: (vaccine: string, lot: string) => void;
  changed: () => void;
  /** Changes after a sync: what the server sent (a passport) is read again. */
  refreshKey?: number;
  close: () => void;
}

/** A person's record: details, warnings, doses, and recording a dose in a few keystrokes. */
export function PersonView({ personId, session, catalogue, vaccine, lot, remember, changed, refreshKey = 0, close }: Props) {
  const [record, setRecord] = useState<PersonRecord | null>(null);
  const [loadError, setLoadError] = useState<UiError | null>(null);
  const [dose, setDose] = useState({ vaccine, lot, dose_number: "", given_at: "", notes: "", elsewhere: false, source: "card", place: "", vaccinator: "" });
  const [doseErrors, setDoseErrors] = useState<Record<string, string>>({});
  const [doseError, setDoseError] = useState<UiError | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [voiding, setVoiding] = useState<Dose | null>(null);
  const [editing, setEditing] = useState<PersonDraft | null>(null);
  const [busy, setBusy] = useState(false);
  const recordButton = useRef<HTMLButtonElement>(null);
  const vaccineSelect = useRef<HTMLSelectElement>(null);

  function show(r: PersonRecord) {
    setRecord(r);
    setDose((d) => ({ ...d, dose_number: String(r.next_dose_number), given_at: "", notes: "", elsewhere: false, place: "", vaccinator: "" }));
  }

  useEffect(() => {
    api.showPerson(personId).then(
      (r) => {
        show(r);
        // Enter records the dose with the session's vaccine and lot; else choose them first.
        setTimeout(() => (vaccine && lot ? recordButton.current : vaccineSelect.current)?.focus(), 0);
      },
      (e) => setLoadError(e as UiError),
    );
  }, [personId]);

  if (loadError) return <ErrorBox error={loadError} />;
  if (!record) return <div class="card">…</div>;
  const p = record.person;
  const doses = Object.values(p.doses)
    .filter((d): d is Dose => d !== undefined)
    .sort((a, b) => (a.given_at < b.given_at ? -1 : 1));

  // A routine product's dose number follows its series (the station counts it).
  const routine = catalogue.find((v) => v.code === dose.vaccine)?.programme === "tcmr";

  async function recordDose(e: Event) {
    e.preventDefault();
    const local = checkDoseForm({ ...dose, routine }, lang.get());
    setDoseErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setDoseError(null);
    setMessage(null);
    try {
      const r = await api.recordDose({
        person_id: p.id,
        dose: {
          vaccine: dose.vaccine,
          lot: dose.lot.trim(),
          dose_number: routine ? null : Number(dose.dose_number),
          kind: null,
          given_at: dose.given_at.trim() || null,
          place: dose.elsewhere ? dose.place.trim() || null : null,
          reaction_notes: dose.notes.trim() || null,
          elsewhere: dose.elsewhere ? dose.source : undefined,
          vaccinator: dose.elsewhere ? dose.vaccinator.trim() || undefined : undefined,
        },
      });
      // A dose given elsewhere is not the session's vaccine and lot.
      if (!dose.elsewhere) remember(dose.vaccine, dose.lot.trim());
      show(r);
      setMessage(t("doseRecorded"));
      changed();
    } catch (err) {
      setDoseError(err as UiError);
      setDoseErrors(fieldErrors(err as UiError));
    } finally {
      setBusy(false);
    }
  }

  return (
    <article class="card person" data-testid="person-record" aria-labelledby="person-name">
      <header class="person-header">
        <div>
          <h2 id="person-name" data-testid="person-name">
            {p.full_name}
          </h2>
          <p>
            {p.gender === "male" ? t("male") : t("female")} · {formatBirthDate(p.birth_date)} · {identityLabel(p.identity.kind, p.identity.number)} ·{" "}
            <span data-testid="person-phone">{formatPhone(p.phone)}</span>
          </p>
          <p class="muted">
            {[p.address.detail, p.address.commune, p.address.province].filter(Boolean).join(", ")}
          </p>
          <p class="muted">
            {t("verification")}: {verificationLabel(p.verification.status, lang.get())} · {t("managedBy")}: {p.managing_facility}
          </p>
        </div>
        <div class="actions">
          {session.writes_people && !editing ? (
            <button type="button" data-testid="edit-person" onClick={() => setEditing(personToDraft(p))}>
              {t("edit")}
            </button>
          ) : null}
          <button type="button" onClick={close}>
            {t("close")}
          </button>
        </div>
      </header>
      <PassportCard personId={p.id} refreshKey={refreshKey * 1000 + doses.filter((d) => !d.voided).length} />
      {record.warnings.length > 0 ? (
        <section class="warnings" aria-label={t("warnings")} data-testid="warnings">
          <h3>{t("warnings")}</h3>
          <ul>
            {record.warnings.map((w) => (
              <li key={w.code}>{w.message}</li>
            ))}
          </ul>
        </section>
      ) : null}
      {record.conflicts.length > 0 ? (
        <section class="warnings" aria-label={t("conflicts")}>
          <h3>{t("conflicts")}</h3>
          <ul>
            {record.conflicts.map((c) => (
              <li key={c.field}>
                {c.field}: {c.values.join(" / ")}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {editing ? (
        <EditPerson
          personId={p.id}
          draft={editing}
          setDraft={setEditing}
          done={(r) => {
            setEditing(null);
            show(r);
            changed();
          }}
        />
      ) : null}
      <ScheduleCard
        personId={p.id}
        refreshKey={refreshKey * 1000 + doses.length}
        catalogue={catalogue}
        propose={
          session.writes_people
            ? (code) => {
                setDose((d) => ({ ...d, vaccine: code, elsewhere: false }));
                setTimeout(() => vaccineSelect.current?.focus(), 0);
              }
            : undefined
        }
      />
      <h3>{t("doses")}</h3>
      {doses.length === 0 ? (
        <p class="muted">{t("noDoses")}</p>
      ) : (
        <table class="doses" data-testid="dose-table">
          <thead>
            <tr>
              <th>{t("doseNo")}</th>
              <th>{t("vaccine")}</th>
              <th>{t("lot")}</th>
              <th>{t("givenAt")}</th>
              <th>{t("facility")}</th>
              <th>{t("vaccinator")}</th>
              <th>{t("status")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {doses.map((d) => (
              <tr key={d.id} class={d.voided ? "voided" : ""} data-testid="dose-row">
                <td>{d.dose_number}</td>
                <td>{vaccineName(catalogue, d.vaccine)}</td>
                <td>{d.lot}</td>
                <td>{formatDateTime(d.given_at)}</td>
                <td>{d.history ? `${t("historyMark")}: ${d.place ?? ""}` : d.facility}</td>
                <td>{d.vaccinator}</td>
                <td>{d.voided ? `${t("voided")}: ${d.voided.reason}` : d.signature ? t("signed") : t("active")}</td>
                <td>
                  {session.writes_people && !d.voided ? (
                    <button type="button" class="link" data-testid="void-dose" onClick={() => setVoiding(d)}>
                      {t("voidDose")}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {voiding ? (
        <VoidDialog
          personId={p.id}
          dose={voiding}
          vaccine={vaccineName(catalogue, voiding.vaccine)}
          done={(r) => {
            setVoiding(null);
            if (r) {
              show(r);
              changed();
            }
          }}
        />
      ) : null}
      {session.writes_people ? (
        <form class="record-dose" onSubmit={recordDose} data-testid="dose-form">
          <h3>{t("recordDose")}</h3>
          <div class="grid">
            <Select
              id="dose-vaccine"
              label={t("vaccine")}
              value={dose.vaccine}
              onChange={(v) => setDose({ ...dose, vaccine: v })}
              error={doseErrors.vaccine}
              selectRef={vaccineSelect}
              required
              options={[{ value: "", label: t("choose") }, ...catalogue.map((v) => ({ value: v.code, label: v.name }))]}
            />
            <Field id="dose-lot" label={t("lot")} value={dose.lot} onInput={(v) => setDose({ ...dose, lot: v })} error={doseErrors.lot} required={!dose.elsewhere} />
            <Field
              id="dose-number"
              label={t("doseNo")}
              value={routine ? t("automatic") : dose.dose_number}
              onInput={(v) => setDose({ ...dose, dose_number: v })}
              error={doseErrors.dose_number}
              inputMode="numeric"
              disabled={routine}
              required={!routine}
            />
            <Field
              id="dose-given-at"
              label={t("givenAt")}
              value={dose.given_at}
              onInput={(v) => setDose({ ...dose, given_at: v })}
              error={doseErrors.given_at}
              hint={t("givenAtHint")}
              placeholder="dd/mm/yyyy hh:mm"
            />
            <Field id="dose-notes" label={t("notes")} value={dose.notes} onInput={(v) => setDose({ ...dose, notes: v })} error={doseErrors.reaction_notes} />
          </div>
          <label class="check">
            <input type="checkbox" data-testid="dose-elsewhere" checked={dose.elsewhere} onChange={(e) => setDose({ ...dose, elsewhere: (e.target as HTMLInputElement).checked })} />{" "}
            {t("elsewhere")}
          </label>
          {dose.elsewhere ? (
            <div class="grid">
              <Select
                id="dose-source"
                label={t("historySource")}
                value={dose.source}
                onChange={(v) => setDose({ ...dose, source: v })}
                error={doseErrors.history_source}
                options={[
                  { value: "card", label: t("sourceCard") },
                  { value: "facility", label: t("sourceFacility") },
                  { value: "private", label: t("sourcePrivate") },
                  { value: "abroad", label: t("sourceAbroad") },
                ]}
              />
              <Field id="dose-place" label={t("placeGiven")} value={dose.place} onInput={(v) => setDose({ ...dose, place: v })} error={doseErrors.place} required />
              <Field id="dose-vaccinator" label={t("whoGave")} value={dose.vaccinator} onInput={(v) => setDose({ ...dose, vaccinator: v })} error={doseErrors.vaccinator} />
            </div>
          ) : null}
          <ErrorBox error={doseError} />
          {message ? (
            <p class="success" role="status" data-testid="dose-message">
              {message}
            </p>
          ) : null}
          <button type="submit" class="primary" ref={recordButton} disabled={busy} data-testid="dose-submit">
            {t("recordDose")} (Enter)
          </button>
        </form>
      ) : (
        <p class="muted">{t("readOnly")}</p>
      )}
    </article>
  );
}

/** Voiding a dose: a reason, never a deletion. */
function VoidDialog({ personId, dose, vaccine, done }: { personId: string; dose: Dose; vaccine: string; done: (r: PersonRecord | null) => void }) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  // A signed dose is a signed record undone: a fresh code, checked by the server.
  const signed = dose.signature !== null;
  const [otp, setOtp] = useState("");
  async function submit(e: Event) {
    e.preventDefault();
    const local = { ...checkVoidReason(reason, lang.get()), ...(signed ? checkOtp(otp, lang.get()) : {}) };
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      done(await api.voidDose({ person_id: personId, dose_id: dose.id, reason: reason.trim(), otp: signed ? otp.trim() : null }));
    } catch (err) {
      setOtp("");
      setError(err as UiError);
    }
  }
  return (
    <div class="dialog-backdrop" onKeyDown={(e) => e.key === "Escape" && done(null)}>
      <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="void-title" onSubmit={submit} data-testid="void-dialog">
        <h3 id="void-title">{t("voidTitle")}</h3>
        <p>
          {vaccine} · {t("doseNo").toLowerCase()} {dose.dose_number} · {formatDateTime(dose.given_at)}
        </p>
        <p class="help">{t("voidHelp")}</p>
        <Field id="void-reason" label={t("reason")} value={reason} onInput={setReason} error={errors.reason ?? fieldErrors(error).void_reason} autoFocus required />
        {signed ? (
          <>
            <p class="notice" data-testid="void-signed-notice">
              {t("voidSigned")}
            </p>
            <Field id="void-otp" label={t("otp")} value={otp} onInput={setOtp} error={errors.otp} inputMode="numeric" required />
          </>
        ) : null}
        <ErrorBox error={error} />
        <div class="actions">
          <button type="submit" class="danger" data-testid="void-submit">
            {t("voidDose")}
          </button>
          <button type="button" onClick={() => done(null)}>
            {t("close")} (Esc)
          </button>
        </div>
      </form>
    </div>
  );
}

/** Editing a person; another facility's person needs a fresh code for sensitive fields. */
function EditPerson({ personId, draft, setDraft, done }: { personId: string; draft: PersonDraft; setDraft: (d: PersonDraft | null | ((d: PersonDraft | null) => PersonDraft | null)) => void; done: (r: PersonRecord) => void }) {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [needOtp, setNeedOtp] = useState(false);
  const [otp, setOtp] = useState("");
  async function submit(e: Event) {
    e.preventDefault();
    const local = { ...checkPersonForm(draft, lang.get()), ...(needOtp ? checkOtp(otp, lang.get()) : {}) };
    setErrors(local);
    if (Object.keys(local).length) return;
    setError(null);
    try {
      done(await api.editPerson({ person_id: personId, edit: draftToEdit(draft), otp: needOtp ? otp.trim() : null }));
    } catch (err) {
      const ui = err as UiError;
      setOtp("");
      if (ui.code === "step_up_required") {
        setNeedOtp(true);
      } else {
        setError(ui);
        setErrors(fieldErrors(ui));
      }
    }
  }
  return (
    <form class="edit-person" onSubmit={submit} data-testid="edit-form">
      <h3>{t("edit")}</h3>
      <PersonFields prefix="edit" draft={draft} onChange={(update) => setDraft((d) => (d ? update(d) : d))} errors={errors} />
      {needOtp ? (
        <>
          <p class="notice">{t("stepUp")}</p>
          <Field id="edit-otp" label={t("otp")} value={otp} onInput={setOtp} error={errors.otp} autoFocus inputMode="numeric" />
        </>
      ) : null}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" class="primary">
          {t("save")}
        </button>
        <button type="button" onClick={() => setDraft(null)}>
          {t("close")}
        </button>
      </div>
    </form>
  );
}
