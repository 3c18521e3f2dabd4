import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { PersonSchedule } from "../bindings/PersonSchedule";
import type { Status } from "../bindings/Status";
import type { VaccineEntry } from "../bindings/VaccineEntry";
import { formatDate } from "../format";
import { t, type TextKey } from "../i18n";

const STATUS: Record<Status, TextKey> = {
  complete: "complete",
  due: "due",
  overdue: "overdue",
  not_yet: "notYet",
  too_old: "tooOld",
  not_offered: "notOffered",
};

/** The routine products that give a dose of `series` (the first one is proposed). */
export function productsFor(catalogue: VaccineEntry[], series: string): VaccineEntry[] {
  return catalogue.filter((v) => v.programme === "tcmr" && v.series.includes(series));
}

/**
 * A person's routine schedule drawn as a line per antigen: one mark per counted dose (with its
 * date), then the next dose with its earliest date. Proposes the antigens due today.
 */
export function ScheduleCard({
  personId,
  refreshKey,
  catalogue,
  propose,
}: {
  personId: string;
  refreshKey: number;
  catalogue: VaccineEntry[];
  propose?: (vaccine: string) => void;
}) {
  const [schedule, setSchedule] = useState<PersonSchedule | null>(null);
  useEffect(() => {
    // A person without a full birth date has no schedule: nothing is drawn.
    api.personSchedule(personId).then(setSchedule, () => setSchedule(null));
  }, [personId, refreshKey]);
  if (!schedule) return null;
  const due = schedule.series.filter((s) => s.status === "due" || s.status === "overdue");
  // One proposal per product: a 5-in-1 dose gives the DTP, hepatitis B and Hib doses due.
  const proposals: { product: VaccineEntry; series: typeof due }[] = [];
  for (const s of due) {
    const product = productsFor(catalogue, s.series)[0];
    if (!product) continue;
    const known = proposals.find((p) => p.product.code === product.code);
    if (known) known.series.push(s);
    else proposals.push({ product, series: [s] });
  }
  return (
    <section class="schedule" aria-label={t("scheduleTitle")} data-testid="schedule">
      <h3>{t("scheduleTitle")}</h3>
      {schedule.series.length === 0 ? <p class="muted">{t("scheduleNone")}</p> : null}
      {propose && proposals.length > 0 ? (
        <p data-testid="due-today">
          {t("dueToday")}:{" "}
          {proposals.map(({ product, series }) => (
            <button type="button" class="chip" key={product.code} data-testid={`propose-${product.code}`} onClick={() => propose(product.code)}>
              {product.name}: {series.map((s) => `${s.name} (${t("doseNo").toLowerCase()} ${s.next_dose})`).join(", ")}
            </button>
          ))}
        </p>
      ) : null}
      <ul class="timeline">
        {schedule.series.map((s) => (
          <li key={s.series} class={`series ${s.status}`} data-testid={`series-${s.series}`}>
            <span class="series-name">{s.name}</span>
            {s.counted_on.map((d, i) => (
              <span class="mark given" key={d + i} title={formatDate(d)}>
                {i + 1}: {formatDate(d)}
              </span>
            ))}
            {s.next_dose !== null && s.earliest && s.status !== "not_offered" && s.status !== "too_old" ? (
              <span class="mark next">
                {s.next_dose}: {t("fromDate")} {formatDate(s.earliest)}
              </span>
            ) : null}
            <span class="series-status" data-testid="series-status">
              {t(STATUS[s.status])}
            </span>
            {s.early_doses.length > 0 ? (
              <span class="muted">
                {" "}
                ({s.early_doses.length} {t("earlyNotCounted")})
              </span>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
