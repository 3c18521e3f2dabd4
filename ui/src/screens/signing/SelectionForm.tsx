// The signing selection: the days, name, phone and mobile teams whose doses are previewed.
import { Field } from "../../components/Field";
import { t } from "../../i18n";
import type { SelectionFields } from "./useSigning";

export function SelectionForm({
  fields,
  setFields,
  errors,
  onSubmit,
}: {
  fields: SelectionFields;
  setFields: (change: Partial<SelectionFields>) => void;
  errors: Record<string, string>;
  onSubmit: (e: Event) => void;
}) {
  return (
    <form class="card" onSubmit={onSubmit} data-testid="signing-selection">
      <div class="grid">
        <Field id="sign-from" label={t("fromDay")} value={fields.from} onInput={(from) => setFields({ from })} error={errors.from} placeholder="dd/mm/yyyy" />
        <Field id="sign-to" label={t("toDay")} value={fields.to} onInput={(to) => setFields({ to })} error={errors.to} placeholder="dd/mm/yyyy" />
        <Field id="sign-name" label={t("fullName")} value={fields.name} onInput={(name) => setFields({ name })} />
        <Field id="sign-phone" label={t("phone")} value={fields.phone} onInput={(phone) => setFields({ phone })} error={errors.phone} />
      </div>
      <label class="check">
        <input
          type="checkbox"
          id="sign-mobile-teams"
          checked={fields.mobileTeams}
          onChange={(e) => setFields({ mobileTeams: (e.target as HTMLInputElement).checked })}
        />{" "}
        {t("includeMobileTeams")}
      </label>
      <button type="submit" data-testid="signing-preview">
        {t("preview")}
      </button>
    </form>
  );
}
