// Conversions between the forms' drafts and the station's types.

import type { IdentityKind } from "./bindings/IdentityKind";
import type { Person } from "./bindings/Person";
import type { PersonEdit } from "./bindings/PersonEdit";
import type { PersonInput } from "./bindings/PersonInput";
import type { VerificationKind } from "./bindings/VerificationKind";
import type { PersonDraft } from "./components/PersonFields";
import { EMPTY_PERSON } from "./components/PersonFields";
import { formatBirthDate } from "./format";
import type { Lang } from "./validate";

const opt = (s: string): string | null => (s.trim() === "" ? null : s.trim());

function childWithoutId(d: PersonDraft): boolean {
  return d.id_number.trim() === "" && d.caregiver_name.trim() !== "";
}

/** What the registration form sends. */
export function draftToInput(d: PersonDraft): PersonInput {
  return {
    full_name: d.full_name,
    gender: d.gender,
    birth_date: d.birth_date.trim(),
    // A child registered by the caregiver with no number yet has no document (until the
    // birth is registered and the record is edited).
    id_kind: (childWithoutId(d) ? "none" : d.id_kind) as IdentityKind,
    id_number: d.id_kind === "none" ? null : opt(d.id_number),
    phone: opt(d.phone),
    province: opt(d.province),
    commune: opt(d.commune),
    address_detail: opt(d.address_detail),
    nationality: opt(d.nationality),
    insurance_number: opt(d.insurance_number),
    hamlet: opt(d.hamlet) ?? undefined,
    caregiver_name: opt(d.caregiver_name) ?? undefined,
    caregiver_phone: opt(d.caregiver_phone) ?? undefined,
    caregiver_relation: opt(d.caregiver_relation) ?? undefined,
  };
}

/** The form's value of a gender as the station writes it (`male`/`female`, `nam`/`nu`). */
export function genderChoice(gender: string): string {
  const g = gender.trim().toLowerCase();
  return g === "male" || g === "nam" ? "nam" : g === "female" || g === "nu" || g === "nữ" ? "nu" : "";
}

/** The registration form filled from a CCCD QR code read by the station. */
export function inputToDraft(i: PersonInput): PersonDraft {
  return {
    ...EMPTY_PERSON,
    full_name: i.full_name,
    gender: genderChoice(i.gender),
    birth_date: formatBirthDate(i.birth_date),
    id_kind: i.id_kind ?? "cccd",
    id_number: i.id_number ?? "",
    phone: i.phone ?? "",
    province: i.province ?? "",
    commune: i.commune ?? "",
    address_detail: i.address_detail ?? "",
    nationality: i.nationality ?? "VN",
    insurance_number: i.insurance_number ?? "",
    hamlet: i.hamlet ?? "",
    caregiver_name: i.caregiver_name ?? "",
    caregiver_phone: i.caregiver_phone ?? "",
    caregiver_relation: i.caregiver_relation ?? "",
  };
}

/** The edit form filled from a person. */
export function personToDraft(p: Person): PersonDraft {
  return {
    full_name: p.full_name,
    gender: genderChoice(p.gender),
    birth_date: formatBirthDate(p.birth_date),
    id_kind: p.identity.kind,
    id_number: p.identity.number ?? "",
    phone: p.phone ?? "",
    province: p.address.province ?? "",
    commune: p.address.commune ?? "",
    address_detail: p.address.detail ?? "",
    nationality: p.nationality,
    insurance_number: p.insurance_number ?? "",
    hamlet: p.address.hamlet ?? "",
    caregiver_name: p.caregiver?.name ?? "",
    caregiver_phone: p.caregiver?.phone ?? "",
    caregiver_relation: p.caregiver?.relation ?? "",
  };
}

/** An edit: every field as the form shows it (an emptied optional field is cleared). */
export function draftToEdit(d: PersonDraft): PersonEdit {
  return {
    full_name: d.full_name,
    gender: d.gender,
    birth_date: d.birth_date.trim(),
    id_kind: d.id_kind as IdentityKind,
    id_number: d.id_kind === "none" ? "" : d.id_number.trim(),
    phone: d.phone.trim(),
    province: d.province.trim(),
    commune: d.commune.trim(),
    address_detail: d.address_detail.trim(),
    nationality: d.nationality.trim(),
    insurance_number: d.insurance_number.trim(),
    hamlet: d.hamlet.trim(),
    caregiver_name: d.caregiver_name.trim(),
    caregiver_phone: d.caregiver_phone.trim(),
    caregiver_relation: d.caregiver_relation.trim(),
  };
}

// The Vietnamese labels are the Rust ones (VerificationKind::label); English is the UI's own.
const VERIFICATION: Record<VerificationKind, { vi: string; en: string }> = {
  unverified: { vi: "Chưa xác thực", en: "Not verified" },
  matched: { vi: "Đã xác thực", en: "Matched" },
  mismatched: { vi: "Sai lệch với CSDLQG", en: "Differs from the population DB" },
  not_found: { vi: "Không có trong CSDLQG", en: "Not in the population DB" },
  no_id: { vi: "Không có giấy tờ", en: "No ID document" },
  invalid_id: { vi: "Giấy tờ sai định dạng", en: "ID in a wrong format" },
  not_applicable: { vi: "Không áp dụng (người nước ngoài)", en: "Not applicable (foreigner)" },
};

/** The label of a verification status. */
export function verificationLabel(status: VerificationKind, lang: Lang): string {
  return VERIFICATION[status][lang];
}

const ID_KINDS: Record<string, string> = { cccd: "CCCD", cmnd: "CMND", passport: "Hộ chiếu", none: "" };

/** "CCCD 079190123456". */
export function identityLabel(kind: string, number: string | null): string {
  return number ? `${ID_KINDS[kind] ?? kind} ${number}` : "—";
}
