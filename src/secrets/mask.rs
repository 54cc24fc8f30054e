//! Masking: every secret value replaced by `***` in a line of output.
//!
//! Output is masked line by line, so a secret is found when it sits
//! within one line. A multi-line secret (a key file) is registered as its
//! lines, each masked on its own, as GitHub does. Several secrets are
//! found in one pass with Aho-Corasick; where they overlap
//! (`abc` and `abcdef`), the longest wins, so no part of the longer one
//! is left in clear.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Replaces secret values in text. The default masks nothing.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// `None` when there is nothing to mask.
    matcher: Option<AhoCorasick>,
}

impl Masker {
    /// A masker for these secret values. Empty values (and empty lines of
    /// multi-line values) are not secrets: masking them would mask
    /// nothing or everything. Fails closed: when no matcher can be built
    /// (only past Aho-Corasick's size limits), the caller must not print
    /// anything that may hold a secret.
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Masker, aho_corasick::BuildError> {
        let mut pieces: Vec<&str> = Vec::new();
        for value in values {
            if value.trim().is_empty() {
                continue;
            }
            pieces.push(value);
            if value.contains('\n') {
                pieces.extend(
                    value
                        .lines()
                        .map(|l| l.trim_end_matches('\r'))
                        .filter(|l| !l.trim().is_empty()),
                );
            }
        }
        pieces.sort_unstable();
        pieces.dedup();
        let matcher = if pieces.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&pieces)?,
            )
        };
        Ok(Masker { matcher })
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(MASK);
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// [`Masker::mask`] on bytes (a log line need not be UTF-8).
    pub fn mask_bytes<'t>(&self, bytes: &'t [u8]) -> Cow<'t, [u8]> {
        match &self.matcher {
            Some(m) if m.is_match(bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                m.replace_all_with_bytes(bytes, &mut out, |_, _, dst| {
                    dst.extend_from_slice(MASK.as_bytes());
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_longest_first() {
        let m = Masker::new(["abc", "abcdef", "zz"]).expect("masker");
        assert_eq!(m.mask("abcdef abc xabcdefy zzz"), "*** *** x***y ***z");
        assert_eq!(m.mask("nothing here"), "nothing here");
        assert!(matches!(m.mask("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn multi_line_secrets_are_masked_piece_by_piece() {
        let m = Masker::new(["-----BEGIN KEY-----\r\nc2VjcmV0\n\n-----END KEY-----\n"])
            .expect("masker");
        assert_eq!(m.mask("key: c2VjcmV0 ok"), "key: *** ok");
        assert_eq!(m.mask("-----END KEY-----"), "***");
    }

    #[test]
    fn empty_values_mask_nothing() {
        let m = Masker::new(["", "  ", "\n"]).expect("masker");
        assert!(m.is_empty());
        assert_eq!(m.mask("a b"), "a b");
        assert!(Masker::default().is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        let m = Masker::new(["s3cr3t"]).expect("masker");
        let line = b"\xff s3cr3t \xfe";
        assert_eq!(m.mask_bytes(line).as_ref(), b"\xff *** \xfe");
    }
}
