// The complaints inbox: the filter, and the complaints by deadline (overdue in red), walked with ↑/↓.
import { useRef } from "preact/hooks";
import type { ComplaintFilter } from "../../bindings/ComplaintFilter";
import type { ComplaintSummary } from "../../bindings/ComplaintSummary";
import { formatDate } from "../../format";
import { t } from "../../i18n";

export function Inbox({
  filter,
  setFilter,
  inbox,
  openId,
  setOpenId,
}: {
  filter: ComplaintFilter;
  setFilter: (filter: ComplaintFilter) => void;
  inbox: ComplaintSummary[] | null;
  openId: string | null;
  setOpenId: (id: string | null) => void;
}) {
  const list = useRef<HTMLDivElement>(null);

  function onListKey(e: KeyboardEvent) {
    if (!inbox || inbox.length === 0) return;
    const rows = Array.from(list.current?.querySelectorAll<HTMLButtonElement>("button.complaint-row") ?? []);
    const at = rows.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
      rows[next]?.focus();
    }
  }

  return (
    <section class="card">
      <h2>{t("complaintsTitle")}</h2>
      <div class="actions">
        <label class="choice">
          <input type="radio" name="complaint-filter" checked={filter === "open"} onChange={() => setFilter("open")} data-testid="complaints-open" /> {t("complaintsToAnswer")}
        </label>
        <label class="choice">
          <input type="radio" name="complaint-filter" checked={filter === "all"} onChange={() => setFilter("all")} data-testid="complaints-all" /> {t("complaintsAll")}
        </label>
      </div>
      {inbox && inbox.length === 0 ? <p class="muted" data-testid="complaints-empty">{t("complaintsNone")}</p> : null}
      <div ref={list} onKeyDown={onListKey} role="list">
        {(inbox ?? []).map((c, i) => (
          <button
            type="button"
            role="listitem"
            key={c.id}
            class={`complaint-row${c.overdue ? " overdue" : ""}${c.id === openId ? " current" : ""}`}
            data-testid="complaint-row"
            data-code={c.code}
            data-overdue={c.overdue ? "true" : "false"}
            data-state={c.state}
            autoFocus={i === 0 && !openId}
            onClick={() => setOpenId(c.id)}
          >
            <span class="complaint-deadline">{formatDate(c.deadline)}</span>
            <strong>{c.full_name}</strong>
            <span>{c.kind_label}</span>
            <span class={c.overdue ? "danger" : "muted"}>{c.state_label}</span>
            <span class="muted">{c.code}</span>
          </button>
        ))}
      </div>
    </section>
  );
}
