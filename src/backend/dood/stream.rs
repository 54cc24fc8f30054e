//! From the daemon's multiplexed byte stream to [`OutputLine`]s.
//!
//! Without a TTY, exec and attach streams interleave stdout and stderr in
//! frames, each with an 8-byte header:
//!
//! ```text
//! [stream: u8][0][0][0][size: u32 big-endian]  then `size` bytes
//!  1 = stdout, 2 = stderr (0 = stdin, treated as stdout)
//! ```
//!
//! [`pump`] reads frames, feeds each stream's bytes to its own
//! [`LineSplitter`] (a line may span frames, a frame may hold many lines)
//! and sends every complete line as soon as it is complete. The sender
//! is bounded, so a step that prints faster than the terminal shows waits
//! — memory stays bounded. A line longer than [`MAX_LINE`] is cut into
//! pieces of that size rather than buffered whole.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::backend::{OutputLine, OutputSender, Stream};

/// The longest line kept in one piece.
pub const MAX_LINE: usize = 64 * 1024;

/// Splits one stream's bytes into lines.
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn new(stream: Stream) -> LineSplitter {
        LineSplitter {
            stream,
            partial: Vec::new(),
        }
    }

    /// Feed bytes; returns the lines they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<OutputLine> {
        let mut lines = Vec::new();
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.push_limited(&bytes[..i], &mut lines);
                    lines.push(self.take());
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.push_limited(bytes, &mut lines);
                    bytes = &[];
                }
            }
        }
        lines
    }

    /// The unfinished last line, if any (at the end of the stream).
    pub fn finish(&mut self) -> Option<OutputLine> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn push_limited(&mut self, mut bytes: &[u8], lines: &mut Vec<OutputLine>) {
        while self.partial.len() + bytes.len() > MAX_LINE {
            let room = MAX_LINE - self.partial.len();
            self.partial.extend_from_slice(&bytes[..room]);
            lines.push(self.take());
            bytes = &bytes[room..];
        }
        self.partial.extend_from_slice(bytes);
    }

    fn take(&mut self) -> OutputLine {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        OutputLine {
            stream: self.stream,
            bytes,
        }
    }
}

/// How a pump ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The daemon closed the stream: the process (and everything holding
    /// its stdout/stderr) is gone.
    Eof,
    /// Nobody listens any more (the output channel was closed).
    Closed,
}

/// Read a multiplexed stream to its end, sending lines to `out`.
pub async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    out: &OutputSender,
) -> std::io::Result<PumpEnd> {
    let mut stdout = LineSplitter::new(Stream::Stdout);
    let mut stderr = LineSplitter::new(Stream::Stderr);
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // A clean end of stream falls between frames.
        if !read_header(&mut reader, &mut header).await? {
            break;
        }
        let splitter = if header[0] == 2 {
            &mut stderr
        } else {
            &mut stdout
        };
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while left > 0 {
            let want = left.min(buf.len());
            reader.read_exact(&mut buf[..want]).await?;
            left -= want;
            for line in splitter.feed(&buf[..want]) {
                if out.send(line).await.is_err() {
                    return Ok(PumpEnd::Closed);
                }
            }
        }
    }
    for line in [stdout.finish(), stderr.finish()].into_iter().flatten() {
        if out.send(line).await.is_err() {
            return Ok(PumpEnd::Closed);
        }
    }
    Ok(PumpEnd::Eof)
}

/// The lines of a complete multiplexed buffer (`GET /containers/{id}/logs`
/// of a container without TTY), in the order they were completed. Bytes
/// that do not look like frames (a TTY container's log is raw) are taken
/// as plain stdout.
pub fn demux_lines(mut bytes: &[u8]) -> Vec<OutputLine> {
    let mut stdout = LineSplitter::new(Stream::Stdout);
    let mut stderr = LineSplitter::new(Stream::Stderr);
    let mut lines = Vec::new();
    while !bytes.is_empty() {
        let framed = bytes.len() >= 8 && bytes[0] <= 2 && bytes[1..4] == [0, 0, 0];
        if !framed {
            lines.extend(stdout.feed(bytes));
            break;
        }
        let size = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let end = (8 + size).min(bytes.len());
        let splitter = if bytes[0] == 2 {
            &mut stderr
        } else {
            &mut stdout
        };
        lines.extend(splitter.feed(&bytes[8..end]));
        bytes = &bytes[end..];
    }
    lines.extend([stdout.finish(), stderr.finish()].into_iter().flatten());
    lines
}

/// Fill `header`; `false` at a clean end of stream before its first byte.
async fn read_header<R: AsyncRead + Unpin>(
    reader: &mut R,
    header: &mut [u8; 8],
) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < header.len() {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(false);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the output stream ended inside a frame header",
            ));
        }
        filled += n;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[tokio::test]
    async fn frames_become_lines_per_stream() {
        let mut bytes = frame(1, b"one\ntw");
        bytes.extend(frame(2, b"err\n"));
        bytes.extend(frame(1, b"o\r\nthree"));
        let (tx, mut rx) = mpsc::channel(16);
        let end = pump(&bytes[..], &tx).await.expect("pump");
        drop(tx);
        assert_eq!(end, PumpEnd::Eof);
        let mut got = Vec::new();
        while let Some(l) = rx.recv().await {
            got.push((l.stream, String::from_utf8_lossy(&l.bytes).into_owned()));
        }
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, "one".to_string()),
                (Stream::Stderr, "err".to_string()),
                (Stream::Stdout, "two".to_string()),
                (Stream::Stdout, "three".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn a_truncated_header_is_an_error() {
        let (tx, _rx) = mpsc::channel(16);
        assert!(pump(&[1u8, 0, 0][..], &tx).await.is_err());
    }

    #[test]
    fn a_log_buffer_is_demultiplexed_and_raw_bytes_pass() {
        let mut bytes = frame(1, b"partial ");
        bytes.extend(frame(2, b"err\n"));
        bytes.extend(frame(1, b"done\nlast"));
        let text = |ls: Vec<OutputLine>| -> Vec<String> {
            ls.iter()
                .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
                .collect()
        };
        assert_eq!(
            text(demux_lines(&bytes)),
            vec!["err", "partial done", "last"]
        );
        assert_eq!(
            text(demux_lines(b"plain tty\nlog")),
            vec!["plain tty", "log"]
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let mut s = LineSplitter::new(Stream::Stdout);
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let lines = s.feed(&long);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.bytes.len() == MAX_LINE));
        assert_eq!(s.finish().map(|l| l.bytes.len()), Some(10));
    }
}
