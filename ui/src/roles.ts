import type { Role } from "./bindings/Role";
import type { TextKey } from "./i18n";

/** Each role's name on screen. */
export const ROLES: Record<Role, TextKey> = {
  vaccinator: "roleVaccinator",
  signer: "roleSigner",
  facility_admin: "roleFacilityAdmin",
  system_admin: "roleSystemAdmin",
  district_officer: "roleDistrictOfficer",
  province_officer: "roleProvinceOfficer",
};
