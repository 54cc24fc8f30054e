//! Live output: every job's lines on one terminal, and in one file per job.
//!
//! Several jobs print at once. To keep that readable, every line is
//! prefixed with its job's name, padded to the widest name in the plan,
//! and (on a terminal) coloured per job:
//!
//! ```text
//! ▶ build started
//! ▶ lint started
//! build │ ▸ cargo build
//! lint  │ ▸ cargo clippy
//! build │    Compiling nestci v0.1.0
//! lint  ┆ warning: unused variable        (stderr: dashed bar, dimmed)
//! ✓ build passed in 3.2s
//! ```
//!
//! # Who writes what
//!
//! - The [`Printer`] owns the terminal (or any `Write`, so tests can
//!   capture it). Every write takes its lock and writes whole lines, so
//!   lines from parallel jobs never mix within a line.
//! - A [`JobOutput`] belongs to one running job. It drains that job's
//!   output channel ([`JobOutput::drain`]) — one consumer per job, reading
//!   lines in the order the backend sent them — and writes each line to
//!   the printer *and* to `<log_dir>/<job>.log`.
//!
//! # Bounded memory
//!
//! The backend sends [`OutputLine`]s into a bounded channel; `drain` takes
//! at most [`BATCH`] lines at a time, formats them and writes them before
//! taking more. When the terminal is slow, the channel fills and the
//! backend waits: memory stays the same however much a step prints.
//!
//! Lines are bytes. The terminal gets them decoded lossily (invalid UTF-8
//! becomes `�`); the log file gets the bytes exactly as they came.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};
use tokio::sync::mpsc;

use crate::backend::{OutputLine, Stream};
use crate::secrets::Masker;

use super::report::{JobReport, JobStatus};
use super::summary::elapsed;

/// Lines a job's output channel holds before its backend has to wait.
pub const CHANNEL_CAPACITY: usize = 256;
/// Lines written per lock of the terminal.
pub const BATCH: usize = 64;
/// Names longer than this do not widen the prefix column for the others.
const MAX_PAD: usize = 32;

/// Job colours, in the order jobs are given to [`Printer::with_jobs`]. No
/// red: it means failure.
const PALETTE: [AnsiColor; 10] = [
    AnsiColor::Cyan,
    AnsiColor::Magenta,
    AnsiColor::Yellow,
    AnsiColor::Green,
    AnsiColor::Blue,
    AnsiColor::BrightCyan,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightYellow,
    AnsiColor::BrightGreen,
    AnsiColor::BrightBlue,
];

/// The shared writer for all jobs' live output and status lines.
pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
    /// Width of the name column.
    width: usize,
    /// Palette index per job name.
    colours: HashMap<String, usize>,
    /// Secrets to show as `***`: applied to everything written, and by
    /// [`JobOutput`] to the log files.
    masker: Masker,
}

impl Printer {
    /// A printer writing to `out`; `color` adds ANSI styles (use it only
    /// when `out` is a terminal).
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> Printer {
        Printer {
            out: Mutex::new(out),
            color,
            width: 0,
            colours: HashMap::new(),
            masker: Masker::default(),
        }
    }

    /// A printer on standard output, buffered and flushed after every
    /// batch of lines.
    pub fn stdout(color: bool) -> Printer {
        Printer::new(Box::new(BufWriter::new(io::stdout())), color)
    }

    /// Pad the name column to the widest of `names` and give each name its
    /// colour, in order.
    pub fn with_jobs<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Printer {
        for name in names {
            let len = name.chars().count();
            if len <= MAX_PAD {
                self.width = self.width.max(len);
            }
            let next = self.colours.len() % PALETTE.len();
            self.colours.entry(name.to_string()).or_insert(next);
        }
        self
    }

    /// Mask these secrets in everything this printer and the job outputs
    /// made from it write.
    pub fn with_masker(mut self, masker: Masker) -> Printer {
        self.masker = masker;
        self
    }

    /// `text` with the secrets masked, for what is not printed but shown
    /// elsewhere (a log file's name).
    pub fn mask<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        self.masker.mask(text)
    }

    /// The style of `job`'s name.
    fn job_style(&self, job: &str) -> Style {
        if !self.color {
            return Style::new();
        }
        let index = self.colours.get(job).copied().unwrap_or_else(|| {
            // A name not given to `with_jobs`: a stable colour from its bytes.
            job.bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
                % PALETTE.len()
        });
        Style::new().fg_color(Some(PALETTE[index].into()))
    }

    fn style(&self, style: Style) -> Style {
        if self.color { style } else { Style::new() }
    }

    /// `build │ ` (or `┆` for stderr), styled.
    fn prefix(&self, buf: &mut Vec<u8>, job: &str, stream: Stream) {
        let name_style = self.job_style(job);
        let bar = match stream {
            Stream::Stdout => "│",
            Stream::Stderr => "┆",
        };
        let width = self.width;
        let _ = write!(
            buf,
            "{}{job:<width$} {bar}{} ",
            name_style.render(),
            name_style.render_reset()
        );
    }

    /// Format `lines` of `job` into `buf`, ready to write in one go.
    fn format_lines(&self, buf: &mut Vec<u8>, job: &str, lines: &[OutputLine]) {
        let dim = self.style(Style::new().dimmed());
        for line in lines {
            self.prefix(buf, job, line.stream);
            let text = String::from_utf8_lossy(&line.bytes);
            match line.stream {
                Stream::Stdout => buf.extend_from_slice(text.as_bytes()),
                Stream::Stderr => {
                    let _ = write!(buf, "{}{text}{}", dim.render(), dim.render_reset());
                }
            }
            buf.push(b'\n');
        }
    }

    /// Write `bytes` under the lock and flush, with the secrets masked (a
    /// secret never spans lines here: a multi-line one is masked line by
    /// line). A broken terminal must not stop the run, so write errors are
    /// ignored here (the log files still get everything).
    fn write(&self, bytes: &[u8]) {
        let bytes = self.masker.mask_bytes(bytes);
        let mut out = match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = out.write_all(&bytes);
        let _ = out.flush();
    }

    /// Print output lines of `job`.
    pub fn lines(&self, job: &str, lines: &[OutputLine]) {
        let mut buf = Vec::with_capacity(lines.len() * 80);
        self.format_lines(&mut buf, job, lines);
        self.write(&buf);
    }

    /// Print a message of nestci's own in `job`'s stream (a step starting,
    /// a retry, a timeout), bold so it stands out from the step's output.
    pub fn note(&self, job: &str, text: &str) {
        let mut buf = Vec::new();
        self.prefix(&mut buf, job, Stream::Stdout);
        let bold = self.style(Style::new().bold());
        let _ = writeln!(buf, "{}{text}{}", bold.render(), bold.render_reset());
        self.write(&buf);
    }

    /// `▶ build started`.
    pub fn started(&self, job: &str) {
        let name = self.style(self.job_style(job).bold());
        let line = format!("▶ {}{job}{} started\n", name.render(), name.render_reset());
        self.write(line.as_bytes());
    }

    /// `✓ build passed in 3.2s`, `✗ test failed in 1.0s: …`, `⊘ deploy
    /// skipped: …`.
    pub fn finished(&self, report: &JobReport) {
        let line = self.status_line(report, true);
        self.write(line.as_bytes());
    }

    /// Print any text as is (a warning, the summary).
    pub fn text(&self, text: &str) {
        self.write(text.as_bytes());
    }

    fn status_line(&self, report: &JobReport, styled: bool) -> String {
        let (mark, name) = if styled {
            (
                self.style(status_style(report.status)),
                self.style(self.job_style(&report.name).bold()),
            )
        } else {
            (Style::new(), Style::new())
        };
        let mut line = format!(
            "{}{}{} {}{}{} {}{}{}",
            mark.render(),
            report.status.symbol(),
            mark.render_reset(),
            name.render(),
            report.name,
            name.render_reset(),
            mark.render(),
            report.status.as_str(),
            mark.render_reset(),
        );
        if report.attempts > 0 {
            line.push_str(&format!(" in {}", elapsed(report.duration)));
        }
        if report.attempts > 1 {
            line.push_str(&format!(" after {} attempts", report.attempts));
        }
        if let Some(message) = &report.message {
            line.push_str(": ");
            line.push_str(message);
        }
        line.push('\n');
        line
    }
}

/// The colour of a status's symbol and word.
fn status_style(status: JobStatus) -> Style {
    let colour = match status {
        JobStatus::Passed => AnsiColor::Green,
        JobStatus::Failed | JobStatus::TimedOut => AnsiColor::Red,
        JobStatus::FailedAllowed => AnsiColor::Yellow,
        JobStatus::Skipped | JobStatus::Cancelled => AnsiColor::BrightBlack,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

/// One running job's view of the output: the shared printer plus the job's
/// own log file.
pub struct JobOutput {
    printer: Arc<Printer>,
    job: String,
    log: Option<BufWriter<File>>,
    log_path: Option<PathBuf>,
}

impl JobOutput {
    /// Output for `job`, logging to `log_path` when given. A log file that
    /// cannot be created is reported in the job's stream and the job runs
    /// on without it.
    pub fn open(printer: Arc<Printer>, job: &str, log_path: Option<PathBuf>) -> JobOutput {
        let mut out = JobOutput {
            printer,
            job: job.to_string(),
            log: None,
            log_path: None,
        };
        if let Some(path) = log_path {
            match File::create(&path) {
                Ok(file) => {
                    out.log = Some(BufWriter::new(file));
                    out.log_path = Some(path);
                }
                Err(e) => {
                    out.printer.note(
                        job,
                        &format!("cannot write the log file {}: {e}", path.display()),
                    );
                }
            }
        }
        out
    }

    /// Where this job's log is written, if anywhere.
    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// Write everything that arrives on `rx` until every sender is gone,
    /// in order, [`BATCH`] lines at a time.
    pub async fn drain(&mut self, mut rx: mpsc::Receiver<OutputLine>) {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            self.printer.lines(&self.job, &batch);
            let printer = Arc::clone(&self.printer);
            self.log(|log| {
                for line in &batch {
                    log.write_all(&printer.masker.mask_bytes(&line.bytes))?;
                    log.write_all(b"\n")?;
                }
                Ok(())
            });
            batch.clear();
        }
        self.log(|log| log.flush());
    }

    /// A message of nestci's own in this job's stream and log.
    pub fn note(&mut self, text: &str) {
        self.printer.note(&self.job, text);
        let text = self.printer.masker.mask(text).into_owned();
        self.log(|log| writeln!(log, "{text}"));
    }

    /// Record the job's end in its log and flush it. The status line on
    /// the terminal is the scheduler's to print.
    pub fn finish(mut self, report: &JobReport) {
        let line = self.printer.status_line(report, false);
        let line = self.printer.masker.mask(&line).into_owned();
        self.log(|log| {
            log.write_all(line.as_bytes())?;
            log.flush()
        });
    }

    /// Run `write` on the log file; on the first error, say so once and
    /// stop logging (the terminal still gets everything).
    fn log(&mut self, write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        if let Err(e) = write(log) {
            self.log = None;
            let path = self.log_path.take().unwrap_or_default();
            self.printer.note(
                &self.job,
                &format!("stopped writing the log file {}: {e}", path.display()),
            );
        }
    }
}

/// A safe, unique file name (without `.log`) for each job name, in order.
///
/// Job names may hold anything (`test [OS=linux, RUST=1.80]`, slashes,
/// `..`). Runs of characters outside `A-Za-z0-9._-` become one `_`, a
/// leading dot is prefixed (no hidden files, no `..`), long names are cut,
/// and names that end up equal get `-2`, `-3`, ….
pub fn log_file_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    names
        .into_iter()
        .map(|name| {
            let base = sanitize(name);
            let mut candidate = base.clone();
            let mut n = 1;
            while seen.contains_key(&candidate.to_ascii_lowercase()) {
                n += 1;
                candidate = format!("{base}-{n}");
            }
            seen.insert(candidate.to_ascii_lowercase(), n);
            candidate
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    let mut safe: String = trimmed.chars().take(100).collect();
    if safe.is_empty() {
        safe = "job".into();
    }
    if safe.starts_with('.') {
        safe.insert(0, '_');
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_unique() {
        let names = log_file_names([
            "build",
            "test [OS=linux, RUST=1.80]",
            "../etc/passwd",
            "a b",
            "a_b",
            "",
            "A_B",
        ]);
        assert_eq!(
            names,
            [
                "build",
                "test_OS_linux_RUST_1.80",
                "_.._etc_passwd",
                "a_b",
                "a_b-2",
                "job",
                "A_B-3",
            ]
        );
    }

    /// A `Write` that appends to a shared buffer.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.0.lock() {
                Ok(mut v) => v.extend_from_slice(buf),
                Err(p) => p.into_inner().extend_from_slice(buf),
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            let bytes = match self.0.lock() {
                Ok(v) => v.clone(),
                Err(p) => p.into_inner().clone(),
            };
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    #[test]
    fn plain_lines_are_padded_and_decoded_lossily() {
        let cap = Capture::default();
        let printer = Printer::new(Box::new(cap.clone()), false).with_jobs(["build", "lint-all"]);
        printer.lines(
            "build",
            &[
                OutputLine {
                    stream: Stream::Stdout,
                    bytes: b"hello".to_vec(),
                },
                OutputLine {
                    stream: Stream::Stderr,
                    bytes: b"bad \xff byte".to_vec(),
                },
            ],
        );
        printer.note("lint-all", "▸ step");
        assert_eq!(
            cap.text(),
            "build    │ hello\nbuild    ┆ bad \u{fffd} byte\nlint-all │ ▸ step\n"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let cap = Capture::default();
        let printer = Printer::new(Box::new(cap.clone()), true).with_jobs(["a"]);
        printer.started("a");
        assert!(cap.text().contains("\u{1b}["), "{:?}", cap.text());
    }

    #[test]
    fn status_lines() {
        let cap = Capture::default();
        let printer = Printer::new(Box::new(cap.clone()), false);
        printer.finished(&JobReport {
            name: "t".into(),
            status: JobStatus::Failed,
            duration: std::time::Duration::from_millis(1500),
            attempts: 2,
            message: Some("step `x` failed with exit code 3".into()),
        });
        assert_eq!(
            cap.text(),
            "✗ t failed in 1.5s after 2 attempts: step `x` failed with exit code 3\n"
        );
    }
}
