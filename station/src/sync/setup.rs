//! A station joining its facility, and the client to its remembered server.

use crate::remote::{SyncClient, SyncError, SyncResult};
use crate::service::Station;
use crate::store::MetaKey;

impl Station {
    /// Sets up a new station in `dir` from the server: the device token tells which facility
    /// this laptop belongs to, so only the server's address and the token are typed. Nothing is
    /// created unless the server accepts the token.
    pub async fn join(
        dir: &std::path::Path,
        server: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
    ) -> SyncResult<Station> {
        let client = SyncClient::new(server.trim(), token, ca_pem)?;
        let info = client.info().await?;
        let facility = info.facility_info.ok_or_else(|| {
            SyncError::BadResponse("máy chủ không cho biết cơ sở của thiết bị này".into())
        })?;
        let station = Station::init(
            dir,
            crate::service::NewStation {
                kind: crate::facility::FacilityKind::parse(&facility.kind)
                    .map_err(|e| SyncError::Station(e.into()))?,
                facility_code: facility.code,
                facility_name: facility.name,
                province: facility.province,
                commune: facility.commune,
            },
        )
        .await?;
        station.connect(Some(server), Some(token), ca_pem).await?;
        Ok(station)
    }

    /// A client for the server: `server` and `token` when given, else those remembered from an
    /// earlier connection. What was given is remembered only once the server has accepted it,
    /// so a mistyped token never replaces a working one; an unreachable server is used for now
    /// and remembered at the next connection that answers.
    pub async fn connect(
        &self,
        server: Option<&str>,
        token: Option<&str>,
        ca_pem: Option<&[u8]>,
    ) -> SyncResult<SyncClient> {
        let store_id = self.store().descriptor().store_id.clone();
        let url = match server {
            Some(s) => s.trim().to_string(),
            None => self
                .meta_value(MetaKey::SyncServerUrl)
                .await
                .map_err(SyncError::Station)?
                .ok_or(SyncError::NotConfigured)?,
        };
        let device_token = match token {
            Some(t) => t.trim().to_string(),
            None => crate::key::load_secret(&store_id, "device-token")
                .ok()
                .flatten()
                .ok_or(SyncError::NotConfigured)?,
        };
        let client = SyncClient::new(&url, &device_token, ca_pem)?;
        if server.is_some() || token.is_some() {
            match client.info().await {
                Ok(_) => {
                    if server.is_some() {
                        self.set_meta(MetaKey::SyncServerUrl, Some(&url))
                            .await
                            .map_err(SyncError::Station)?;
                    }
                    if token.is_some()
                        && let Err(e) =
                            crate::key::save_secret(&store_id, "device-token", &device_token)
                    {
                        // Without a credential store the token must be given each time.
                        tracing::warn!("device token not kept in the credential store: {e}");
                    }
                }
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(client)
    }
}
