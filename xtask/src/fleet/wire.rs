//! A small PostgreSQL client (wire protocol 3.0) for the fleet check alone: a
//! startup message, the password answers (none, cleartext, md5, SCRAM-SHA-256
//! without channel binding), simple queries read as text, Terminate.
//!
//! Why hand-written: the check of a fleet opens one connection per database of
//! a server, all as the same role. SCRAM makes the client derive the salted
//! password (PBKDF2, 4096 HMACs) on every connection: libpq does so on each
//! psql `\connect` (about 2.6 ms of CPU, half the check of 200 databases), and
//! no Rust client crate keeps the derived key across connections (libpq reuses
//! a key only from PostgreSQL 18, and only one passed through by a proxy). The
//! full clients (`postgres`, `tokio-postgres`) would also add an async runtime
//! to a crate whose compile time every CI deploy pays. This one derives a key
//! once per (password, salt, iterations) ([`super::scram::KeyCache`]).
//!
//! Whatever it does not do is left to psql, whose libpq reaches every database
//! pg_dump reaches ([`Endpoint::of`] and [`Trouble::Psql`]): TLS (a server that
//! answers the SSL request with yes), GSSAPI, Kerberos and other password
//! methods, Unix socket paths it cannot form, service files, passfiles (a URL
//! without a password), libpq environment variables, URL parameters it does not
//! know, protocol surprises.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::scram::{self, KeyCache, Scram};
use crate::db::url::{decode, DbUrl};

/// Why a connection is not checked natively.
#[derive(Debug)]
pub(crate) enum Trouble {
    /// Something this client does not do: psql checks this server's targets.
    Psql(String),
    /// The connection failed (refused, an error from the server, cut): the
    /// target is checked alone by psql, whose message names the cause.
    Failed,
}

/// Where and as whom to connect, from a target's URL.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    addr: Addr,
    user: String,
    password: Option<String>,
    database: String,
    options: Option<String>,
    app_name: String,
    /// Ask for TLS first (sslmode prefer, libpq's default): a yes goes to psql.
    ssl_request: bool,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Addr {
    Tcp(String, u16),
    Unix(PathBuf),
}

/// libpq's environment variables that change where or how it connects: with one
/// set, psql's libpq and this client could reach different places.
const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGOPTIONS",
    "PGREQUIRESSL",
    "PGSSLMODE",
    "PGSSLNEGOTIATION",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCERTMODE",
    "PGSSLROOTCERT",
    "PGSSLCRL",
    "PGSSLCRLDIR",
    "PGSSLSNI",
    "PGREQUIREPEER",
    "PGREQUIREAUTH",
    "PGCHANNELBINDING",
    "PGGSSENCMODE",
    "PGTARGETSESSIONATTRS",
    "PGLOADBALANCEHOSTS",
    "PGCLIENTENCODING",
    "PGMINPROTOCOLVERSION",
    "PGMAXPROTOCOLVERSION",
];

/// The libpq environment variable that sends every target to psql, if one is set.
pub(crate) fn libpq_env() -> Option<&'static str> {
    LIBPQ_ENV.iter().copied().find(|v| std::env::var_os(v).is_some())
}

impl Endpoint {
    /// The endpoint of a parsed URL (see db/url.rs: `libpq` is the URL psql
    /// gets), or why psql must connect instead.
    pub(crate) fn of(url: &DbUrl, app_name: &str) -> Result<Endpoint, String> {
        let mut host = None;
        let mut port = None;
        let mut user = url.user.clone();
        let mut database = url.database.clone();
        let mut options = None;
        let mut app = app_name.to_string();
        let mut ssl_request = true;
        // libpq's PGCONNECT_TIMEOUT default of the tool's shell (db::Target::shell).
        let env_timeout = std::env::var("PGCONNECT_TIMEOUT").ok();
        let mut timeout = env_timeout.as_deref().unwrap_or("10").to_string();
        let query = url.libpq.split_once('?').map(|(_, q)| q).unwrap_or("");
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            match (k.as_str(), v.as_str()) {
                ("sslmode", "disable" | "allow") => ssl_request = false,
                ("sslmode", "prefer") => ssl_request = true,
                ("gssencmode", "disable" | "prefer") => {}
                ("channel_binding", "disable" | "prefer") => {}
                ("target_session_attrs", "any") | ("load_balance_hosts", "disable") => {}
                ("connect_timeout", _) => timeout = v,
                ("application_name", _) => app = v,
                ("options", _) => options = Some(v),
                ("host", _) => host = Some(v),
                ("port", _) => port = Some(v),
                ("user", _) => user = Some(v),
                ("dbname", _) => database = v,
                (
                    "fallback_application_name"
                    | "keepalives"
                    | "keepalives_idle"
                    | "keepalives_interval"
                    | "keepalives_count"
                    | "tcp_user_timeout",
                    _,
                ) => {}
                _ => return Err(format!("the URL parameter {k}={v}")),
            }
        }
        let (url_host, url_port) = split_host(&url.hosts)?;
        let host = host.or(url_host).filter(|h| !h.is_empty()).ok_or("no host in the URL")?;
        let port = match port.or(url_port) {
            Some(p) => p.parse::<u16>().map_err(|_| "a port that is not a number")?,
            None => 5432,
        };
        let addr = if host.starts_with('/') {
            Addr::Unix(PathBuf::from(host).join(format!(".s.PGSQL.{port}")))
        } else if host.contains(',') {
            return Err("several hosts".into());
        } else {
            Addr::Tcp(host, port)
        };
        // libpq: 0 waits forever, under 2 means 2.
        let timeout = match timeout.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(s) => Some(Duration::from_secs(s.max(2))),
            Err(_) => return Err("connect_timeout is not a number".into()),
        };
        let user = user.ok_or("no user in the URL (libpq would take the OS user's name)")?;
        if [&user, &database, &app].iter().any(|s| s.contains('\0'))
            || options.as_ref().is_some_and(|o| o.contains('\0'))
        {
            return Err("a NUL byte in the URL".into());
        }
        Ok(Endpoint {
            addr,
            user,
            password: url.password.clone(),
            database,
            options,
            app_name: app,
            ssl_request,
            timeout,
        })
    }
}

/// `host[:port]` of a URL's authority (one host; brackets around IPv6; a
/// percent-encoded socket directory), each `None` when not written.
fn split_host(hosts: &str) -> Result<(Option<String>, Option<String>), String> {
    if hosts.contains(',') {
        return Err("several hosts".into());
    }
    if let Some(rest) = hosts.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("an IPv6 host without its ']'")?;
        return Ok((Some(inside.to_string()), after.strip_prefix(':').map(str::to_string)));
    }
    let (h, p) = match hosts.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.to_string())),
        None => (hosts, None),
    };
    Ok((Some(decode(h)?).filter(|h| !h.is_empty()), p))
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)).and_then(|_| s.set_write_timeout(Some(t))),
            Stream::Unix(s) => s.set_read_timeout(Some(t)).and_then(|_| s.set_write_timeout(Some(t))),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How often a blocked read looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(200);

/// The largest message read (a ledger's rows come one message each).
const MAX_MESSAGE: usize = 256 << 20;

/// One open connection, ready for queries.
pub(crate) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// `standard_conforming_strings` as the server reported it.
    pub(crate) standard_strings: bool,
}

/// One message from the server: its type and body.
type Message = (u8, Vec<u8>);

/// What one statement of a simple query gave: its rows (text, NULL as `None`),
/// or the SQLSTATE of its error.
pub(crate) type Statement = Result<Vec<Vec<Option<String>>>, String>;

fn failed(_: io::Error) -> Trouble {
    Trouble::Failed
}

fn unexpected(what: &str) -> Trouble {
    Trouble::Psql(format!("unexpected {what} from the server"))
}

impl Conn {
    /// Connects and authenticates; the derived SCRAM keys come from and go to `cache`.
    pub(crate) fn open(ep: &Endpoint, cache: &KeyCache) -> Result<Conn, Trouble> {
        let deadline = ep.timeout.map(|t| Instant::now() + t);
        let stream = match &ep.addr {
            Addr::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(failed)?),
            Addr::Tcp(host, port) => {
                let addrs = (host.as_str(), *port).to_socket_addrs().map_err(failed)?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for the host");
                let mut found = None;
                for a in addrs {
                    match connect(&a, deadline) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or_else(|| failed(last))?;
                s.set_nodelay(true).map_err(failed)?;
                Stream::Tcp(s)
            }
        };
        stream.set_timeouts(POLL).map_err(failed)?;
        let mut conn = Conn { stream, buf: Vec::new(), standard_strings: false };
        if ep.ssl_request && matches!(ep.addr, Addr::Tcp(..)) {
            // SSLRequest: length 8, code 80877103.
            conn.send_raw(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])?;
            match conn.read_bytes(1, deadline)?[0] {
                b'N' => {}
                b'S' => return Err(Trouble::Psql("the server offers TLS".into())),
                _ => return Err(unexpected("an answer to the SSL request")),
            }
        }
        let mut startup = Vec::new();
        startup.extend_from_slice(&196608u32.to_be_bytes());
        let mut params = vec![
            ("user", ep.user.as_str()),
            ("database", ep.database.as_str()),
            ("application_name", ep.app_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(o) = &ep.options {
            params.push(("options", o));
        }
        for (k, v) in params {
            cstr(&mut startup, k);
            cstr(&mut startup, v);
        }
        startup.push(0);
        let mut framed = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        framed.extend(startup);
        conn.send_raw(&framed)?;
        conn.authenticate(ep, cache, deadline)?;
        Ok(conn)
    }

    fn authenticate(&mut self, ep: &Endpoint, cache: &KeyCache, deadline: Option<Instant>) -> Result<(), Trouble> {
        let password = || ep.password.as_deref().ok_or_else(|| Trouble::Psql("no password in the URL".into()));
        let mut scram: Option<(Scram, [u8; 32])> = None;
        let mut sasl: Option<Scram> = None;
        loop {
            let (kind, body) = self.read_message(deadline)?;
            match kind {
                b'R' => {
                    let code = be32(&body, 0).ok_or_else(|| unexpected("an authentication request"))?;
                    match code {
                        0 => {}
                        3 => self.send(b'p', &cbytes(password()?))?,
                        5 => {
                            let salt: [u8; 4] = body
                                .get(4..8)
                                .and_then(|s| s.try_into().ok())
                                .ok_or_else(|| unexpected("an md5 request"))?;
                            let answer = scram::md5_answer(&ep.user, password()?, salt);
                            self.send(b'p', &cbytes(&answer))?;
                        }
                        10 => {
                            let offered: Vec<&[u8]> = body[4..].split(|b| *b == 0).collect();
                            if !offered.contains(&b"SCRAM-SHA-256".as_slice()) {
                                return Err(Trouble::Psql(
                                    "the server offers no SASL mechanism this client knows".into(),
                                ));
                            }
                            // libpq runs the password through SASLprep; ASCII stays as it is.
                            if !password()?.is_ascii() {
                                return Err(Trouble::Psql("a password that is not ASCII (SASLprep)".into()));
                            }
                            let s =
                                Scram::new("").ok_or_else(|| Trouble::Psql("no random bytes for a nonce".into()))?;
                            let first = s.first();
                            let mut msg = cbytes("SCRAM-SHA-256");
                            msg.extend_from_slice(&(first.len() as u32).to_be_bytes());
                            msg.extend_from_slice(first.as_bytes());
                            self.send(b'p', &msg)?;
                            sasl = Some(s);
                        }
                        11 => {
                            let s = sasl.take().ok_or_else(|| unexpected("a SASL message"))?;
                            let server_first =
                                std::str::from_utf8(&body[4..]).map_err(|_| unexpected("a SASL message"))?;
                            let (last, signature) =
                                s.last(server_first, password()?, cache).map_err(|_| Trouble::Failed)?;
                            self.send(b'p', last.as_bytes())?;
                            scram = Some((s, signature));
                        }
                        12 => {
                            let (_, signature) = scram.take().ok_or_else(|| unexpected("a SASL message"))?;
                            let server_final =
                                std::str::from_utf8(&body[4..]).map_err(|_| unexpected("a SASL message"))?;
                            scram::verify_final(server_final, &signature).map_err(|_| Trouble::Failed)?;
                        }
                        other => return Err(Trouble::Psql(format!("authentication method {other}"))),
                    }
                }
                b'E' => return Err(Trouble::Failed),
                b'S' => {
                    let mut parts = body.split(|b| *b == 0);
                    if parts.next() == Some(b"standard_conforming_strings") {
                        self.standard_strings = parts.next() == Some(b"on");
                    }
                }
                b'K' | b'N' => {}
                b'Z' => return Ok(()),
                b'v' => return Err(Trouble::Psql("the server negotiates the protocol version".into())),
                _ => return Err(unexpected("a message")),
            }
        }
    }

    /// Runs `sql` (one or more statements) as a simple query; one entry per
    /// statement that ran (statements after a failed one do not run).
    pub(crate) fn query(&mut self, sql: &str) -> Result<Vec<Statement>, Trouble> {
        if sql.contains('\0') {
            return Err(Trouble::Psql("a NUL byte in a query".into()));
        }
        self.send(b'Q', &cbytes(sql))?;
        let mut done = Vec::new();
        let mut rows: Option<Vec<Vec<Option<String>>>> = None;
        loop {
            let (kind, body) = self.read_message(None)?;
            match kind {
                b'T' => rows = Some(Vec::new()),
                b'D' => {
                    let row = data_row(&body).ok_or_else(|| unexpected("a data row"))?;
                    rows.as_mut().ok_or_else(|| unexpected("a data row"))?.push(row);
                }
                b'C' | b'I' => done.push(Ok(rows.take().unwrap_or_default())),
                b'E' => {
                    rows = None;
                    done.push(Err(error_field(&body, b'C').unwrap_or_default()));
                }
                b'N' | b'S' | b'A' => {}
                b'Z' => return Ok(done),
                _ => return Err(unexpected("a message")),
            }
        }
    }

    fn send(&mut self, kind: u8, body: &[u8]) -> Result<(), Trouble> {
        let mut msg = Vec::with_capacity(body.len() + 5);
        msg.push(kind);
        msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        msg.extend_from_slice(body);
        self.send_raw(&msg)
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Trouble> {
        self.stream.write_all(bytes).map_err(failed)
    }

    /// Reads `n` bytes, waiting until `deadline` (forever without one) unless a
    /// signal arrives.
    fn read_bytes(&mut self, n: usize, deadline: Option<Instant>) -> Result<Vec<u8>, Trouble> {
        let mut chunk = [0u8; 16384];
        while self.buf.len() < n {
            if crate::interrupt::received().is_some() {
                return Err(Trouble::Failed);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Trouble::Failed),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) =>
                {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Trouble::Failed);
                    }
                }
                Err(e) => return Err(failed(e)),
            }
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    fn read_message(&mut self, deadline: Option<Instant>) -> Result<Message, Trouble> {
        let head = self.read_bytes(5, deadline)?;
        let len = be32(&head, 1).unwrap_or(0) as usize;
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(unexpected("a message length"));
        }
        Ok((head[0], self.read_bytes(len - 4, deadline)?))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Terminate; the server ends the session either way.
        let _ = self.stream.write_all(&[b'X', 0, 0, 0, 4]);
    }
}

/// Connects to `addr` by the deadline (or without one), a second at a time so
/// that Ctrl-C is seen within one; a host that takes longer to answer a SYN is
/// retried until the deadline.
fn connect(addr: &std::net::SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    loop {
        if crate::interrupt::received().is_some() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let left = deadline.map_or(POLL * 5, |d| d.saturating_duration_since(Instant::now()));
        match TcpStream::connect_timeout(addr, left.min(POLL * 5).max(Duration::from_millis(1))) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut && deadline.is_none_or(|d| Instant::now() < d) => {}
            other => return other,
        }
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map(u32::from_be_bytes)
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn cbytes(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    cstr(&mut v, s);
    v
}

/// A DataRow's columns as text (`client_encoding` is UTF8), NULL as `None`.
fn data_row(body: &[u8]) -> Option<Vec<Option<String>>> {
    let n = u16::from_be_bytes(body.get(0..2)?.try_into().ok()?) as usize;
    let mut at = 2;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        let len = be32(body, at)? as i32;
        at += 4;
        if len < 0 {
            row.push(None);
        } else {
            let cell = body.get(at..at + len as usize)?;
            row.push(Some(String::from_utf8(cell.to_vec()).ok()?));
            at += len as usize;
        }
    }
    (at == body.len()).then_some(row)
}

/// One field of an ErrorResponse (`C`: the SQLSTATE).
fn error_field(body: &[u8], field: u8) -> Option<String> {
    body.split(|b| *b == 0).find(|f| f.first() == Some(&field)).map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Result<Endpoint, String> {
        Endpoint::of(&crate::db::url::parse(url, None).unwrap(), "check")
    }

    #[test]
    fn urls_it_can_reach_and_those_left_to_psql() {
        let e = endpoint("postgresql://app:pw@db.internal:5433/shop?schema=t1&connect_timeout=3").unwrap();
        assert!(matches!(&e.addr, Addr::Tcp(h, 5433) if h == "db.internal"));
        assert_eq!((e.user.as_str(), e.password.as_deref(), e.database.as_str()), ("app", Some("pw"), "shop"));
        assert_eq!((e.ssl_request, e.timeout), (true, Some(Duration::from_secs(3))));
        let e = endpoint("postgresql://app:pw@[::1]/shop?sslmode=disable&application_name=x").unwrap();
        assert!(matches!(&e.addr, Addr::Tcp(h, 5432) if h == "::1"));
        assert_eq!((e.ssl_request, e.app_name.as_str()), (false, "x"));
        let e = endpoint("postgresql://app:pw@%2Fvar%2Frun%2Fpostgresql:5433/shop").unwrap();
        assert!(matches!(&e.addr, Addr::Unix(p) if p == &PathBuf::from("/var/run/postgresql/.s.PGSQL.5433")));
        let e = endpoint("postgresql://app:pw@localhost/shop?host=/tmp&port=6000").unwrap();
        assert!(matches!(&e.addr, Addr::Unix(p) if p == &PathBuf::from("/tmp/.s.PGSQL.6000")));
        for psql in [
            "postgresql://app:pw@h/shop?sslmode=require",
            "postgresql://app:pw@h/shop?sslmode=verify-full",
            "postgresql://app:pw@h/shop?sslrootcert=system",
            "postgresql://app:pw@h/shop?service=prod",
            "postgresql://app:pw@h/shop?passfile=/x",
            "postgresql://app:pw@h/shop?hostaddr=10.0.0.1",
            "postgresql://app:pw@h1:5432,h2:5432/shop",
            "postgresql://app:pw@h/shop?target_session_attrs=read-write",
            "postgresql://app:pw@h/shop?channel_binding=require",
            "postgresql://h/shop",
        ] {
            assert!(endpoint(psql).is_err(), "{psql}");
        }
    }

    #[test]
    fn data_rows_are_read_with_their_nulls() {
        let mut body = vec![0, 3];
        body.extend_from_slice(&2u32.to_be_bytes());
        body.extend_from_slice(b"ab");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(data_row(&body), Some(vec![Some("ab".into()), None, Some(String::new())]));
        assert_eq!(data_row(&body[..body.len() - 1]), None);
    }
}
