import { useState } from "preact/hooks";
import { api } from "../../api";
import type { CohortCoverage } from "../../bindings/CohortCoverage";
import type { UiError } from "../../bindings/UiError";
import { ErrorBox } from "../../components/ErrorBox";
import { Field } from "../../components/Field";
import { formatDate } from "../../format";
import { t } from "../../i18n";

/** "12/40 (30,0 %)", or a dash where the figure does not apply. */
function share(n: number | null, of: number): string {
  if (n === null) return "—";
  if (of === 0) return "0/0";
  return `${n}/${of} (${((n * 100) / of).toFixed(1).replace(".", ",")} %)`;
}

/** Coverage of a birth cohort at the station: each indicator reached, on time, by 12 and 24 months. */
export function Coverage() {
  const [cohort, setCohort] = useState(String(new Date().getFullYear() - 1));
  const [day, setDay] = useState("");
  const [result, setResult] = useState<CohortCoverage | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  async function load(e?: Event) {
    e?.preventDefault();
    setError(null);
    try {
      setResult(await api.coverage(cohort.trim(), day.trim() || null));
    } catch (err) {
      setError(err as UiError);
      setResult(null);
    }
  }

  const c = result?.coverage;
  return (
    <section class="card" data-testid="coverage">
      <h2>{t("coverageTitle")}</h2>
      <p class="help">{t("coverageHelp")}</p>
      <form class="grid" onSubmit={load}>
        <Field id="coverage-cohort" label={t("cohort")} value={cohort} onInput={setCohort} placeholder="2025 / 06/2025" />
        <Field id="coverage-date" label={t("coverageOn")} value={day} onInput={setDay} placeholder="dd/mm/yyyy" />
        <div class="actions">
          <button type="submit" class="primary" data-testid="coverage-show">
            {t("showCoverage")}
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {result && c ? (
        <>
          <p data-testid="coverage-summary">
            {result.label}: <strong data-testid="coverage-children">{c.children}</strong> {t("childrenUnit")},{" "}
            {t("coverageOn").toLowerCase()} {formatDate(c.on)}
          </p>
          <table class="doses">
            <thead>
              <tr>
                <th>{t("indicator")}</th>
                <th>{t("reached")}</th>
                <th>{t("onTime")}</th>
                <th>{t("by12Months")}</th>
                <th>{t("by24Months")}</th>
              </tr>
            </thead>
            <tbody>
              {c.indicators.map((i) => (
                <tr key={i.indicator} data-testid={`coverage-${i.indicator}`}>
                  <td>{i.name}</td>
                  <td data-testid="reached">{share(i.reached, c.children)}</td>
                  <td data-testid="on-time">{share(i.on_time, c.children)}</td>
                  <td data-testid="by-12">{share(i.by_12_months, i.aged_12_months)}</td>
                  <td data-testid="by-24">{share(i.by_24_months, i.aged_24_months)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
