//! What the control plane's integration tests share.

use std::path::PathBuf;

use mmsc_controlplane::service::Settings;
use mmsc_wire::Limits;

/// The service settings of the tests: subscribers +35840..., one-hour expiry (two at most).
pub fn settings() -> Settings {
    Settings {
        content_location_base: "http://127.0.0.1:8514/mms".into(),
        local_prefixes: vec!["+35840".into()],
        default_expiry_secs: 3600,
        max_expiry_secs: 7200,
        domain: "mmsc.test".into(),
        retry_initial_secs: 2,
        retry_max_secs: 60,
        limits: Limits::default(),
    }
}

/// An empty temporary directory of this process for test `name` of file `file`.
pub fn tmpdir(file: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmsc-{file}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
