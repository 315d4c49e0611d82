//! Private PostgreSQL clusters for tests that must restart or reconfigure the server,
//! which would disturb every other test on the shared one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL cluster of its own: initdb into a temporary directory, on a free port,
/// stopped when dropped.
pub struct PrivateCluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivateCluster {
    /// A cluster taking plain connections from this host.
    pub fn start() -> Self {
        Self::start_with(|_| ())
    }

    /// A cluster taking TCP connections only over TLS (a self-signed certificate, and
    /// `hostssl` as pg_hba.conf's only TCP entry).
    pub fn start_tls_only() -> Self {
        Self::start_with(|data| {
            run(Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-x509",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=localhost",
                ])
                .arg("-keyout")
                .arg(data.join("server.key"))
                .arg("-out")
                .arg(data.join("server.crt")));
            run(Command::new("chown")
                .arg("postgres")
                .arg(data.join("server.key"))
                .arg(data.join("server.crt")));
            run(Command::new("chmod")
                .arg("600")
                .arg(data.join("server.key")));
            append(&data.join("postgresql.conf"), "ssl = on\n");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
        })
    }

    /// Creates the cluster, lets `configure` change its data directory, and starts it.
    fn start_with(configure: impl FnOnce(&Path)) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("an initdb");
        let dir = tempfile::tempdir().unwrap();
        // The server refuses to run as root; the cluster belongs to the postgres user.
        run(Command::new("chown").arg("postgres").arg(dir.path()));
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        configure(&data);
        let mut cluster = Self {
            _dir: dir,
            data,
            bin,
            port: 0,
        };
        // PostgreSQL cannot be told to pick a port itself, so a free one is chosen, and
        // chosen again if another process takes it before the server binds it.
        for _ in 0..5 {
            cluster.port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if cluster.try_ctl(&["start"]) {
                return cluster;
            }
        }
        panic!("the private cluster never found a free port");
    }

    /// Runs `pg_ctl` with `action` (`start`, `restart`, …), waiting for it.
    pub fn ctl(&self, action: &[&str]) {
        assert!(self.try_ctl(action), "pg_ctl {action:?} failed");
    }

    /// Like [`PrivateCluster::ctl`]; whether it succeeded.
    fn try_ctl(&self, action: &[&str]) -> bool {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.parent().unwrap().display()
        );
        as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "fast", "-o", &options, "-l"])
            .arg(self.data.parent().unwrap().join("log"))
            .args(action)
            .output()
            .expect("pg_ctl runs")
            .status
            .success()
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
