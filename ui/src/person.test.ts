import { describe, expect, it } from "vitest";
import type { PersonInput } from "./bindings/PersonInput";
import { draftToEdit, draftToInput, genderChoice, identityLabel, inputToDraft } from "./person";

const fromQr: PersonInput = {
  full_name: "Trần Thị Bích Ngọc",
  gender: "female",
  birth_date: "2003-11-17",
  id_kind: "cccd",
  id_number: "079303004321",
  phone: null,
  province: null,
  commune: null,
  address_detail: "Ấp 3, Xã Tân Nhựt",
  nationality: null,
  insurance_number: null,
};

describe("forms and the station's types", () => {
  it("fills the registration form from a QR card, gender and date as the form shows them", () => {
    const d = inputToDraft(fromQr);
    expect(d.gender).toBe("nu");
    expect(d.birth_date).toBe("17/11/2003");
    expect(d.nationality).toBe("VN");
    expect(genderChoice("male")).toBe("nam");
    expect(genderChoice("")).toBe("");
  });

  it("sends empty optional fields as absent on registration, and as cleared on edit", () => {
    const d = { ...inputToDraft(fromQr), phone: " 0903 123 456 ", insurance_number: "" };
    const input = draftToInput(d);
    expect(input.phone).toBe("0903 123 456");
    expect(input.insurance_number).toBeNull();
    expect(draftToEdit(d).insurance_number).toBe("");
    expect(draftToInput({ ...d, id_kind: "none" }).id_number).toBeNull();
  });

  it("labels an identity document", () => {
    expect(identityLabel("cccd", "079303004321")).toBe("CCCD 079303004321");
    expect(identityLabel("none", null)).toBe("—");
  });
});
