//! `bedside keys rotate-data-key` swaps the key a running server holds in
//! memory, so it must refuse to run beside `bedside serve` on the same data
//! directory — checked here with the real binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bedside");

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("BEDSIDE_DATA_DIR", dir)
        .env("BEDSIDE_LISTEN", "127.0.0.1:0")
        .env("BEDSIDE_LOG_FORMAT", "text")
        .stdin(Stdio::null());
    cmd
}

fn rotate(dir: &Path) -> Output {
    command(dir)
        .args(["keys", "rotate-data-key"])
        .output()
        .unwrap()
}

/// Starts `bedside serve` and waits (bounded) until it says it listens.
fn serve(dir: &Path) -> Child {
    let mut child = command(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("is listening") => return child,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("bedside serve did not come up: {seen:#?}");
            }
        }
    }
}

#[test]
fn rotating_the_data_key_is_refused_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let key_before = std::fs::read(dir.path().join("data-key")).unwrap();

    let out = rotate(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains("stop the server first"), "{stderr}");
    assert!(stderr.contains("nothing changed"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("data-key")).unwrap(),
        key_before,
        "the key is unchanged"
    );
    assert!(!dir.path().join("data-key.new").exists());

    // Once the server is gone — even killed, without a clean shutdown —
    // the rotation runs.
    server.kill().unwrap();
    server.wait().unwrap();
    let out = rotate(dir.path());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("data key rotated"));
    assert_ne!(
        std::fs::read(dir.path().join("data-key")).unwrap(),
        key_before
    );

    // And a server started afterwards comes up as usual.
    let mut server = serve(dir.path());
    server.kill().unwrap();
    server.wait().unwrap();
}
