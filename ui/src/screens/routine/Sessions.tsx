import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import type { Defaulter } from "../../bindings/Defaulter";
import type { SessionDay } from "../../bindings/SessionDay";
import type { SessionTally } from "../../bindings/SessionTally";
import type { UiError } from "../../bindings/UiError";
import { ErrorBox } from "../../components/ErrorBox";
import { Field } from "../../components/Field";
import { formatDate, formatPhone, todayIso } from "../../format";
import { t, type TextKey } from "../../i18n";

const REASONS: [string, TextKey][] = [
  ["away", "reasonAway"],
  ["sick", "reasonSick"],
  ["forgot", "reasonForgot"],
  ["not_informed", "reasonNotInformed"],
  ["refused", "reasonRefused"],
  ["moved", "reasonMoved"],
  ["other", "reasonOther"],
];

const OUTCOMES: [string, TextKey][] = [
  ["vaccinated_later", "outcomeVaccinatedLater"],
  ["rescheduled", "outcomeRescheduled"],
  ["vaccinated_elsewhere", "outcomeVaccinatedElsewhere"],
  ["moved_away", "outcomeMovedAway"],
  ["refused", "outcomeRefused"],
  ["not_found", "outcomeNotFound"],
];

/** Session days: plan one per hamlet, print its slips, see its tally, close it, trace who missed it. */
export function Sessions({ writes, refreshKey }: { writes: boolean; refreshKey: number }) {
  const [sessions, setSessions] = useState<SessionDay[]>([]);
  const [plan, setPlan] = useState({ date: formatDate(todayIso()), hamlet: "", place: "" });
  const [error, setError] = useState<UiError | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [tally, setTally] = useState<SessionTally | null>(null);
  const [defaulters, setDefaulters] = useState<{ session: SessionDay; rows: Defaulter[] } | null>(null);

  async function load() {
    try {
      setSessions(await api.sessionDays());
    } catch (e) {
      setError(e as UiError);
    }
  }

  useEffect(() => {
    void load();
  }, [refreshKey]);

  /** Runs `action`, showing its failure; reloads the list after. */
  async function run(action: () => Promise<void>) {
    setError(null);
    setMessage(null);
    try {
      await action();
    } catch (e) {
      setError(e as UiError);
    }
    await load();
  }

  const submitPlan = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api.planSession({ date: plan.date.trim(), hamlet: plan.hamlet.trim() || null, place: plan.place.trim() || null });
      setMessage(t("sessionPlanned"));
    });
  };

  return (
    <section class="sessions card" aria-label={t("sessionsTitle")} data-testid="sessions">
      <h2>{t("sessionsTitle")}</h2>
      {writes ? (
        <form class="grid" onSubmit={submitPlan}>
          <Field id="plan-date" label={t("sessionDay")} value={plan.date} onInput={(v) => setPlan({ ...plan, date: v })} placeholder="dd/mm/yyyy" required />
          <Field id="plan-hamlet" label={t("hamlet")} value={plan.hamlet} onInput={(v) => setPlan({ ...plan, hamlet: v })} placeholder={t("allHamlets")} />
          <Field id="plan-place" label={t("placeGiven")} value={plan.place} onInput={(v) => setPlan({ ...plan, place: v })} />
          <div class="actions">
            <button type="submit" class="primary" data-testid="plan-submit">
              {t("planSession")}
            </button>
          </div>
        </form>
      ) : null}
      <ErrorBox error={error} />
      {message ? (
        <p class="success" role="status" data-testid="session-message">
          {message}
        </p>
      ) : null}
      {sessions.length === 0 ? <p class="muted">{t("noSessions")}</p> : null}
      <table class="doses">
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id} data-testid="session-row">
              <td>{formatDate(s.day)}</td>
              <td>{s.hamlet ?? t("allHamlets")}</td>
              <td>{s.place ?? "—"}</td>
              <td data-testid="session-state">{s.closed_at ? `${t("sessionClosed")} · ${s.defaulters} ${t("defaultersCount")}` : t("sessionOpen")}</td>
              <td class="actions">
                <button
                  type="button"
                  data-testid="session-slips"
                  onClick={() =>
                    void run(async () => {
                      const printed = await api.printSessionSlips(s.id);
                      setMessage(`${t("slipsSaved")} ${printed.path}`);
                    })
                  }
                >
                  {t("printSlips")}
                </button>
                <button
                  type="button"
                  data-testid="session-sheet"
                  onClick={() =>
                    void run(async () => {
                      const printed = await api.printSessionSheet(s.id);
                      setMessage(`${t("sheetSaved")} ${printed.path}`);
                    })
                  }
                >
                  {t("printSheet")}
                </button>
                {writes && !s.closed_at ? (
                  <button
                    type="button"
                    data-testid="session-remind"
                    onClick={() =>
                      void run(async () => {
                        const r = await api.remindSession(s.id);
                        const accepted = r.report.sent.filter(([, o]) => o.outcome === "accepted").length;
                        const refused = r.report.sent.filter(([, o]) => o.outcome === "refused").length;
                        setMessage(
                          r.path
                            ? `${r.report.sent.length} ${t("remindersWritten")} ${r.path}; ${r.report.without_phone.length} ${t("withoutPhone")}`
                            : `${t("gatewayAccepted")}: ${accepted}; ${t("gatewayRefused")}: ${refused}; ${r.report.without_phone.length} ${t("withoutPhone")}`,
                        );
                      })
                    }
                  >
                    {t("remind")}
                  </button>
                ) : null}
                <button type="button" data-testid="session-tally" onClick={() => void run(async () => setTally(await api.sessionTally(s.id)))}>
                  {t("tally")}
                </button>
                {writes && !s.closed_at ? (
                  <button
                    type="button"
                    class="danger"
                    data-testid="session-close"
                    onClick={() => void run(async () => setDefaulters({ session: s, rows: await api.closeSession(s.id) }))}
                  >
                    {t("closeSession")}
                  </button>
                ) : null}
                {s.closed_at ? (
                  <button type="button" data-testid="session-defaulters" onClick={() => void run(async () => setDefaulters({ session: s, rows: await api.sessionDefaulters(s.id) }))}>
                    {t("defaulters")}
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {tally ? (
        <div data-testid="tally">
          <h3>
            {t("tally")} {formatDate(tally.session.day)} · {t("invited")}: {tally.invited} · {t("came")}: {tally.came}
          </h3>
          <table class="doses">
            <thead>
              <tr>
                <th>{t("antigen")}</th>
                <th>{t("due")}</th>
                <th>{t("given")}</th>
              </tr>
            </thead>
            <tbody>
              {tally.rows.map((r) => (
                <tr key={r.series}>
                  <td>{r.antigen}</td>
                  <td>{r.due}</td>
                  <td>{r.given}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {defaulters ? <Defaulters session={defaulters.session} rows={defaulters.rows} writes={writes} /> : null}
    </section>
  );
}

/** Who missed a closed session, each traced where they can be. */
function Defaulters({ session, rows, writes }: { session: SessionDay; rows: Defaulter[]; writes: boolean }) {
  const [list, setList] = useState(rows);
  const [error, setError] = useState<UiError | null>(null);
  useEffect(() => setList(rows), [rows]);

  async function trace(d: Defaulter, change: Partial<{ located: boolean | null; reason: string; outcome: string }>) {
    setError(null);
    try {
      const traced = await api.traceDefaulter({
        session_id: session.id,
        person_id: d.person_id,
        located: change.located ?? null,
        reason: change.reason ?? null,
        outcome: change.outcome ?? null,
      });
      setList((l) => l.map((x) => (x.person_id === traced.person_id ? traced : x)));
    } catch (e) {
      setError(e as UiError);
    }
  }

  return (
    <div data-testid="defaulters">
      <h3>
        {t("defaulters")} {formatDate(session.day)} ({list.length})
      </h3>
      <ErrorBox error={error} />
      {list.length === 0 ? <p class="muted">{t("noDefaulters")}</p> : null}
      <table class="doses">
        <thead>
          <tr>
            <th>{t("fullName")}</th>
            <th>{t("phone")}</th>
            <th>{t("missedDoses")}</th>
            <th>{t("located")}</th>
            <th>{t("missReason")}</th>
            <th>{t("traceOutcome")}</th>
          </tr>
        </thead>
        <tbody>
          {list.map((d) => (
            <tr key={d.person_id} data-testid="defaulter-row">
              <td>{d.full_name}</td>
              <td>{formatPhone(d.phone)}</td>
              <td>{d.missed}</td>
              <td>
                <select aria-label={t("located")} disabled={!writes} value={d.located === null ? "" : d.located ? "yes" : "no"} onChange={(e) => void trace(d, { located: (e.target as HTMLSelectElement).value === "yes" })}>
                  <option value="">—</option>
                  <option value="yes">{t("yes")}</option>
                  <option value="no">{t("no")}</option>
                </select>
              </td>
              <td>
                <select aria-label={t("missReason")} data-testid="defaulter-reason" disabled={!writes} value={d.reason ?? ""} onChange={(e) => void trace(d, { reason: (e.target as HTMLSelectElement).value })}>
                  <option value="">—</option>
                  {REASONS.map(([code, label]) => (
                    <option key={code} value={code}>
                      {t(label)}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <select aria-label={t("traceOutcome")} data-testid="defaulter-outcome" disabled={!writes} value={d.outcome ?? ""} onChange={(e) => void trace(d, { outcome: (e.target as HTMLSelectElement).value })}>
                  <option value="">—</option>
                  {OUTCOMES.map(([code, label]) => (
                    <option key={code} value={code}>
                      {t(label)}
                    </option>
                  ))}
                </select>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
