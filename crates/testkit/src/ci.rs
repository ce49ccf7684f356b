//! Whether a test may skip because an outside service is absent.
//!
//! A test that needs PostgreSQL, the S3 test server, PhysioNet's `wfdb` Python package, python3,
//! `../shared/data` or headless Chromium with its WebDriver (`chromedriver`) skips with a message
//! when it is absent, so `cargo test` works on a bare machine. In CI a skip must not look like a
//! pass: `.ci/run` starts those services and then declares them in `AUSCULT_CI_REQUIRE`
//! (comma-separated names, see [`Service::name`]); a test that would skip for a declared service
//! fails instead.
//!
//! Every skip site goes through [`require_or_skip`]. This file uses only `std`, so the suites
//! that do not depend on this crate (the store's, the recording crate's, the CLI's) include it
//! with `#[path = "../../testkit/src/ci.rs"] mod ci;` rather than keeping their own copy.
#![allow(dead_code)]

/// The variable `.ci/run` sets to the services it provides.
pub const REQUIRE_ENV: &str = "AUSCULT_CI_REQUIRE";

/// An outside service some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// A PostgreSQL server named by `AUSCULT_TEST_POSTGRES_URL`.
    Postgres,
    /// An S3-compatible server named by `AUSCULT_TEST_S3_URL`.
    S3,
    /// python3 (the shared scorer runs on it).
    Python3,
    /// PhysioNet's `wfdb` Python package, importable by `python3`.
    Wfdb,
    /// The labelled recordings in `../shared/data`.
    SharedData,
    /// Debian's `chromium` and `chromium-driver` (`chromedriver`) on the `PATH`, for the web
    /// console's browser tests.
    Chromium,
    /// Debian's `firefox-esr` and Mozilla's `geckodriver` (from crates.io: `cargo install
    /// geckodriver`) on the `PATH`, for the console's Firefox test.
    Firefox,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 7] = [
        Service::Postgres,
        Service::S3,
        Service::Python3,
        Service::Wfdb,
        Service::SharedData,
        Service::Chromium,
        Service::Firefox,
    ];

    /// Its name in `AUSCULT_CI_REQUIRE`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::S3 => "s3",
            Service::Python3 => "python3",
            Service::Wfdb => "wfdb",
            Service::SharedData => "shared-data",
            Service::Chromium => "chromium",
            Service::Firefox => "firefox",
        }
    }

    fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The services declared in `value` (the text of `AUSCULT_CI_REQUIRE`), or the unknown name in
/// it (a misspelt declaration must not silently declare nothing).
pub fn parse_declared(value: &str) -> Result<Vec<Service>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| Service::parse(n).ok_or_else(|| n.to_owned()))
        .collect()
}

/// The services this run declares present; panics on an unknown name.
pub fn declared() -> Vec<Service> {
    let value = std::env::var(REQUIRE_ENV).unwrap_or_default();
    parse_declared(&value).unwrap_or_else(|name| {
        let known: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        panic!("{REQUIRE_ENV}={value:?} names an unknown service {name:?} (known: {known:?})")
    })
}

/// `found` when the service is there. When it is not (`None`): panics if the run declared the
/// service in `AUSCULT_CI_REQUIRE` (the test fails), otherwise prints that the test is skipped
/// and why (`missing`), and returns `None` for the caller to return early.
pub fn require_or_skip<T>(service: Service, found: Option<T>, missing: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    skip_unless_declared(&declared(), service, missing);
    None
}

/// Panics when `service` is in `declared`; otherwise prints that the test is skipped.
fn skip_unless_declared(declared: &[Service], service: Service, missing: &str) {
    if declared.contains(&service) {
        panic!(
            "{missing}, but {REQUIRE_ENV} declares `{}` present: failing instead of skipping",
            service.name()
        );
    }
    eprintln!("skipped: {missing}");
}

/// The path of the program `name` on the `PATH`, if there is one.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `chromedriver` and a Chromium to drive (`chromium`, else `chromium-browser`), when both are
/// installed; otherwise `None` after printing that the test is skipped, or a failure when CI
/// declared `chromium` present.
pub fn chromium_or_skip() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let found = on_path("chromedriver").and_then(|driver| {
        on_path("chromium")
            .or_else(|| on_path("chromium-browser"))
            .map(|browser| (driver, browser))
    });
    require_or_skip(
        Service::Chromium,
        found,
        "chromedriver or chromium is not installed (apt-get install chromium chromium-driver): \
         the browser test is skipped",
    )
}

/// `geckodriver` and a Firefox to drive (`firefox-esr`, else `firefox`), when both are
/// installed; otherwise `None` after printing that the test is skipped, or a failure when CI
/// declared `firefox` present.
pub fn firefox_or_skip() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let found = on_path("geckodriver").and_then(|driver| {
        on_path("firefox-esr")
            .or_else(|| on_path("firefox"))
            .map(|browser| (driver, browser))
    });
    require_or_skip(
        Service::Firefox,
        found,
        "geckodriver or firefox is not installed (apt-get install firefox-esr; cargo install \
         geckodriver): the Firefox test is skipped",
    )
}

/// Whether `python3 -c <code>` runs and exits 0.
pub fn python_runs(code: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", code])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_parse_and_misspellings_are_refused() {
        assert_eq!(parse_declared(""), Ok(vec![]));
        assert_eq!(
            parse_declared("postgres, s3,wfdb,shared-data,python3,chromium,"),
            Ok(vec![
                Service::Postgres,
                Service::S3,
                Service::Wfdb,
                Service::SharedData,
                Service::Python3,
                Service::Chromium
            ])
        );
        assert_eq!(parse_declared("postgres,pg"), Err("pg".to_owned()));
        for s in Service::ALL {
            assert_eq!(Service::parse(s.name()), Some(s));
        }
    }

    #[test]
    fn a_present_service_is_returned() {
        assert_eq!(require_or_skip(Service::SharedData, Some(3), "x"), Some(3));
    }

    #[test]
    fn an_undeclared_service_skips() {
        skip_unless_declared(&[Service::Postgres], Service::S3, "no S3 here");
    }

    #[test]
    #[should_panic(expected = "declares `chromium` present")]
    fn a_declared_browser_that_is_missing_fails() {
        skip_unless_declared(
            &[Service::Chromium],
            Service::Chromium,
            "no chromedriver here",
        );
    }

    #[test]
    #[should_panic(expected = "declares `s3` present")]
    fn a_declared_service_that_is_missing_fails() {
        skip_unless_declared(&[Service::Postgres, Service::S3], Service::S3, "no S3 here");
    }
}
