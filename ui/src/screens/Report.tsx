import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { DailyReport } from "../bindings/DailyReport";
import type { UiError } from "../bindings/UiError";
import type { VaccineEntry } from "../bindings/VaccineEntry";
import type { VaccineCount } from "../bindings/VaccineCount";
import { ErrorBox } from "../components/ErrorBox";
import { formatCount, formatDate, formatDateTime, shiftDay, todayIso, vaccineName } from "../format";
import { t } from "../i18n";

/** The daily report: totals, a chart of doses by vaccine, doses by vaccinator, the day's list. */
export function Report({ openPerson, refreshKey, catalogue }: { openPerson: (id: string) => void; refreshKey: number; catalogue: VaccineEntry[] }) {
  const [day, setDay] = useState(todayIso());
  const [report, setReport] = useState<DailyReport | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  useEffect(() => {
    setError(null);
    api.dailyReport(day).then(setReport, (e) => setError(e as UiError));
  }, [day, refreshKey]);

  return (
    <main class="report" data-testid="report">
      <div class="card">
        <header class="report-header">
          <h2>
            {t("reportTitle")} <span data-testid="report-day">{formatDate(day)}</span>
          </h2>
          <div class="actions">
            <button type="button" onClick={() => setDay(shiftDay(day, -1))}>
              ← {t("prevDay")}
            </button>
            <button type="button" onClick={() => setDay(todayIso())}>
              {t("today")}
            </button>
            <button type="button" onClick={() => setDay(shiftDay(day, 1))} disabled={day >= todayIso()}>
              {t("nextDay")} →
            </button>
          </div>
        </header>
        <ErrorBox error={error} />
        {report ? (
          <>
            <div class="totals">
              <div>
                <strong data-testid="report-doses">{formatCount(report.doses)}</strong> {t("totalDoses")}
              </div>
              <div>
                <strong>{formatCount(report.people)}</strong> {t("people")}
              </div>
              <div>
                <strong>{formatCount(report.voided)}</strong> {t("voided")}
              </div>
            </div>
            {report.by_vaccine.length === 0 ? (
              <p class="muted">{t("nothingThatDay")}</p>
            ) : (
              <>
                <h3>{t("byVaccine")}</h3>
                <VaccineChart counts={report.by_vaccine} />
              </>
            )}
          </>
        ) : null}
      </div>
      {report && report.by_vaccinator.length > 0 ? (
        <div class="card">
          <h3>{t("byVaccinator")}</h3>
          <table>
            <tbody>
              {report.by_vaccinator.map((v) => (
                <tr key={v.vaccinator}>
                  <td>{v.vaccinator}</td>
                  <td class="number">{formatCount(v.doses)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>{t("todayDoses")}</h3>
          <ul class="today">
            {report.day_doses.map((d) => (
              <li key={d.dose_id} class={d.voided ? "voided" : ""}>
                <button type="button" class="link" onClick={() => openPerson(d.person_id)}>
                  {formatDateTime(d.given_at).slice(11)} · {d.full_name} · {vaccineName(catalogue, d.vaccine)} · {t("doseNo").toLowerCase()} {d.dose_number}
                  {d.voided ? ` · ${t("voided")}` : ""}
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </main>
  );
}

/** Horizontal bars, one per vaccine, with the counts written out (the table is the chart's text). */
export function VaccineChart({ counts }: { counts: VaccineCount[] }) {
  const max = Math.max(1, ...counts.map((c) => c.doses));
  const row = 34;
  const labelWidth = 220;
  const barWidth = 400;
  const height = counts.length * row + 8;
  const summary = counts.map((c) => `${c.name}: ${c.doses}`).join("; ");
  return (
    <svg class="chart" data-testid="vaccine-chart" role="img" aria-label={summary} viewBox={`0 0 ${labelWidth + barWidth + 180} ${height}`} width="100%">
      {counts.map((c, i) => {
        const w = Math.max(2, (c.doses / max) * barWidth);
        const y = i * row + 4;
        return (
          <g key={c.vaccine}>
            <text x={labelWidth - 8} y={y + 20} text-anchor="end" class="chart-label">
              {c.name}
            </text>
            <rect x={labelWidth} y={y + 4} width={w} height={row - 10} rx="3" class="chart-bar" />
            <text x={labelWidth + w + 6} y={y + 20} class="chart-value">
              {formatCount(c.doses)} · {t("firstDoses")}: {formatCount(c.first_doses)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
