import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { DueEntry } from "../bindings/DueEntry";
import type { UiError } from "../bindings/UiError";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { formatBirthDate, formatDate, formatPhone, todayIso } from "../format";
import { t } from "../i18n";
import { Coverage } from "./routine/Coverage";
import { Sessions } from "./routine/Sessions";

/** Tiêm chủng thường xuyên: who is due or overdue on a session day, by hamlet. */
export function Routine({ openPerson, refreshKey, writes }: { openPerson: (id: string) => void; refreshKey: number; writes: boolean }) {
  const [day, setDay] = useState(formatDate(todayIso()));
  const [hamlet, setHamlet] = useState("");
  const [list, setList] = useState<DueEntry[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  async function load(e?: Event) {
    e?.preventDefault();
    setError(null);
    try {
      setList(await api.dueList(day.trim() || null, hamlet.trim() || null));
    } catch (err) {
      setError(err as UiError);
    }
  }

  useEffect(() => {
    void load();
  }, [refreshKey]);

  // One block per hamlet, in the order the station sorts them; one row per person with every
  // antigen due.
  const groups: { hamlet: string | null; people: DueEntry[][] }[] = [];
  for (const e of list ?? []) {
    let group = groups[groups.length - 1];
    if (!group || group.hamlet !== e.hamlet) {
      group = { hamlet: e.hamlet, people: [] };
      groups.push(group);
    }
    const last = group.people[group.people.length - 1];
    if (last && last[0].person_id === e.person_id) last.push(e);
    else group.people.push([e]);
  }

  return (
    <main>
    <Sessions writes={writes} refreshKey={refreshKey} />
    <section class="card" data-testid="routine">
      <h2>{t("dueListTitle")}</h2>
      <p class="help">{t("dueListHelp")}</p>
      <form class="grid" onSubmit={load}>
        <Field id="routine-date" label={t("sessionDay")} value={day} onInput={setDay} placeholder="dd/mm/yyyy" />
        <Field id="routine-hamlet" label={t("hamlet")} value={hamlet} onInput={setHamlet} placeholder={t("allHamlets")} />
        <div class="actions">
          <button type="submit" class="primary" data-testid="routine-show">
            {t("showList")}
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {list && list.length === 0 ? (
        <p class="muted" data-testid="routine-empty">
          {t("noneDue")}
        </p>
      ) : null}
      {groups.map((g) => (
        <section key={g.hamlet ?? ""} aria-label={g.hamlet ?? t("noHamlet")}>
          <h3>{g.hamlet ?? t("noHamlet")}</h3>
          <table class="doses">
            <thead>
              <tr>
                <th>{t("fullName")}</th>
                <th>{t("birthDate")}</th>
                <th>{t("caregiver")}</th>
                <th>{t("phone")}</th>
                <th>{t("antigen")}</th>
                <th>{t("dueStatus")}</th>
              </tr>
            </thead>
            <tbody>
              {g.people.map((doses) => {
                const first = doses[0];
                const overdue = doses.some((e) => e.status === "overdue");
                const since = doses.map((e) => e.earliest).sort()[0];
                return (
                  <tr key={first.person_id} data-testid="due-row" class={overdue ? "overdue" : ""}>
                    <td>
                      <button type="button" class="link" onClick={() => openPerson(first.person_id)}>
                        {first.full_name}
                      </button>
                    </td>
                    <td>{formatBirthDate(first.birth_date)}</td>
                    <td>{first.caregiver_name ?? "—"}</td>
                    <td>{formatPhone(first.phone)}</td>
                    <td data-testid="due-antigens">
                      {doses.map((e) => `${e.antigen} (${t("doseNo").toLowerCase()} ${e.dose_number})`).join(", ")}
                    </td>
                    <td>
                      {overdue ? t("overdue") : t("due")} {t("fromDate")} {formatDate(since)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
    </section>
    <Coverage />
    </main>
  );
}
