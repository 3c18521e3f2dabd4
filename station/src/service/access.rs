//! Who may do what on this station now: the open session and the gates every operation
//! passes (a reader of people's data, a writer of them).

use super::Station;
use crate::error::{Result, StationError};
use crate::session::Session;

impl Station {
    /// Who is signed in, if anyone.
    pub fn session(&self) -> Option<Session> {
        self.session
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_session(&self, session: Option<Session>) {
        *self
            .session
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = session;
    }

    /// The signed-in user, if their role may read people's data (a system administrator may not).
    pub(crate) fn reader(&self) -> Result<Session> {
        let s = self.session().ok_or(StationError::NotSignedIn)?;
        if !s.role().reads_people() {
            return Err(StationError::Forbidden(
                "tài khoản quản trị hệ thống không được xem hay sửa dữ liệu người tiêm",
            ));
        }
        Ok(s)
    }

    /// The signed-in user's name, if their role may write people's data (vaccinators only).
    pub(crate) fn writer(&self) -> Result<String> {
        let s = self.reader()?;
        if !s.role().writes_people() {
            return Err(StationError::Forbidden(
                "chỉ cán bộ tiêm chủng / nhập liệu được đăng ký, sửa hồ sơ và ghi mũi tiêm",
            ));
        }
        Ok(s.username().to_string())
    }

    /// The clock sessions, leases, locks and one-time codes are checked against.
    pub fn clock(&self) -> &sync_protocol::Clock {
        &self.clock
    }

    /// Reads time from `clock` from now on (tests move a clock instead of editing rows).
    pub fn set_clock(&mut self, clock: sync_protocol::Clock) {
        self.clock = clock;
    }
}
