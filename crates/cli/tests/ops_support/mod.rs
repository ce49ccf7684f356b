//! Running `auscult` as an operator types it: the real binary, a server address and a token in the
//! environment (or a token file), `TZ=UTC` so times are predictable; and `auscult serve` as a
//! child process.
//!
//! Included by the `ops_*.rs` tests with `mod ops_support;`. Helpers panic with the reason (and the
//! command's output) so a failing test says what the operator would have seen.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What one command printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// The command line, for messages.
    pub line: String,
    /// Exit status code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// The output of a command that must succeed.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed\nstdout:\n{}\nstderr:\n{}",
            self.line,
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    /// The error message of a command that must fail with status 1.
    pub fn fails(self) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "`{}` should have failed\nstdout:\n{}\nstderr:\n{}",
            self.line,
            self.stdout,
            self.stderr
        );
        self.stderr
    }
}

/// An operator's shell: `AUSCULT_SERVER` and `AUSCULT_TOKEN` exported.
#[derive(Debug, Clone)]
pub struct Shell {
    /// `http://host:port`.
    pub server: String,
    /// The bearer token.
    pub token: String,
}

impl Shell {
    /// The same server as another principal.
    pub fn as_token(&self, token: &str) -> Shell {
        Shell {
            server: self.server.clone(),
            token: token.to_owned(),
        }
    }

    /// Runs `auscult ARGS...` and waits for it.
    pub async fn run(&self, args: &[&str]) -> Ran {
        self.run_with_stdin(args, "").await
    }

    /// Runs `auscult ARGS...` with `stdin` on its standard input and waits for it.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Ran {
        run_auscult_with_stdin(
            args,
            &[
                ("AUSCULT_SERVER", &self.server),
                ("AUSCULT_TOKEN", &self.token),
            ],
            stdin,
        )
        .await
    }
}

/// Runs `auscult ARGS...` with `TZ=UTC` and only the `AUSCULT_*` variables in `env` (none
/// inherited from the test's environment), and waits for it.
pub async fn run_auscult(args: &[&str], env: &[(&str, &str)]) -> Ran {
    run_auscult_with_stdin(args, env, "").await
}

/// Like [`run_auscult`], with `stdin` on the command's standard input.
pub async fn run_auscult_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Ran {
    use tokio::io::AsyncWriteExt as _;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_auscult"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AUSCULT_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the auscult binary");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write the command's standard input");
    drop(input);
    let output = child
        .wait_with_output()
        .await
        .expect("wait for the auscult binary");
    Ran {
        line: format!("auscult {}", args.join(" ")),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The word after `key` on the first line of `text` that holds `key` (e.g. the id after
/// `tenant `).
pub fn word_after(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.split_once(key).map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .to_owned()
}

/// The token a command showed once.
pub fn shown_token(text: &str) -> String {
    word_after(text, "token (shown once): ")
}

/// `auscult serve` running as a child process with zero configuration but a data dir and an
/// ephemeral port.
#[derive(Debug)]
pub struct Served {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The bootstrap administrator's token, read from the file it named.
    pub admin_token: String,
    /// The file it wrote the bootstrap administrator's token to.
    pub token_file: PathBuf,
    /// What it printed on standard output up to `ready`.
    pub printed: String,
}

impl Served {
    /// Starts `auscult serve --listen 127.0.0.1:0 --web-listen 127.0.0.1:0 --data-dir DIR
    /// --workers 1`, reads its address
    /// and the bootstrap token file's path from what it prints, and the token from that file.
    pub fn start(dir: &Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_auscult"))
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
            .args(["--web-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn auscult serve");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (mut addr, mut token_file, mut printed) = (None, None, String::new());
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("listening on ") {
                addr = a.trim().parse().ok();
            } else if let Some(path) = line.strip_prefix("bootstrap admin token file: ") {
                token_file = Some(PathBuf::from(path.trim()));
            }
            printed.push_str(&line);
            printed.push('\n');
            if line == "ready" {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let (Some(addr), Some(token_file)) = (addr, token_file) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("auscult serve exited or did not print its address and bootstrap token file");
        };
        let admin_token = auscult_testkit::read_token_file(&token_file);
        Served {
            child,
            addr,
            admin_token,
            token_file,
            printed,
        }
    }

    /// The system administrator's shell.
    pub fn admin_shell(&self) -> Shell {
        Shell {
            server: format!("http://{}", self.addr),
            token: self.admin_token.clone(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
