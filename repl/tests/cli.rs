//! The `weir` binary as users drive it: exit codes, piped input, and the REPL in a real
//! pseudo-terminal (through util-linux `script`): multi-line input, Tab completion, Ctrl-C
//! cancelling a running push query while the REPL stays alive, Ctrl-D exiting.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(WEIR)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("weir ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_and_piped_scripts() {
    let (code, out, _) = run(
        &["--format", "csv"],
        "CREATE STREAM s (a INT, b STRING);\nINSERT INTO s VALUES (1, 'x'), (2, 'y');\nSELECT b FROM s WHERE a > 1;\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "B\ny\n");
    let (code, _, err) = run(&["-e", "SELECT * FROM nope;"], "");
    assert_eq!(code, 1);
    assert!(err.contains("stream 'NOPE' does not exist"), "{err}");
    let (code, _, err) = run(&["--bogus"], "");
    assert_eq!(code, 2);
    assert!(err.contains("usage"), "{err}");
    let (code, _, _) = run(&["run", "/nonexistent/script.sql"], "");
    assert_eq!(code, 2);
}

#[test]
fn repl_in_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("util-linux `script` is not installed: the pseudo-terminal test is skipped");
        return;
    }
    let home = std::env::temp_dir().join(format!("weir-repl-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    // `script` runs the command through `$SHELL -c`; `exec` makes the REPL the terminal's
    // foreground process itself, so Ctrl-C reaches it and not a shell (dash, for one, stays
    // as the parent and dies of the SIGINT, reporting 130 for a REPL that exited normally).
    let command = format!("exec {WEIR}");
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("HOME", &home)
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    // The screen so far, read on a thread so the test can wait for what the REPL shows instead
    // of guessing how long each step takes on a loaded machine.
    let screen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                screen.lock().expect("screen").push_str(&text);
            }
        })
    };
    let seen = |needle: &str| {
        strip_ansi(&screen.lock().expect("screen"))
            .replace('\r', "")
            .matches(needle)
            .count()
    };
    let wait_for = |needle: &str, times: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen(needle) < times {
            assert!(
                Instant::now() < deadline,
                "the REPL never showed {needle:?}:\n{}",
                strip_ansi(&screen.lock().expect("screen"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The REPL waits at an empty prompt.
    let idle = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = strip_ansi(&screen.lock().expect("screen")).replace('\r', "");
            if text.ends_with("weir> ") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the REPL never came back:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut input = child.stdin.take().expect("stdin");
    let mut type_in = |text: &str| {
        input.write_all(text.as_bytes()).expect("type");
        input.flush().expect("flush");
    };
    wait_for("Ctrl-D exits", 1);
    type_in("CREATE STREAM readings (sensor INT, celsius DOUBLE);\r");
    wait_for("Created stream READINGS", 1);
    type_in("INSERT INTO readings VALUES (1, 21.5), (2, 30.25);\r");
    wait_for("Inserted 2 rows", 1);
    // A multi-line statement, with the column name completed by Tab.
    type_in("SELECT sensor, cels\t");
    wait_for("SELECT sensor, celsius", 1);
    type_in("\r");
    wait_for("-> ", 1);
    type_in("FROM readings\r");
    wait_for("-> FROM readings", 1);
    type_in("WHERE celsius > 25;\r");
    wait_for("| 2      | 30.25   |", 1);
    idle();
    // A push query on an in-memory stream runs until cancelled: Ctrl-C stops it, not the REPL.
    type_in("SELECT sensor FROM readings EMIT CHANGES;\r");
    // (the earlier result also showed a row for sensor 2)
    wait_for("| 2      |", 2);
    type_in("\x03");
    wait_for("query cancelled", 1);
    idle();
    type_in("SHOW STREAMS;\r");
    wait_for("| READINGS", 1);
    idle();
    type_in("\x04");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait().expect("wait").is_none() {
        let _ = child.kill();
        panic!("the REPL did not exit after Ctrl-D");
    }
    drop(input);
    let status = child.wait().expect("status");
    reader.join().expect("reader");
    let text = strip_ansi(&screen.lock().expect("screen")).replace('\r', "");
    assert_eq!(status.code(), Some(0), "{text}");
}

/// The text without terminal escape sequences (colours, cursor moves).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn interrupting_a_script_exits_130() {
    let mut child = Command::new(WEIR)
        .args([
            "-e",
            "CREATE STREAM s (a INT) WITH (PATH='-'); SELECT a FROM s EMIT CHANGES;",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"{\"a\": 1}\n").expect("write");
    stdin.flush().expect("flush");
    // Wait until the row is on screen, then interrupt.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("| 1 ") {
        let n = stdout.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "weir ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("weir ends");
    drop(stdin);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_script_push_query_ends_with_its_input() {
    let (code, out, _) = run(
        &["-e", "SET 'batch.max.rows'='1'; CREATE STREAM e (k INT KEY, v INT); INSERT INTO e VALUES (1, 1), (2, 2), (1, 3); SELECT k, SUM(v) AS s FROM e GROUP BY k EMIT CHANGES;"],
        "",
    );
    assert_eq!(code, 0);
    // Changelog rows say whether they insert or update a key.
    assert!(
        out.contains("| OP ") && out.contains("| update | 1"),
        "{out}"
    );
}

/// The README's tour runs as written (from the repository root, as the README says).
#[test]
fn readme_tour_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let start = readme.find("## A 5-minute tour").expect("tour section");
    let block = &readme[start..];
    let sql_start = block.find("```sql\n").expect("sql block") + "```sql\n".len();
    let sql = &block[sql_start..sql_start + block[sql_start..].find("```").expect("block end")];
    let script = std::env::temp_dir().join(format!("weir-tour-{}.sql", std::process::id()));
    std::fs::write(&script, sql).expect("write");
    let out = Command::new(WEIR)
        .arg("run")
        .arg(&script)
        .current_dir(&root)
        .output()
        .expect("weir runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| Queens"), "the join ran:\n{text}");
}

#[test]
fn csv_output_writes_nested_values_as_json_and_bytes_as_base64() {
    let path = std::env::temp_dir().join(format!("weir-cli-nested-{}.jsonl", std::process::id()));
    std::fs::write(&path, "{\"id\":1,\"tags\":[\"a\",\"b\"],\"b\":\"AQID\"}\n")
        .expect("write input");
    let sql = format!(
        "CREATE STREAM s (id INT, tags ARRAY<STRING>, b BYTES) WITH (PATH='{}');\nSELECT * FROM s;\n",
        path.display()
    );
    let (code, out, err) = run(&["--format", "csv"], &sql);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1,\"[\"\"a\"\",\"\"b\"\"]\",AQID"), "{out}");
}

/// `RUN SCRIPT 'file';` in a script or piped input runs that file's statements there.
#[test]
fn run_script_inside_a_script() {
    let dir = std::env::temp_dir().join(format!("weir-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let inner = dir.join("inner.sql");
    std::fs::write(
        &inner,
        "CREATE STREAM s (a INT);\nINSERT INTO s VALUES (7);\n",
    )
    .expect("write script");
    let (code, out, err) = run(
        &["--format", "csv"],
        &format!("RUN SCRIPT '{}'; SELECT a FROM s;\n", inner.display()),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "A\n7\n");
    let (code, _, err) = run(&["-e", "RUN SCRIPT '/nonexistent/x.sql';"], "");
    assert_eq!(code, 1);
    assert!(err.contains("cannot read script"), "{err}");
}
