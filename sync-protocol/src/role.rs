//! What an account may do: the roles, and who may run whose account. Both the accounts
//! (`auth`) and the rulebook (`rules`) stand on it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Role {
    /// Vaccinator or data entry: reads and writes people and doses in scope.
    Vaccinator,
    /// Head of facility: reads in scope, signs with a registered certificate.
    Signer,
    /// Manages the facility's accounts; reads in scope.
    FacilityAdmin,
    /// Manages all accounts and configuration; never reads or writes people's data.
    SystemAdmin,
    /// Follows the stations of a district (the area a district centre signs for): counts and
    /// reports only, never a person.
    DistrictOfficer,
    /// Follows the stations of a province: counts and reports only, never a person.
    ProvinceOfficer,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Vaccinator => "vaccinator",
            Role::Signer => "signer",
            Role::FacilityAdmin => "facility_admin",
            Role::SystemAdmin => "system_admin",
            Role::DistrictOfficer => "district_officer",
            Role::ProvinceOfficer => "province_officer",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "vaccinator" => Some(Role::Vaccinator),
            "signer" => Some(Role::Signer),
            "facility_admin" => Some(Role::FacilityAdmin),
            "system_admin" => Some(Role::SystemAdmin),
            "district_officer" => Some(Role::DistrictOfficer),
            "province_officer" => Some(Role::ProvinceOfficer),
            _ => None,
        }
    }

    /// The Vietnamese name of the role.
    pub fn label(self) -> &'static str {
        match self {
            Role::Vaccinator => "Cán bộ tiêm chủng / nhập liệu",
            Role::Signer => "Thủ trưởng đơn vị (ký số)",
            Role::FacilityAdmin => "Quản trị cơ sở",
            Role::SystemAdmin => "Quản trị hệ thống",
            Role::DistrictOfficer => "Cán bộ theo dõi tuyến huyện",
            Role::ProvinceOfficer => "Cán bộ theo dõi tuyến tỉnh",
        }
    }

    /// Whether the role may read people's data.
    pub fn reads_people(self) -> bool {
        matches!(self, Role::Vaccinator | Role::Signer | Role::FacilityAdmin)
    }

    /// Whether the role follows an area's stations through counts (the console).
    pub fn is_officer(self) -> bool {
        matches!(self, Role::DistrictOfficer | Role::ProvinceOfficer)
    }

    /// Whether the role may register people, edit them, record and void doses.
    pub fn writes_people(self) -> bool {
        self == Role::Vaccinator
    }

    /// Whether an administrator of this role, of `own_facility`, may create, revoke and reset
    /// an account of `role` at `facility`. The head of a station runs its vaccinators' and
    /// signers' accounts; a system administrator only sets up administrators, never an account
    /// that reads or writes a facility's people (it could then choose its password and enrol
    /// its own authenticator).
    pub fn may_manage(self, own_facility: &str, facility: &str, role: Role) -> bool {
        match self {
            Role::SystemAdmin => matches!(
                role,
                Role::FacilityAdmin
                    | Role::SystemAdmin
                    | Role::DistrictOfficer
                    | Role::ProvinceOfficer
            ),
            Role::FacilityAdmin => {
                own_facility == facility && matches!(role, Role::Vaccinator | Role::Signer)
            }
            Role::Vaccinator | Role::Signer | Role::DistrictOfficer | Role::ProvinceOfficer => {
                false
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_run_their_staff_and_system_administrators_only_administrators() {
        use Role::*;
        assert!(FacilityAdmin.may_manage("TYT-A", "TYT-A", Vaccinator));
        assert!(FacilityAdmin.may_manage("TYT-A", "TYT-A", Signer));
        assert!(!FacilityAdmin.may_manage("TYT-A", "TYT-B", Vaccinator));
        assert!(!FacilityAdmin.may_manage("TYT-A", "TYT-A", FacilityAdmin));
        assert!(SystemAdmin.may_manage("SYT", "TYT-A", FacilityAdmin));
        assert!(!SystemAdmin.may_manage("SYT", "TYT-A", Vaccinator));
        assert!(!SystemAdmin.may_manage("SYT", "TYT-A", Signer));
        assert!(!Vaccinator.may_manage("TYT-A", "TYT-A", Vaccinator));
        assert!(!Signer.may_manage("TYT-A", "TYT-A", Vaccinator));
        assert!(SystemAdmin.may_manage("SYT", "TTYT-Q7", DistrictOfficer));
        assert!(SystemAdmin.may_manage("SYT", "CDC-HCM", ProvinceOfficer));
        assert!(!FacilityAdmin.may_manage("TYT-A", "TYT-A", DistrictOfficer));
        assert!(!DistrictOfficer.may_manage("TTYT-Q7", "TTYT-Q7", Vaccinator));
    }

    #[test]
    fn officers_read_counts_never_people() {
        for role in [
            Role::DistrictOfficer,
            Role::ProvinceOfficer,
            Role::SystemAdmin,
        ] {
            assert!(!role.reads_people(), "{role}");
            assert!(!role.writes_people(), "{role}");
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::DistrictOfficer.is_officer() && !Role::SystemAdmin.is_officer());
    }
}
