//! Where an operator's tokens live: `auscult serve` writes the bootstrap administrator's token to a
//! file only its user can read (never to standard output), and the operators' commands take their
//! token from `AUSCULT_TOKEN` or `--token-file`, never from the command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;

use std::os::unix::fs::PermissionsExt as _;

use ops_support::{Served, run_auscult};

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
    assert!(!served.printed.contains("ausc_"), "{}", served.printed);

    // What the file holds works as the system administrator's token.
    let out = served.admin_shell().run(&["tenant", "list"]).await.ok();
    assert!(!out.contains(token.as_str()), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_take_the_token_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let served = Served::start(&dir.path().join("data"));
    let server = format!("http://{}", served.addr);
    let token_file = served.token_file.to_str().expect("a UTF-8 path");

    // AUSCULT_TOKEN alone.
    let out = run_auscult(
        &["tenant", "create", "East Clinic"],
        &[
            ("AUSCULT_SERVER", &server),
            ("AUSCULT_TOKEN", &served.admin_token),
        ],
    )
    .await
    .ok();
    assert!(out.ends_with(" East Clinic (clinic)\n"), "{out}");

    // --token-file alone: the bootstrap administrator's own file, as written by `auscult serve`.
    let out = run_auscult(
        &[
            "tenant",
            "list",
            "--server",
            &server,
            "--token-file",
            token_file,
        ],
        &[],
    )
    .await
    .ok();
    assert!(out.contains("East Clinic"), "{out}");

    // The command line's file wins over the environment.
    run_auscult(
        &["tenant", "list", "--token-file", token_file],
        &[("AUSCULT_SERVER", &server), ("AUSCULT_TOKEN", "stale")],
    )
    .await
    .ok();

    // No token at all: said plainly, before any call.
    let err = run_auscult(&["tenant", "list"], &[("AUSCULT_SERVER", &server)])
        .await
        .fails();
    assert_eq!(
        err,
        "auscult: no token: set AUSCULT_TOKEN or pass --token-file PATH\n"
    );
    let err = run_auscult(
        &["tenant", "list"],
        &[("AUSCULT_SERVER", &server), ("AUSCULT_TOKEN", "")],
    )
    .await
    .fails();
    assert!(err.contains("no token"), "{err}");

    // A missing or empty token file.
    let missing = dir.path().join("missing.token");
    let err = run_auscult(
        &["tenant", "list", "--server", &server, "--token-file"],
        &[],
    )
    .await;
    assert_eq!(err.code, Some(2), "--token-file needs a path: {err:?}");
    let err = run_auscult(
        &[
            "tenant",
            "list",
            "--server",
            &server,
            "--token-file",
            missing.to_str().unwrap(),
        ],
        &[],
    )
    .await
    .fails();
    assert!(err.starts_with("auscult: reading the token file "), "{err}");
    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    let err = run_auscult(
        &[
            "tenant",
            "list",
            "--server",
            &server,
            "--token-file",
            empty.to_str().unwrap(),
        ],
        &[],
    )
    .await
    .fails();
    assert!(err.contains("must hold one token"), "{err}");

    // A token on the command line is refused as a usage error.
    let ran = run_auscult(
        &["tenant", "list", "--token", &served.admin_token],
        &[("AUSCULT_SERVER", &server)],
    )
    .await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("--token-file"), "{}", ran.stderr);
}
