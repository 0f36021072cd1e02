//! Runs the real `sluice` binary against a config and talks to it over
//! loopback sockets.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running sluice process; killed on drop.
pub(crate) struct Sluice {
    child: Child,
    /// The shared HTTP server's address.
    pub(crate) addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
    /// Where tests may put files the config refers to.
    pub(crate) dir: PathBuf,
}

/// The path of the binary under test: the one cargo built with the tests,
/// or `SLUICE_TEST_BIN` (`scripts/soak.sh` runs the soak against the
/// release build that way).
pub(crate) fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("SLUICE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sluice").to_owned())
    })
}

/// Writes `yaml` to a temp file, with `{dir}` replaced by a temp directory.
pub(crate) fn write_config(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = yaml.replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

impl Sluice {
    /// Starts sluice with `yaml` as its config on an ephemeral port and waits
    /// until it listens.
    pub(crate) fn start(yaml: &str) -> Sluice {
        Self::start_with_args(yaml, &[])
    }

    /// Like [`Sluice::start`] with extra command-line arguments.
    pub(crate) fn start_with_args(yaml: &str, args: &[&str]) -> Sluice {
        let (dir, path) = write_config(yaml);
        let mut command = Command::new(bin());
        command
            .arg("-c")
            .arg(&path)
            .args(["--set", "http.address=127.0.0.1:0"])
            .args(args);
        Self::spawn(command, dir)
    }

    /// Like [`Sluice::start`] with variables added to the process's
    /// environment.
    pub(crate) fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> Sluice {
        let (dir, path) = write_config(yaml);
        let mut command = Command::new(bin());
        command
            .arg("-c")
            .arg(&path)
            .args(["--set", "http.address=127.0.0.1:0"])
            .envs(env.iter().copied());
        Self::spawn(command, dir)
    }

    /// Like [`Sluice::start`], with the process's soft open-file limit set
    /// to `nofile` (through the shell's `ulimit`).
    pub(crate) fn start_with_open_file_limit(yaml: &str, nofile: u32) -> Sluice {
        let (dir, path) = write_config(yaml);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -S -n {nofile} && exec \"$0\" \"$@\""))
            .arg(bin())
            .arg("-c")
            .arg(&path)
            .args(["--set", "http.address=127.0.0.1:0"]);
        Self::spawn(command, dir)
    }

    /// Starts `sluice streams` over a directory holding `files` (name,
    /// YAML), with `args` before the directory, on an ephemeral port.
    pub(crate) fn start_streams(files: &[(&str, &str)], args: &[&str]) -> Sluice {
        let dir = tempfile::tempdir().expect("temp dir");
        let streams = dir.path().join("streams");
        std::fs::create_dir_all(&streams).expect("create streams dir");
        for (name, yaml) in files {
            let path = streams.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).expect("create dir");
            std::fs::write(path, yaml).expect("write stream config");
        }
        let mut command = Command::new(bin());
        command
            .arg("streams")
            .args(["--set", "http.address=127.0.0.1:0"])
            .args(args)
            .arg(&streams);
        Self::spawn(command, dir)
    }

    /// Runs `command` and waits until it listens.
    fn spawn(mut command: Command, dir: tempfile::TempDir) -> Sluice {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let announced = line
                    .split("Listening for HTTP requests at: ")
                    .nth(1)
                    .and_then(|url| url.split("://").nth(1));
                if let Some(addr) = announced {
                    let addr: String = addr
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    drop(addr_tx.send(addr));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(format!("stdout: {line}"));
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr.parse().expect("address"),
            Err(_) => {
                drop(child.kill());
                panic!(
                    "sluice did not start listening; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let dir_path = dir.path().to_path_buf();
        Sluice {
            child,
            addr,
            logs,
            _dir: dir,
            dir: dir_path,
        }
    }

    /// `http://addr{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What `/metrics` serves now, in the Prometheus text format.
    pub(crate) async fn metrics(&self) -> String {
        let res = client()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics request");
        assert_eq!(res.status(), 200, "/metrics");
        res.text().await.expect("metrics body")
    }

    /// Everything logged so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user and system) the process has used so far, from /proc.
    pub(crate) fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields of the whole line, in clock ticks (100/s).
        let rest = stat.rsplit_once(')').expect("stat format").1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// The most resident memory the process has used, from /proc.
    pub(crate) fn peak_rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in status");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmHWM in kB");
        kib * 1024
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        drop(
            Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status(),
        );
    }

    /// Waits for the process to exit.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// A blocking HTTP client for tests.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// POSTs `body` to `path` of `sluice`; the status and the body of the answer.
pub(crate) async fn post(sluice: &Sluice, path: &str, body: &str) -> (u16, String) {
    let res = client()
        .post(sluice.url(path))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Runs `sluice ARGS` with `stdin` and returns (exit code, stdout, stderr).
pub(crate) fn run_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // A command may exit without reading its input (a mapping that does not
    // parse): the pipe is then closed, which is not a failure of the test.
    if let Err(err) = written
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        panic!("write stdin: {err}");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lints `yaml` and returns (exit code, stderr with the path replaced by `x.yaml`).
pub(crate) fn lint(yaml: &str) -> (i32, String) {
    let (_dir, path) = write_config(yaml);
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(stdout, "");
    (code, stderr.replace(&path, "x.yaml"))
}

/// Reads a file the stream wrote, waiting until it has `lines` lines.
pub(crate) fn read_lines(path: &Path, lines: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_owned).collect();
        if got.len() >= lines || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}
