//! Throwaway PostgreSQL 15 clusters for the integration tests and `cargo xtask demo`.
//!
//! [`Cluster::start`] copies a cached `initdb` template into `<base_dir>/data`, starts
//! `postgres` on a free port of 127.0.0.1 (scram-sha-256 password auth, optional TLS) and
//! waits until it accepts connections. [`Drop`] stops the server and deletes everything the
//! cluster created.
//!
//! The server is not daemonized with `pg_ctl start`: it runs as a child of a tiny `sh`
//! watchdog whose stdin is a pipe held by this process. Closing that pipe — by `stop()`,
//! `Drop`, a panic or even this process being SIGKILLed — makes the watchdog send the
//! server SIGINT, which is exactly what `pg_ctl stop -m fast` does. That way no test run can
//! leave an orphan postgres behind. Readiness is detected like `pg_ctl -w` does it: by
//! waiting for "ready" in `postmaster.pid`.
//!
//! The cluster trades durability for speed (fsync, synchronous_commit and full_page_writes
//! are off): never point it at data you want to keep.

mod fsutil;

pub use fsutil::{copy_dir, TempDir};

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian's postgresql-15 package installs the server binaries.
const DEBIAN_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// Overrides the server binary directory (e.g. a non-Debian install).
const BIN_DIR_ENV: &str = "XTASK_PG_BINDIR";
const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "postgres";
/// `initdb` refuses to run as root, so as root the server runs as this OS user.
const SERVER_OS_USER: &str = "postgres";
/// Bump whenever the template's initdb flags or config change, so old caches are ignored.
const TEMPLATE_LAYOUT: u32 = 1;
/// Generous because a 2-core CI box may start several clusters at once.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Another process can grab the port between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 8;
/// sun_path holds 108 bytes including the NUL terminator.
const MAX_SOCKET_PATH: usize = 107;
/// Exit code of the watchdog when the server's OS user cannot enter the data dir.
const EXIT_NO_ACCESS: i32 = 97;

/// Appended to the template's postgresql.conf. Per-cluster settings (port, socket dir, TLS)
/// are passed as `-c` options instead, so the template stays shareable.
const TEMPLATE_CONF: &str = "
# --- added by xtask pgcluster: throwaway cluster, durability traded for speed ---
fsync = off
synchronous_commit = off
full_page_writes = off
listen_addresses = '127.0.0.1'
# The socket only serves the server's own OS user (and root): it uses trust auth.
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
";

/// `host` lines match TCP connections with and without TLS.
const TEMPLATE_HBA: &str = "\
# Written by xtask pgcluster.
# TYPE  DATABASE     USER  ADDRESS       METHOD
# The socket dir is 0700 and owned by the server's OS user, so only that user (and root)
# can reach it; trust lets this module set the superuser password without knowing it.
local   all          all                 trust
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
host    replication  all   ::1/128       scram-sha-256
";

/// Runs as the server's OS user with args: postgres binary, data dir, postgres options.
/// Prints the postmaster pid on stdout, then waits. A line "immediate" on stdin sends
/// SIGQUIT (= `pg_ctl stop -m immediate`); anything else, including EOF because this
/// process went away, sends SIGINT (= `pg_ctl stop -m fast`). Exits with the server's status.
const WATCHDOG: &str = r#"
postgres=$1; data=$2; shift 2
cd "$data" 2>/dev/null || exit 97
exec 3<&0 0</dev/null
"$postgres" -D "$data" "$@" 1>&2 3<&- &
pg=$!
echo "$pg"
exec 1>&2
{
  if read -r cmd <&3; then :; else cmd=stop; fi
  if [ "$cmd" = immediate ]; then kill -s QUIT "$pg" 2>/dev/null; else kill -s INT "$pg" 2>/dev/null; fi
} &
watcher=$!
exec 3<&-
wait "$pg"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// How to start a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// `ssl=on` with a fresh self-signed certificate for 127.0.0.1; see [`Cluster::root_cert`].
    pub tls: bool,
    /// Password of the `postgres` superuser for TCP (scram-sha-256) logins. Must not be empty.
    pub superuser_password: String,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { tls: false, superuser_password: "postgres".to_string() }
    }
}

/// A running (or stopped) throwaway PostgreSQL cluster; dropping it deletes it.
pub struct Cluster {
    install: &'static Install,
    base_dir: PathBuf,
    /// Only a base dir we created is removed on drop; a caller's dir is left in place.
    created_base_dir: bool,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// True when the socket dir is a short dir under /tmp that we must remove.
    own_socket_dir: bool,
    tls_dir: Option<PathBuf>,
    log_path: PathBuf,
    port: u16,
    password: String,
    server: Option<Server>,
    started_in: Duration,
}

/// The watchdog process and the pipe that controls it.
struct Server {
    child: Child,
    control: Option<ChildStdin>,
    pid: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Shutdown {
    /// SIGINT: roll back transactions, checkpoint, exit.
    Fast,
    /// SIGQUIT: exit at once, crash recovery on the next start.
    Immediate,
}

enum Launch {
    Ready(Server),
    PortInUse,
}

impl Cluster {
    /// Creates `base_dir` if needed, copies the cached template into `base_dir/data`, starts
    /// the server and returns once it accepts connections with the superuser password.
    pub fn start(base_dir: &Path, opts: &ClusterOptions) -> Result<Cluster> {
        let began = Instant::now();
        if opts.superuser_password.is_empty() {
            bail!("ClusterOptions::superuser_password is empty: TCP logins use scram-sha-256, which needs a password; pass a non-empty one");
        }
        let install = install()?;
        let created_base_dir = !base_dir.exists();
        fs::create_dir_all(base_dir).with_context(|| {
            format!("creating the cluster base dir {}; check that its parent is writable", base_dir.display())
        })?;
        // Absolute paths: the server runs with cwd "/" and socket paths must be absolute.
        let base_dir = base_dir
            .canonicalize()
            .with_context(|| format!("resolving the cluster base dir {}", base_dir.display()))?;
        let data_dir = base_dir.join("data");
        remove_stale_data_dir(&data_dir)?;
        let log_path = base_dir.join("postgres.log");
        // A fresh log per cluster; restarts append to it.
        fs::write(&log_path, b"").with_context(|| format!("creating the server log {}", log_path.display()))?;

        let mut cluster = Cluster {
            install,
            base_dir: base_dir.clone(),
            created_base_dir,
            data_dir: data_dir.clone(),
            socket_dir: data_dir.clone(),
            own_socket_dir: false,
            tls_dir: None,
            log_path,
            port: 0,
            password: opts.superuser_password.clone(),
            server: None,
            started_in: Duration::ZERO,
        };
        // From here on, an early return drops `cluster`, which cleans up what exists so far.

        let template = template(install)?;
        run(Command::new("cp").arg("-a").arg(&template).arg(&data_dir), "copying the cluster template").with_context(
            || format!("copying {} to {}; check free space and permissions", template.display(), data_dir.display()),
        )?;

        if data_dir.as_os_str().len() + "/.s.PGSQL.65535".len() > MAX_SOCKET_PATH {
            cluster.socket_dir = short_socket_dir(install)?;
            cluster.own_socket_dir = true;
        }
        if opts.tls {
            let tls_dir = base_dir.join("tls");
            cluster.tls_dir = Some(tls_dir.clone());
            make_certificate(install, &tls_dir)?;
        }

        let mut last_port = 0;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            last_port = port;
            match cluster.launch(port)? {
                Launch::Ready(server) => {
                    cluster.port = port;
                    cluster.server = Some(server);
                    break;
                }
                Launch::PortInUse => continue,
            }
        }
        if cluster.server.is_none() {
            bail!("PostgreSQL could not bind a port on {HOST} in {PORT_ATTEMPTS} attempts (last {last_port}): other processes keep taking them; retry, or check for a port-grabbing process");
        }
        cluster.set_password()?;
        cluster.started_in = began.elapsed();
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        HOST
    }

    /// `postgresql://postgres:PASSWORD@127.0.0.1:PORT/db`, password percent-encoded.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:{}@{HOST}:{}/{}",
            percent_encode(&self.password),
            self.port,
            percent_encode(db)
        )
    }

    /// [`Cluster::url`] plus `?sslmode=verify-full&sslrootcert=...`; `None` without TLS.
    pub fn tls_url(&self, db: &str) -> Option<String> {
        let cert = self.root_cert()?;
        Some(format!("{}?sslmode=verify-full&sslrootcert={}", self.url(db), percent_encode(&cert.to_string_lossy())))
    }

    /// The self-signed server certificate, to be used as `sslrootcert`; `None` without TLS.
    pub fn root_cert(&self) -> Option<PathBuf> {
        self.tls_dir.as_ref().map(|d| d.join("server.crt"))
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (stderr of postgres); deleted on drop.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Wall time `start` took, template creation included.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.server {
            Some(server) => matches!(server.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE {};", quote_ident(name)))
            .with_context(|| format!("creating database {name:?}"))?;
        Ok(())
    }

    /// Runs `sql` with `psql -X -A -t -q -v ON_ERROR_STOP=1` over TCP as the superuser with
    /// password auth (verify-full TLS when enabled) and returns stdout. The SQL goes through
    /// stdin and the password through PGPASSWORD, so neither shows up in `ps`.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let sslmode = match self.root_cert() {
            Some(cert) => format!("verify-full&sslrootcert={}", percent_encode(&cert.to_string_lossy())),
            None => "disable".to_string(),
        };
        let conninfo = format!(
            "postgresql://{SUPERUSER}@{HOST}:{}/{}?sslmode={sslmode}&application_name=xtask-pgcluster",
            self.port,
            percent_encode(db)
        );
        run_psql(&conninfo, Some(&self.password), sql)
            .with_context(|| format!("running SQL on database {db:?} at {HOST}:{}", self.port))
    }

    /// Fast shutdown (like `pg_ctl stop -m fast`); does nothing if already stopped.
    pub fn stop(&mut self) -> Result<()> {
        match self.server.take() {
            Some(server) => server
                .shutdown(Shutdown::Fast)
                .with_context(|| format!("stopping the server of {}", self.data_dir.display())),
            None => Ok(()),
        }
    }

    /// Simulates the server going down hard (like `pg_ctl stop -m immediate`): clients lose
    /// their connections, no shutdown checkpoint. Because synchronous_commit is off,
    /// transactions committed in the last ~200 ms may be lost across [`Cluster::restart`].
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            if let Err(err) = server.shutdown(Shutdown::Immediate) {
                eprintln!("pgcluster: killing the server of {}: {err:#}", self.data_dir.display());
            }
        }
    }

    /// Starts the server again on the same port (stopping it first if it still runs), so
    /// URLs handed out earlier stay valid.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        match self.launch(self.port)? {
            Launch::Ready(server) => {
                self.server = Some(server);
                Ok(())
            }
            Launch::PortInUse => bail!(
                "cannot restart PostgreSQL: port {} was taken by another process while the server was down; URLs of this cluster point to that port, so start a new cluster instead",
                self.port
            ),
        }
    }

    /// Starts the watchdog + server on `port` and waits until the server is ready.
    fn launch(&self, port: u16) -> Result<Launch> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening the server log {}", self.log_path.display()))?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);

        let mut cmd = self.install.server_command("sh");
        cmd.arg("-c").arg(WATCHDOG).arg("xtask-pg-watchdog");
        cmd.arg(self.install.bin_dir.join("postgres")).arg(&self.data_dir);
        for setting in self.settings(port) {
            cmd.arg("-c").arg(setting);
        }
        cmd.current_dir("/").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::from(log));
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "spawning the PostgreSQL watchdog ({}); is `sh` (and as root, `runuser`) installed?",
                self.install.describe_runner()
            )
        })?;
        let control = child.stdin.take();
        let mut first_line = String::new();
        if let Some(stdout) = child.stdout.take() {
            // The watchdog prints the postmaster pid right after forking it, or exits.
            let _ = BufReader::new(stdout).read_line(&mut first_line);
        }
        let pid: u32 = first_line.trim().parse().unwrap_or(0);
        let mut server = Server { child, control, pid };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait().context("checking on the PostgreSQL watchdog")? {
                let new_log = read_log_from(&self.log_path, log_offset);
                if status.code() == Some(EXIT_NO_ACCESS) {
                    bail!(
                        "the OS user `{}` cannot enter the data dir {}: every directory above it needs search (x) permission for that user. \
                         As root, a base dir under /root or inside a 0700 dir cannot work; use one under std::env::temp_dir() or target/",
                        self.install.server_user_name(),
                        self.data_dir.display()
                    );
                }
                if new_log.contains("Address already in use") {
                    return Ok(Launch::PortInUse);
                }
                bail!(
                    "PostgreSQL exited during startup ({status}); server log {}:\n{}",
                    self.log_path.display(),
                    tail(&new_log, 30)
                );
            }
            if pid != 0 && pid_file_says_ready(&self.data_dir, pid) {
                return Ok(Launch::Ready(server));
            }
            if Instant::now() > deadline {
                let _ = server.shutdown(Shutdown::Immediate);
                bail!(
                    "PostgreSQL did not accept connections within {}s; server log {}:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.log_path.display(),
                    tail(&read_log_from(&self.log_path, log_offset), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Per-cluster server settings, passed as `-c` options.
    fn settings(&self, port: u16) -> Vec<String> {
        // unix_socket_directories is a list: quote the path so commas/spaces survive.
        let socket_dir = self.socket_dir.to_string_lossy().replace('"', "\"\"");
        let mut settings = vec![format!("port={port}"), format!("unix_socket_directories=\"{socket_dir}\"")];
        if let Some(tls_dir) = &self.tls_dir {
            settings.push("ssl=on".to_string());
            settings.push(format!("ssl_cert_file={}", tls_dir.join("server.crt").display()));
            settings.push(format!("ssl_key_file={}", tls_dir.join("server.key").display()));
        }
        settings
    }

    /// The template has no superuser password; set this cluster's over the trusted socket.
    fn set_password(&self) -> Result<()> {
        let conninfo = format!(
            "host={} port={} user={SUPERUSER} dbname=postgres",
            quote_conninfo(&self.socket_dir.to_string_lossy()),
            self.port
        );
        // Keep the password out of the server log even if the statement fails.
        let sql = format!(
            "SET log_statement = 'none';\nSET log_min_error_statement = 'panic';\nALTER ROLE {SUPERUSER} PASSWORD {};\n",
            quote_literal(&self.password)
        );
        run_psql(&conninfo, None, &sql).context("setting the superuser password over the server's Unix socket")?;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("pgcluster: {err:#}");
        }
        let mut doomed = vec![self.data_dir.clone()];
        doomed.extend(self.tls_dir.clone());
        if self.own_socket_dir {
            doomed.push(self.socket_dir.clone());
        }
        for dir in doomed {
            if let Err(err) = fs::remove_dir_all(&dir) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("pgcluster: could not remove {}: {err}", dir.display());
                }
            }
        }
        let _ = fs::remove_file(&self.log_path);
        if self.created_base_dir {
            // remove_dir only removes an empty dir: anything the caller put there survives.
            let _ = fs::remove_dir(&self.base_dir);
        }
    }
}

impl Server {
    /// Signals the server through the watchdog and waits for it to exit; escalates to
    /// SIGKILL if it hangs, so no server outlives this call.
    fn shutdown(mut self, mode: Shutdown) -> Result<()> {
        if let Some(mut control) = self.control.take() {
            if mode == Shutdown::Immediate {
                // Ignore errors: a broken pipe means the watchdog is already gone.
                let _ = control.write_all(b"immediate\n");
            }
            drop(control); // EOF = fast shutdown, unless "immediate" was sent.
        }
        if wait_timeout(&mut self.child, STOP_TIMEOUT)? {
            return Ok(());
        }
        // Hung server: SIGQUIT lets the postmaster take its backends down; SIGKILL is the last resort.
        for signal in ["QUIT", "KILL"] {
            if self.pid != 0 {
                let _ = Command::new("kill").args(["-s", signal, &self.pid.to_string()]).stderr(Stdio::null()).status();
            }
            if wait_timeout(&mut self.child, Duration::from_secs(5))? {
                bail!(
                    "PostgreSQL (pid {}) ignored the fast shutdown for {}s and was sent SIG{signal}",
                    self.pid,
                    STOP_TIMEOUT.as_secs()
                );
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("PostgreSQL (pid {}) did not exit even after SIGKILL; check `ps -p {}`", self.pid, self.pid)
    }
}

/// Returns true if the child exited within `timeout`.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().context("waiting for the PostgreSQL watchdog")?.is_some() {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What this process needs to know about the local PostgreSQL install; probed once.
struct Install {
    bin_dir: PathBuf,
    /// Full server version, e.g. "15.18"; part of the template cache name.
    version: String,
    /// `Some("postgres")` when we are root and must switch user for server commands.
    run_as: Option<&'static str>,
    /// Owner of data dirs and the template.
    server_uid: u32,
}

impl Install {
    /// A command for `program` that runs as the server's OS user.
    fn server_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        scrub_pg_env(&mut cmd);
        cmd
    }

    fn describe_runner(&self) -> String {
        match self.run_as {
            Some(user) => format!("runuser -u {user} -- sh"),
            None => "sh".to_string(),
        }
    }

    fn server_user_name(&self) -> String {
        match self.run_as {
            Some(user) => user.to_string(),
            None => format!("uid {}", self.server_uid),
        }
    }

    /// As root, hands `path` to the server's OS user (postgres insists on owning its files).
    fn chown_to_server(&self, path: &Path, recursive: bool) -> Result<()> {
        if let Some(user) = self.run_as {
            let mut cmd = Command::new("chown");
            if recursive {
                cmd.arg("-R");
            }
            // "user:" also sets the group to the user's login group.
            cmd.arg(format!("{user}:")).arg(path);
            run(&mut cmd, "chown").with_context(|| format!("giving {} to the OS user {user}", path.display()))?;
        }
        Ok(())
    }
}

fn install() -> Result<&'static Install> {
    static INSTALL: OnceLock<std::result::Result<Install, String>> = OnceLock::new();
    INSTALL.get_or_init(|| probe_install().map_err(|err| format!("{err:#}"))).as_ref().map_err(|err| anyhow!("{err}"))
}

fn probe_install() -> Result<Install> {
    let bin_dir = find_bin_dir()?;
    let output = Command::new(bin_dir.join("postgres"))
        .arg("--version")
        .output()
        .with_context(|| format!("running {}/postgres --version", bin_dir.display()))?;
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .nth(2)
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .with_context(|| {
            format!("unexpected `postgres --version` output {text:?}; set {BIN_DIR_ENV} to a PostgreSQL 15 bin dir")
        })?
        .to_string();
    let euid = effective_uid()?;
    if euid != 0 {
        return Ok(Install { bin_dir, version, run_as: None, server_uid: euid });
    }
    let output = Command::new("id")
        .args(["-u", SERVER_OS_USER])
        .output()
        .context("running `id -u postgres` (coreutils) to find the server's OS user")?;
    let server_uid = String::from_utf8_lossy(&output.stdout).trim().parse::<u32>().ok().filter(|_| output.status.success()).with_context(|| {
        format!("running as root, the server must run as the OS user `{SERVER_OS_USER}`, which does not exist; install the Debian package postgresql-15 (it creates that user) or run as a non-root user")
    })?;
    Ok(Install { bin_dir, version, run_as: Some(SERVER_OS_USER), server_uid })
}

/// $XTASK_PG_BINDIR, then Debian's path, then `pg_config --bindir`, then PATH.
fn find_bin_dir() -> Result<PathBuf> {
    let complete = |dir: &Path| ["initdb", "postgres"].iter().all(|bin| dir.join(bin).is_file());
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        if complete(&dir) {
            return Ok(dir);
        }
        bail!("{BIN_DIR_ENV}={} does not contain initdb and postgres; fix or unset it", dir.display());
    }
    let mut tried = vec![DEBIAN_BIN_DIR.to_string()];
    if complete(Path::new(DEBIAN_BIN_DIR)) {
        return Ok(DEBIAN_BIN_DIR.into());
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && complete(&dir) {
            return Ok(dir);
        }
        tried.push(format!("{} (pg_config --bindir)", dir.display()));
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|dir| complete(dir)) {
            return Ok(dir);
        }
    }
    tried.push("PATH".to_string());
    bail!(
        "PostgreSQL 15 server binaries (initdb, postgres) not found in {}; install the Debian package postgresql-15 (`apt-get install postgresql-15`) or set {BIN_DIR_ENV}",
        tried.join(", ")
    )
}

/// Effective uid from /proc (avoids a libc dependency), falling back to `id -u`.
fn effective_uid() -> Result<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfs"
        if let Some(euid) = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|id| id.parse().ok())
        {
            return Ok(euid);
        }
    }
    let output = Command::new("id").arg("-u").output().context("running `id -u` to learn whether we are root")?;
    String::from_utf8_lossy(&output.stdout).trim().parse().context("parsing the output of `id -u`")
}

/// The initdb'd template data dir, built on first use and shared by all processes of the
/// same user via std::env::temp_dir(). initdb costs far more than copying its result.
fn template(install: &Install) -> Result<PathBuf> {
    // Threads of this process queue up here; other processes race via the atomic rename below.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    let name = format!("xtask-pg-template-{}-{}-v{TEMPLATE_LAYOUT}", install.version, install.server_uid);
    let dir = std::env::temp_dir().join(&name);
    if template_is_valid(&dir, install) {
        return Ok(dir);
    }
    if fs::symlink_metadata(&dir).is_ok() {
        // Broken (e.g. half-deleted by a tmp cleaner) or foreign-owned: move it out of the way.
        let trash = std::env::temp_dir().join(format!("{name}.broken-{}", unique_suffix()));
        fs::rename(&dir, &trash).with_context(|| {
            format!("moving the broken PostgreSQL template {} aside; delete it by hand", dir.display())
        })?;
        let _ = fs::remove_dir_all(&trash);
    }
    let building = std::env::temp_dir().join(format!("{name}.tmp-{}", unique_suffix()));
    if let Err(err) = build_template(install, &building) {
        let _ = fs::remove_dir_all(&building);
        return Err(err);
    }
    match fs::rename(&building, &dir) {
        Ok(()) => Ok(dir),
        Err(err) => {
            let _ = fs::remove_dir_all(&building);
            // Another process won the race: its template is as good as ours.
            if template_is_valid(&dir, install) {
                Ok(dir)
            } else {
                Err(err).with_context(|| format!("moving the new PostgreSQL template to {}", dir.display()))
            }
        }
    }
}

fn template_is_valid(dir: &Path, install: &Install) -> bool {
    let owned = fs::symlink_metadata(dir).map(|m| m.is_dir() && m.uid() == install.server_uid).unwrap_or(false);
    owned
        && ["PG_VERSION", "global/pg_control", "base", "postgresql.conf", "pg_hba.conf"]
            .iter()
            .all(|f| dir.join(f).exists())
}

fn build_template(install: &Install, dir: &Path) -> Result<()> {
    fs::create_dir(dir).with_context(|| format!("creating {}; check that the temp dir is writable", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    install.chown_to_server(dir, false)?;
    let mut cmd = install.server_command(install.bin_dir.join("initdb"));
    cmd.current_dir("/")
        .arg("-D")
        .arg(dir)
        .args(["-U", SUPERUSER, "--auth-host=scram-sha-256", "--auth-local=trust"])
        // C locale: identical everywhere, no dependency on generated locales.
        .args(["--encoding=UTF8", "--locale=C"])
        // 1 MB WAL segments instead of 16 MB: every cluster copies less.
        .args(["--no-sync", "--no-instructions", "--wal-segsize=1"]);
    run(&mut cmd, "initdb").with_context(|| {
        format!(
            "initdb into {} failed; as root the OS user `{}` must be able to reach the temp dir {}",
            dir.display(),
            install.server_user_name(),
            std::env::temp_dir().display()
        )
    })?;
    // Writing into existing files keeps their owner (the server's OS user).
    let mut conf = OpenOptions::new()
        .append(true)
        .open(dir.join("postgresql.conf"))
        .context("opening the template's postgresql.conf")?;
    conf.write_all(TEMPLATE_CONF.as_bytes()).context("writing the template's postgresql.conf")?;
    fs::write(dir.join("pg_hba.conf"), TEMPLATE_HBA).context("writing the template's pg_hba.conf")?;
    Ok(())
}

/// Removes a data dir left behind by a killed process, refusing if its server still runs.
fn remove_stale_data_dir(data_dir: &Path) -> Result<()> {
    if fs::symlink_metadata(data_dir).is_err() {
        return Ok(());
    }
    if let Ok(pid_file) = fs::read_to_string(data_dir.join("postmaster.pid")) {
        if let Some(pid) = pid_file.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                bail!(
                    "a PostgreSQL server (pid {pid}) still runs on {}; stop it (`pg_ctl -D {} stop -m fast`) or use another base dir",
                    data_dir.display(),
                    data_dir.display()
                );
            }
        }
    }
    fs::remove_dir_all(data_dir).with_context(|| format!("removing the stale data dir {}", data_dir.display()))
}

/// A socket dir short enough for sun_path, for base dirs with long paths.
fn short_socket_dir(install: &Install) -> Result<PathBuf> {
    let dir = PathBuf::from(format!("/tmp/xtask-pg-{}", unique_suffix()));
    fs::create_dir(&dir).with_context(|| format!("creating the socket dir {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    install.chown_to_server(&dir, false)?;
    Ok(dir)
}

/// A self-signed cert for 127.0.0.1/localhost; it is its own root for `sslrootcert`.
fn make_certificate(install: &Install, tls_dir: &Path) -> Result<()> {
    fs::create_dir_all(tls_dir).with_context(|| format!("creating {}", tls_dir.display()))?;
    let key = tls_dir.join("server.key");
    let cert = tls_dir.join("server.crt");
    // EC P-256 instead of RSA 2048: keygen takes ~5 ms instead of ~200 ms.
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
    run(&mut cmd, "openssl")
        .context("creating the self-signed TLS certificate; is the `openssl` package installed?")?;
    // postgres refuses a key that others can read, and must own it (or root with 0640).
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
    fs::set_permissions(&cert, fs::Permissions::from_mode(0o644))?;
    install.chown_to_server(&key, false)?;
    Ok(())
}

/// A port the kernel just handed out; the server may still lose it to a race, see PORT_ATTEMPTS.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((HOST, 0)).context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `postmaster.pid` line 1 is the pid, line 8 the status, which turns "ready" once the
/// server accepts connections — the same check `pg_ctl -w` uses.
fn pid_file_says_ready(data_dir: &Path, pid: u32) -> bool {
    let Ok(text) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str()) && lines.get(7).map(|l| l.trim()) == Some("ready")
}

fn read_log_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs psql with SQL on stdin; `password` goes through PGPASSWORD, never argv.
fn run_psql(conninfo: &str, password: Option<&str>, sql: &str) -> Result<String> {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-", "-d", conninfo]);
    scrub_pg_env(&mut cmd);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.env("PGCONNECT_TIMEOUT", "10").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("spawning psql; install the Debian package postgresql-client-15")?;
    let mut stdin = child.stdin.take().context("psql stdin")?;
    let sql = sql.to_string();
    // A thread, so a large script cannot deadlock against psql's output.
    let writer = std::thread::spawn(move || stdin.write_all(sql.as_bytes()));
    let output = child.wait_with_output().context("waiting for psql")?;
    let _ = writer.join();
    if !output.status.success() {
        bail!("psql failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// PG* variables of the caller (PGHOST, PGSSLMODE, PGPASSFILE, ...) must not redirect our
/// connections or the server.
fn scrub_pg_env(cmd: &mut Command) {
    let keys: Vec<OsString> =
        std::env::vars_os().map(|(k, _)| k).filter(|k| k.to_string_lossy().starts_with("PG")).collect();
    for key in keys {
        cmd.env_remove(key);
    }
}

/// Runs a short command, failing with its stderr.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let output = cmd.stdin(Stdio::null()).output().with_context(|| format!("spawning {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

/// Unique among concurrent processes and threads: pid, a counter and the clock.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Quotes a libpq keyword/value conninfo value.
fn quote_conninfo(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xtask-pgcluster-test-{tag}-{}", unique_suffix()))
    }

    fn opts(tls: bool) -> ClusterOptions {
        // Characters that must survive percent-encoding and SQL quoting.
        ClusterOptions { tls, superuser_password: "p@ss:w/rd'%\"x".to_string() }
    }

    fn process_alive(pid: u32) -> bool {
        // A zombie still has /proc/<pid>; only a live process counts.
        match fs::read_to_string(format!("/proc/{pid}/status")) {
            Ok(status) => !status.lines().any(|l| l.starts_with("State:") && l.contains('Z')),
            Err(_) => false,
        }
    }

    fn server_pid(cluster: &Cluster) -> u32 {
        cluster.server.as_ref().map(|s| s.pid).unwrap_or(0)
    }

    #[test]
    fn password_auth_over_tcp_and_databases() -> Result<()> {
        let base = scratch_dir("basic");
        let cluster = Cluster::start(&base, &opts(false))?;
        eprintln!("cluster start took {:?}", cluster.started_in());
        cluster.create_database("app db")?;
        let out = cluster
            .psql("app db", "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1); SELECT sum(x), current_user, inet_server_addr() FROM t;")?;
        assert_eq!(out.trim(), "42|postgres|127.0.0.1");
        let out = cluster.psql("postgres", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();")?;
        assert_eq!(out.trim(), "f");
        // SQL errors surface as Err.
        assert!(cluster.psql("postgres", "SELECT nope;").is_err());

        // The URL works as-is (password percent-encoded), and a wrong password is rejected.
        let ok = Command::new("psql").args(["-X", "-A", "-t", "-c", "SELECT 1", &cluster.url("app db")]).output()?;
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        let bad = Command::new("psql")
            .args([
                "-X",
                "-c",
                "SELECT 1",
                &format!("postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable", cluster.port()),
            ])
            .env("PGPASSWORD", "wrong")
            .output()?;
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));

        let data_dir = cluster.data_dir().to_path_buf();
        let pid = server_pid(&cluster);
        drop(cluster);
        assert!(!process_alive(pid), "postgres {pid} survived drop");
        assert!(!data_dir.exists());
        assert!(!base.exists(), "base dir we created should be gone");
        Ok(())
    }

    #[test]
    fn tls_verify_full() -> Result<()> {
        let base = scratch_dir("tls");
        let cluster = Cluster::start(&base, &opts(true))?;
        let cert = cluster.root_cert().context("root cert")?;
        assert!(cert.is_file());
        // psql() itself uses verify-full when TLS is on.
        assert_eq!(cluster.psql("postgres", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();")?.trim(), "t");
        // Plain psql with the documented URL shape, password via env.
        let url = format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
            cluster.port(),
            cert.display()
        );
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-c", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &url])
            .env("PGPASSWORD", cluster.password())
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("t|TLS"));
        // tls_url carries the password too.
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-c", "SELECT 1", &cluster.tls_url("postgres").unwrap()])
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // verify-full against the wrong host name must fail: the cert is really checked.
        let wrong = url
            .replacen("127.0.0.1", "example.invalid", 1)
            .replace("sslmode=verify-full", "sslmode=verify-full&hostaddr=127.0.0.1");
        let out = Command::new("psql")
            .args(["-X", "-c", "SELECT 1", &wrong])
            .env("PGPASSWORD", cluster.password())
            .output()?;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not match host name"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    #[test]
    fn stop_kill_restart() -> Result<()> {
        let base = scratch_dir("restart");
        let mut cluster = Cluster::start(&base, &opts(false))?;
        let port = cluster.port();
        cluster.psql("postgres", "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7);")?;

        cluster.stop()?;
        cluster.stop()?; // idempotent
        assert!(!cluster.is_running());
        let err = cluster.psql("postgres", "SELECT 1").unwrap_err();
        assert!(format!("{err:#}").contains("Connection refused"), "{err:#}");
        cluster.restart()?;
        assert_eq!(cluster.port(), port);
        assert_eq!(cluster.psql("postgres", "SELECT x FROM kept;")?.trim(), "7");

        let pid = server_pid(&cluster);
        cluster.kill();
        assert!(!process_alive(pid));
        assert!(cluster.psql("postgres", "SELECT 1").is_err());
        cluster.kill(); // harmless when already down
        cluster.restart()?;
        assert_eq!(cluster.psql("postgres", "SELECT x FROM kept;")?.trim(), "7");

        // restart() while running is a stop + start.
        cluster.restart()?;
        assert_eq!(cluster.psql("postgres", "SELECT 1;")?.trim(), "1");
        Ok(())
    }

    #[test]
    fn clusters_run_in_parallel() -> Result<()> {
        let handles: Vec<_> = (0..3)
            .map(|i| std::thread::spawn(move || Cluster::start(&scratch_dir(&format!("par{i}")), &opts(i == 0))))
            .collect();
        let clusters =
            handles.into_iter().map(|h| h.join().expect("start thread panicked")).collect::<Result<Vec<_>>>()?;
        let mut ports: Vec<u16> = clusters.iter().map(|c| c.port()).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 3);
        for cluster in &clusters {
            eprintln!("parallel start took {:?}", cluster.started_in());
            assert_eq!(cluster.psql("postgres", "SELECT current_setting('port');")?.trim(), cluster.port().to_string());
        }
        Ok(())
    }

    #[test]
    fn panicking_test_still_cleans_up() {
        let base = scratch_dir("panic");
        let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = pid.clone();
        let result = std::thread::spawn(move || {
            let cluster = Cluster::start(&base, &opts(false)).unwrap();
            seen.store(server_pid(&cluster), Ordering::SeqCst);
            panic!("test failure while the cluster runs");
        })
        .join();
        assert!(result.is_err());
        let pid = pid.load(Ordering::SeqCst);
        assert_ne!(pid, 0);
        assert!(!process_alive(pid));
    }

    #[test]
    fn long_base_dir_uses_short_socket_dir() -> Result<()> {
        let base = scratch_dir(&"long".repeat(25));
        let cluster = Cluster::start(&base, &opts(false))?;
        assert!(cluster.own_socket_dir);
        let socket_dir = cluster.socket_dir.clone();
        assert!(socket_dir.join(format!(".s.PGSQL.{}", cluster.port())).exists());
        assert_eq!(cluster.psql("postgres", "SELECT 1;")?.trim(), "1");
        drop(cluster);
        assert!(!socket_dir.exists());
        Ok(())
    }

    #[test]
    fn unreachable_base_dir_is_a_clear_error() -> Result<()> {
        if install()?.run_as.is_none() {
            return Ok(()); // only root switches to another OS user
        }
        let private = scratch_dir("private");
        fs::create_dir(&private)?;
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700))?;
        let err = Cluster::start(&private.join("cluster"), &opts(false)).err().context("start should fail")?;
        let message = format!("{err:#}");
        fs::remove_dir_all(&private)?;
        assert!(message.contains("cannot enter the data dir"), "{message}");
        Ok(())
    }

    #[test]
    fn empty_password_is_rejected() {
        let err =
            Cluster::start(&scratch_dir("nopw"), &ClusterOptions { tls: false, superuser_password: String::new() })
                .err();
        assert!(format!("{:#}", err.unwrap()).contains("superuser_password is empty"));
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }

    /// `cargo test -p xtask --lib timings -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timings() -> Result<()> {
        let install = install()?;
        let scratch = scratch_dir("template");
        let began = Instant::now();
        build_template(install, &scratch)?;
        eprintln!("template initdb: {:?}", began.elapsed());
        fs::remove_dir_all(&scratch)?;
        for tls in [false, true] {
            let mut total = Duration::ZERO;
            for _ in 0..5 {
                let cluster = Cluster::start(&scratch_dir("timing"), &opts(tls))?;
                let took = cluster.started_in();
                total += took;
                let began = Instant::now();
                drop(cluster);
                eprintln!("tls={tls}: start {took:?}, stop+cleanup {:?}", began.elapsed());
            }
            eprintln!("tls={tls}: mean start {:?}", total / 5);
        }
        Ok(())
    }
}
