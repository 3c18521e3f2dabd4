import type { Ref } from "preact";
import { Field, Select } from "./Field";
import { t } from "../i18n";
import type { PersonForm } from "../validate";

/** The registration / edit form's values, as typed: the checked fields and the rest. */
export interface PersonDraft extends PersonForm {
  province: string;
  commune: string;
  hamlet: string;
  caregiver_name: string;
  caregiver_phone: string;
  caregiver_relation: string;
  address_detail: string;
  nationality: string;
  insurance_number: string;
}

export const EMPTY_PERSON: PersonDraft = {
  full_name: "",
  gender: "",
  birth_date: "",
  id_kind: "cccd",
  id_number: "",
  phone: "",
  province: "",
  commune: "",
  hamlet: "",
  caregiver_name: "",
  caregiver_phone: "",
  caregiver_relation: "",
  address_detail: "",
  nationality: "VN",
  insurance_number: "",
};

interface Props {
  prefix: string;
  draft: PersonDraft;
  /** Receives an update of the latest draft (not a copy of this render's: fast typing across
   * fields must not bring back a value the previous keystroke replaced). */
  onChange: (update: (d: PersonDraft) => PersonDraft) => void;
  errors: Record<string, string>;
  nameRef?: Ref<HTMLInputElement>;
  phoneRef?: Ref<HTMLInputElement>;
}

/** The fields of a person, shared by registration and editing. */
export function PersonFields({ prefix, draft, onChange, errors, nameRef, phoneRef }: Props) {
  const set = (k: keyof PersonDraft) => (v: string) => onChange((d) => ({ ...d, [k]: v }));
  const id = (k: string) => `${prefix}-${k}`;
  return (
    <div class="grid">
      <Field id={id("full_name")} label={t("fullName")} value={draft.full_name} onInput={set("full_name")} error={errors.full_name} inputRef={nameRef} hint={t("newbornHint")} required={draft.caregiver_name.trim() === ""} />
      <Select
        id={id("gender")}
        label={t("gender")}
        value={draft.gender}
        onChange={set("gender")}
        error={errors.gender}
        required
        options={[
          { value: "", label: t("choose") },
          { value: "nam", label: t("male") },
          { value: "nu", label: t("female") },
        ]}
      />
      <Field id={id("birth_date")} label={t("birthDate")} value={draft.birth_date} onInput={set("birth_date")} error={errors.birth_date} placeholder="17/05/1990" required />
      <Select
        id={id("id_kind")}
        label={t("idKind")}
        value={draft.id_kind}
        onChange={set("id_kind")}
        error={errors.identity_kind}
        options={[
          { value: "cccd", label: "CCCD" },
          { value: "cmnd", label: "CMND" },
          { value: "passport", label: t("passport") },
          { value: "none", label: t("idNone") },
        ]}
      />
      <Field id={id("id_number")} label={t("idNumber")} value={draft.id_number} onInput={set("id_number")} error={errors.id_number} inputMode="numeric" />
      <Field id={id("phone")} label={t("phone")} value={draft.phone} onInput={set("phone")} error={errors.phone} inputMode="tel" inputRef={phoneRef} />
      <Field id={id("province")} label={t("province")} value={draft.province} onInput={set("province")} error={errors.address} />
      <Field id={id("commune")} label={t("commune")} value={draft.commune} onInput={set("commune")} />
      <Field id={id("hamlet")} label={t("hamlet")} value={draft.hamlet} onInput={set("hamlet")} error={errors.hamlet} />
      <Field id={id("caregiver_name")} label={t("caregiverName")} value={draft.caregiver_name} onInput={set("caregiver_name")} error={errors.caregiver_name} />
      <Field id={id("caregiver_phone")} label={t("caregiverPhone")} value={draft.caregiver_phone} onInput={set("caregiver_phone")} error={errors.caregiver_phone} inputMode="tel" />
      <Field id={id("caregiver_relation")} label={t("caregiverRelation")} value={draft.caregiver_relation} onInput={set("caregiver_relation")} />
      <Field id={id("address_detail")} label={t("addressDetail")} value={draft.address_detail} onInput={set("address_detail")} />
      <Field id={id("nationality")} label={t("nationality")} value={draft.nationality} onInput={set("nationality")} error={errors.nationality} />
      <Field id={id("insurance_number")} label={t("insurance")} value={draft.insurance_number} onInput={set("insurance_number")} error={errors.insurance_number} />
    </div>
  );
}
