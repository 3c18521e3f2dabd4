// People registered twice: pairs side by side, merged into the record to keep.

import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import type { DuplicatePair } from "../../bindings/DuplicatePair";
import type { DuplicateSide } from "../../bindings/DuplicateSide";
import type { UiError } from "../../bindings/UiError";
import { ErrorBox } from "../../components/ErrorBox";
import { formatBirthDate, formatCount, formatPhone } from "../../format";
import { t } from "../../i18n";

function SideView({ s }: { s: DuplicateSide }) {
  return (
    <div class="side">
      <strong>{s.full_name}</strong>
      <div>
        {formatBirthDate(s.birth_date)} · {s.gender === "male" ? t("male") : t("female")}
      </div>
      <div>
        {t("idNumber")}: {s.id_number ?? "—"} · {formatPhone(s.phone)}
      </div>
      <div>
        {s.commune ?? ""} · {s.managing_facility}
      </div>
      <div>
        {formatCount(s.active_doses)} {t("doseNo").toLowerCase()} ({formatCount(s.signed_doses)} {t("signed")})
      </div>
    </div>
  );
}

export function Duplicates({ changed, refreshKey }: { changed: () => void; refreshKey: number }) {
  const [pairs, setPairs] = useState<DuplicatePair[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [confirm, setConfirm] = useState<{ keep: DuplicateSide; other: DuplicateSide } | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const load = () =>
    api.duplicateCandidates().then(
      (p) => {
        setPairs(p);
        setError(null);
      },
      (e) => setError(e as UiError),
    );
  useEffect(() => {
    void load();
  }, [refreshKey]);

  async function merge() {
    if (!confirm) return;
    setError(null);
    try {
      const kept = await api.mergePeople({ keep: confirm.keep.person_id, other: confirm.other.person_id });
      setDone(`${t("merged")}: ${kept.person.full_name}`);
      setConfirm(null);
      changed();
      await load();
    } catch (e) {
      setError(e as UiError);
    }
  }

  return (
    <section class="card" data-testid="duplicates">
      <p class="muted">{t("duplicatesHelp")}</p>
      <ErrorBox error={error} />
      {done ? (
        <p class="success" data-testid="merge-done">
          {done}
        </p>
      ) : null}
      {pairs && pairs.length === 0 ? <p data-testid="no-duplicates">{t("noDuplicates")}</p> : null}
      {(pairs ?? []).map((p, i) => (
        <div class="pair" key={`${p.a.person_id}-${p.b.person_id}`} data-testid={`pair-${i}`}>
          <p class="rule">{p.rule_text}</p>
          <div class="sides">
            <SideView s={p.a} />
            <SideView s={p.b} />
          </div>
          <div class="actions">
            <button type="button" data-testid={`keep-a-${i}`} onClick={() => setConfirm({ keep: p.a, other: p.b })}>
              {t("keepLeft")}
            </button>
            <button type="button" data-testid={`keep-b-${i}`} onClick={() => setConfirm({ keep: p.b, other: p.a })}>
              {t("keepRight")}
            </button>
          </div>
        </div>
      ))}
      {confirm ? (
        <div class="dialog-backdrop">
        <div class="dialog" role="dialog" aria-modal="true" data-testid="merge-confirm">
          <p>
            {t("mergeConfirm")} <strong>{confirm.other.full_name}</strong> → <strong>{confirm.keep.full_name}</strong>
          </p>
          <div class="actions">
            <button type="button" data-testid="merge-yes" onClick={() => void merge()}>
              {t("mergeYes")}
            </button>
            <button type="button" class="link" onClick={() => setConfirm(null)}>
              {t("close")}
            </button>
          </div>
        </div>
        </div>
      ) : null}
    </section>
  );
}
