//! Where a station keeps its data on a laptop when nobody says otherwise.

use std::path::PathBuf;

/// The desktop app's identifier (`tauri.conf.json`), which names its folder.
pub const APP_ID: &str = "vn.sotiem.desktop";

/// The station's data folder by default: the user's *local* application data
/// (`%LOCALAPPDATA%\vn.sotiem.desktop` on Windows, `$XDG_DATA_HOME/vn.sotiem.desktop` on Linux).
/// Not the roaming `%APPDATA%`: a domain's roaming profile would copy the whole encrypted store
/// to a server at every sign-out, and another machine would open it without its key.
pub fn default_data_dir() -> Option<PathBuf> {
    dirs::data_local_dir().map(|d| d.join(APP_ID))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Windows: the folder is under %LOCALAPPDATA%, never the roaming %APPDATA%.
    #[cfg(windows)]
    #[test]
    fn on_windows_the_data_lives_in_local_not_roaming_app_data() {
        let local = PathBuf::from(std::env::var_os("LOCALAPPDATA").expect("LOCALAPPDATA set"));
        let roaming = PathBuf::from(std::env::var_os("APPDATA").expect("APPDATA set"));
        assert_ne!(local, roaming);
        let dir = default_data_dir().expect("a folder");
        assert_eq!(dir, local.join(APP_ID));
        assert!(!dir.starts_with(&roaming), "{}", dir.display());
        // The folder can be made and written there, as the app's first run does.
        std::fs::create_dir_all(&dir).expect("made");
        let probe = dir.join("thử ghi.txt");
        std::fs::write(&probe, "Sổ Tiêm").expect("written");
        std::fs::remove_file(&probe).expect("removed");
    }

    #[test]
    fn the_folder_is_named_by_the_apps_identifier() {
        if let Some(dir) = default_data_dir() {
            assert!(dir.ends_with(APP_ID), "{}", dir.display());
        }
    }
}
