//! Where an operator's tokens live: `auscult serve` writes the bootstrap administrator's token to a
//! file only its user can read (never to standard output), and the operators' commands take their
//! token from `AUSCULT_TOKEN` or `--token-file`, never from the command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;

use std::os::unix::fs::PermissionsExt as _;

use ops_support::Served;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_goes_to_a_private_file_not_to_stdout() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    // A file left by someone else, readable by all: it must be replaced, not reused.
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("bootstrap-admin.token");
    std::fs::write(&path, "not a token\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let served = Served::start(&data);
    assert_eq!(served.token_file, path, "{}", served.printed);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file's mode is {mode:o}");
    let token = &served.admin_token;
    assert!(token.starts_with("ausc_"), "the file holds a token");
    assert!(
        !served.printed.contains(token.as_str()),
        "the token was printed:\n{}",
        served.printed
    );
    assert!(
        !served.printed.contains("ausc_"),
        "{}",
        served.printed
    );

    // What the file holds works as the system administrator's token.
    let out = served.admin_shell().run(&["tenant", "list"]).await.ok();
    assert!(!out.contains(token.as_str()), "{out}");
}
