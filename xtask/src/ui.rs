//! What the user sees while tasks run: progress bars on a terminal, plain
//! RFC 3339-timestamped lines in CI (or when asked), GitHub Actions groups and
//! annotations when running there. Every line goes through secret masking.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::redact::Secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How output is shown, decided once at start-up from the flags and environment.
#[derive(Debug, Clone, Copy)]
pub struct UiOptions {
    /// Progress bars (only on a terminal, never in CI).
    pub progress: bool,
    pub color: bool,
    /// GitHub Actions workflow commands (`::group::`, `::error::`).
    pub github: bool,
    /// Prompts may be shown (a terminal on stdin and stderr, not CI).
    pub interactive: bool,
}

impl UiOptions {
    /// Decides from the environment: `CI`, `GITHUB_ACTIONS`, `NO_COLOR`, and whether
    /// stderr/stdin are terminals.
    pub fn detect(no_progress: bool, color: ColorChoice) -> UiOptions {
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let ci = env_set("CI");
        let stderr_tty = std::io::stderr().is_terminal();
        let progress = stderr_tty && !ci && !no_progress;
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_tty && !env_set("NO_COLOR") && !ci,
        };
        UiOptions {
            progress,
            color,
            github: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            interactive: stderr_tty && std::io::stdin().is_terminal() && !ci,
        }
    }
}

pub struct Ui {
    opts: UiOptions,
    multi: Option<MultiProgress>,
    overall: Mutex<Option<ProgressBar>>,
    current: Mutex<Option<ProgressBar>>,
    secrets: RwLock<Secrets>,
    /// GitHub mode: the token that resumes the runner's command processing.
    commands_token: Option<String>,
}

impl Ui {
    pub fn new(opts: UiOptions) -> Ui {
        console::set_colors_enabled_stderr(opts.color);
        console::set_colors_enabled(opts.color);
        let multi = opts.progress.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        let commands_token = opts.github.then(github::token);
        if let Some(token) = &commands_token {
            github::stop(token);
        }
        Ui {
            opts,
            multi,
            overall: Mutex::new(None),
            current: Mutex::new(None),
            secrets: RwLock::new(Secrets::default()),
            commands_token,
        }
    }

    pub fn options(&self) -> UiOptions {
        self.opts
    }

    pub fn add_secret(&self, secret: &str) {
        if let Ok(mut s) = self.secrets.write() {
            s.add(secret);
        }
    }

    pub fn redact(&self, text: &str) -> String {
        match self.secrets.read() {
            Ok(s) => s.redact(text),
            Err(_) => crate::redact::mask_url_passwords(text),
        }
    }

    fn timestamp() -> String {
        Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Prints one line to stderr, above the bars when they are drawn.
    fn line(&self, text: &str) {
        self.raw_line(&self.redact(text));
    }

    /// `line` for text already masked (the GitHub token, being hex, must not be
    /// touched by masking a short numeric password).
    fn raw_line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// One of the tool's own GitHub workflow commands: the runner's command
    /// processing is resumed for exactly this line (see `github`). Its data and
    /// properties are escaped by the caller.
    fn command(&self, command: &str) {
        let command = self.redact(command);
        match &self.commands_token {
            Some(token) => self.raw_line(&github::resumed(token, &command)),
            None => self.raw_line(&command),
        }
    }

    /// An event: timestamped in plain mode, styled on a terminal.
    pub fn event(&self, text: &str) {
        if self.multi.is_some() {
            self.line(text);
        } else {
            self.line(&format!("{} {text}", Self::timestamp()));
        }
    }

    pub fn warn(&self, text: &str) {
        let label = console::style("warning:").yellow().bold();
        self.event(&format!("{label} {text}"));
        if self.opts.github {
            self.command(&format!("::warning::{}", escape_annotation(&self.redact(text))));
        }
    }

    /// Output of a child process, passed through as it comes.
    pub fn child_line(&self, text: &str) {
        self.line(text.trim_end_matches(['\r', '\n']));
    }

    pub fn plan_started(&self, total: usize) {
        if let Some(m) = &self.multi {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:20.cyan/blue}] {pos}/{len} tasks {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(crate::invocation::name());
            bar.enable_steady_tick(Duration::from_millis(200));
            *self.overall.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        }
    }

    pub fn task_started(&self, index: usize, total: usize, name: &str) {
        if self.opts.github {
            self.command(&format!("::group::task {}", escape_annotation(name)));
        }
        match &self.multi {
            Some(m) => {
                if let Some(o) = &*self.overall.lock().unwrap_or_else(|e| e.into_inner()) {
                    o.set_position(index as u64 - 1);
                    o.set_message(name.to_string());
                }
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner:.green} {prefix:.bold} {wide_msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.replace_current(Some(bar));
            }
            None => self.event(&format!("task {name}: started ({index}/{total})")),
        }
    }

    fn replace_current(&self, bar: Option<ProgressBar>) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = cur.take() {
            old.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&old);
            }
        }
        *cur = bar;
    }

    pub fn task_finished(&self, name: &str, took: Duration) {
        self.replace_current(None);
        let secs = took.as_secs_f64();
        if self.multi.is_some() {
            self.line(&format!("{} {name} ({secs:.2}s)", console::style("✓").green()));
        } else {
            self.event(&format!("task {name}: finished in {secs:.2}s"));
        }
        if self.opts.github {
            self.command("::endgroup::");
        }
    }

    pub fn task_failed(&self, name: &str, took: Duration, cause: &str) {
        self.replace_current(None);
        let secs = took.as_secs_f64();
        if self.multi.is_some() {
            self.line(&format!("{} {name} failed after {secs:.2}s: {cause}", console::style("✗").red().bold()));
        } else {
            self.event(&format!("task {name}: failed after {secs:.2}s: {cause}"));
        }
        if self.opts.github {
            self.command("::endgroup::");
        }
    }

    /// A GitHub `::error::` annotation (no-op elsewhere).
    pub fn annotate_error(&self, title: &str, text: &str) {
        if self.opts.github {
            self.command(&format!(
                "::error title={}::{}",
                escape_property(&self.redact(title)),
                escape_annotation(&self.redact(text))
            ));
        }
    }

    /// Clears the bars at the end of a run.
    pub fn finish(&self) {
        self.replace_current(None);
        if let Some(o) = self.overall.lock().unwrap_or_else(|e| e.into_inner()).take() {
            o.finish_and_clear();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }

    /// Progress of many items at once (a fleet's targets): on a terminal one
    /// overall bar and one line per running item; elsewhere nothing (the caller's
    /// events are the timestamped lines).
    pub fn items(&self, label: &str, total: usize) -> ItemProgress<'_> {
        let overall = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template("  {prefix:.bold} [{bar:25.cyan/blue}] {pos}/{len} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ItemProgress { ui: self, overall, running: Mutex::new(Vec::new()) }
    }

    /// A byte counter for a task that writes a file of roughly known size.
    pub fn bytes(&self, label: &str, estimate: Option<u64>) -> ByteProgress<'_> {
        let bar = self.multi.as_ref().map(|m| {
            let bar = match estimate {
                Some(total) => {
                    let b = m.add(ProgressBar::new(total.max(1)));
                    b.set_style(
                        ProgressStyle::with_template(
                            "  {prefix:.bold} [{bar:25.green/white}] {bytes}/~{total_bytes} {binary_bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b
                }
                None => {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix:.bold} {bytes} {binary_bytes_per_sec}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b
                }
            };
            b_prefix(&bar, label);
            bar
        });
        ByteProgress {
            ui: self,
            bar,
            label: label.to_string(),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            position: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Asks a yes/no question on the terminal. Returns `None` when no terminal is
    /// available to ask on (the caller then refuses, rather than hang).
    pub fn confirm(&self, question: &str) -> Option<bool> {
        let answer = self.ask(&format!("{question} [y/N] "))?;
        Some(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }

    /// Reads one line typed on the terminal; `None` without a terminal.
    pub fn ask(&self, prompt: &str) -> Option<String> {
        if !self.opts.interactive {
            return None;
        }
        let prompt = self.redact(prompt);
        let read = || {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).ok().map(|_| line)
        };
        match &self.multi {
            Some(m) => m.suspend(read),
            None => read(),
        }
    }
}

impl Drop for Ui {
    /// Hands command processing back to the rest of the step (a script may print
    /// its own workflow commands after the tool ends).
    fn drop(&mut self) {
        if let Some(token) = &self.commands_token {
            github::resume(token);
        }
    }
}

/// GitHub Actions' runner obeys workflow commands in every line a step prints:
/// `::add-mask::`, `::warning::` at the start of a line (after blanks), and the
/// older `##[command]` form anywhere in a line. Child output, migration names,
/// folder names and Prisma's text are data, and a name can hold a newline; so in
/// GitHub mode the runner's command processing is stopped
/// (`::stop-commands::TOKEN`) for the whole run and resumed (`::TOKEN::`) only
/// around the tool's own commands. The token is random per run: nothing printed as
/// data can know it. The runner keeps this state per step, so even a killed run
/// cannot silence later steps.
mod github {
    use std::io::{Read, Write};

    pub(crate) fn token() -> String {
        let mut bytes = [0u8; 16];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if read.is_err() {
            // Without /dev/urandom: still unpredictable enough to a child that
            // cannot see our output (time and pid), never a fixed word.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
            bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("xtask-{hex}")
    }

    /// On stderr, where all of the tool's own lines go. The runner applies it to
    /// stdout too (one state per step); stdout itself stays clean for `--json`.
    pub(crate) fn stop(token: &str) {
        let _ = writeln!(std::io::stderr().lock(), "::stop-commands::{token}");
    }

    pub(crate) fn resume(token: &str) {
        let _ = std::io::stdout().flush();
        let _ = writeln!(std::io::stderr().lock(), "::{token}::");
    }

    /// One command with processing resumed just for it, as one write so that no
    /// other thread's line (child output) falls inside the window.
    pub(crate) fn resumed(token: &str, command: &str) -> String {
        format!("::{token}::\n{command}\n::stop-commands::{token}")
    }
}

fn b_prefix(bar: &ProgressBar, label: &str) {
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
}

/// See [`Ui::items`]: the overall bar and a spinner per running item.
pub struct ItemProgress<'u> {
    ui: &'u Ui,
    overall: Option<ProgressBar>,
    running: Mutex<Vec<(String, ProgressBar)>>,
}

impl ItemProgress<'_> {
    /// An item started: a line of its own under the overall bar.
    pub fn started(&self, name: &str, what: &str) {
        let (Some(m), Some(_)) = (&self.ui.multi, &self.overall) else { return };
        let bar = m.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("    {spinner:.green} {prefix:.bold} {wide_msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(self.ui.redact(name));
        bar.set_message(self.ui.redact(what));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.running.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), bar));
    }

    /// An item ended (or was decided without starting): the overall bar moves on.
    pub fn ended(&self, name: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = running.iter().position(|(n, _)| n == name) {
            let (_, bar) = running.remove(i);
            bar.finish_and_clear();
            if let Some(m) = &self.ui.multi {
                m.remove(&bar);
            }
        }
        if let Some(o) = &self.overall {
            o.inc(1);
        }
    }

    /// The overall bar's message (e.g. the wave running).
    pub fn message(&self, text: &str) {
        if let Some(o) = &self.overall {
            o.set_message(self.ui.redact(text));
        }
    }
}

impl Drop for ItemProgress<'_> {
    fn drop(&mut self) {
        for (_, bar) in self.running.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            bar.finish_and_clear();
        }
        if let Some(o) = self.overall.take() {
            o.finish_and_clear();
            if let Some(m) = &self.ui.multi {
                m.remove(&o);
            }
        }
    }
}

/// Byte progress: a bar on a terminal, a line every few seconds in plain mode.
pub struct ByteProgress<'u> {
    ui: &'u Ui,
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
    last_line: Mutex<Instant>,
    position: std::sync::atomic::AtomicU64,
}

/// How often plain mode reports bytes.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl ByteProgress<'_> {
    pub fn set(&self, bytes: u64) {
        self.position.store(bytes, std::sync::atomic::Ordering::Relaxed);
        match &self.bar {
            Some(bar) => {
                if let Some(len) = bar.length() {
                    if bytes > len {
                        bar.set_length(bytes);
                    }
                }
                bar.set_position(bytes);
            }
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    let rate = bytes as f64 / self.started.elapsed().as_secs_f64().max(0.001);
                    self.ui.event(&format!(
                        "{}: {} written ({}/s)",
                        self.label,
                        human_bytes(bytes),
                        human_bytes(rate as u64)
                    ));
                }
            }
        }
    }

    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Some(m) = &self.ui.multi {
                m.remove(bar);
            }
        }
    }
}

/// `1.5 MiB`-style sizes for people.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// GitHub workflow-command data escaping (`%`, CR, LF).
fn escape_annotation(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_annotation(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn annotations_escape_newlines() {
        assert_eq!(escape_annotation("a\nb%"), "a%0Ab%25");
        assert_eq!(escape_property("x: y, z"), "x%3A y%2C z");
    }
}
