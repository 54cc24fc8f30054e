//! Feed the parser arbitrary and mutated YAML for a fixed time and require
//! that it never panics: every input is either a pipeline or a list of
//! diagnostics.
//!
//! The run lasts `NESTCI_FUZZ_SECS` seconds (default 60, as CI runs it; set
//! it lower for a quick local run). Inputs come from a seeded generator, so
//! a failure prints the seed and the input that caused it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nestci::dialect;
use nestci::plan::{self, PlanOptions};

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that exercise the YAML and dialect corners: anchors, aliases,
/// merges, tags, flow and block collections, scalars of every style, and
/// the native keys.
const TOKENS: &[&str] = &[
    "jobs:",
    "steps:",
    "run:",
    "needs:",
    "matrix:",
    "env:",
    "image:",
    "stage:",
    "stages:",
    "timeout:",
    "services:",
    "security:",
    "resources:",
    "if:",
    "when:",
    "retry:",
    "cap_add:",
    "volumes:",
    "artifacts:",
    "cache:",
    "paths:",
    "key:",
    "name:",
    "<<:",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!reference ",
    "!!str ",
    "!!int ",
    "!custom ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "- ",
    ": ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "\t",
    "'",
    "\"",
    "|",
    ">-",
    "#",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "? ",
    "null",
    "~",
    "true",
    "false",
    "yes",
    "on",
    "0x1F",
    "1e9",
    ".inf",
    "-12",
    "3.10",
    "10m",
    "90s",
    "512M",
    "$VAR",
    "${{ x }}",
    "\\u0000",
    "é",
    "🦀",
    "\r\n",
    "\u{feff}",
    "a",
    "b",
    "build",
    "test",
];

fn seeds() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["pipelines", "tests/broken"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "yml")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                out.push(text);
            }
        }
    }
    out.push(String::new());
    out
}

fn generate(rng: &mut Rng, seeds: &[String]) -> String {
    if rng.below(4) == 0 {
        // Token soup.
        let n = rng.below(64);
        (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect()
    } else {
        // Mutate a real file at a few char boundaries.
        let mut text = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(6) {
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let at = bounds[rng.below(bounds.len())];
            match rng.below(3) {
                0 => text.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
                1 => {
                    let end = bounds
                        .iter()
                        .copied()
                        .find(|&b| b >= at + 1 + rng.below(16))
                        .unwrap_or(text.len());
                    text.replace_range(at..end, "");
                }
                _ => {
                    let line = text.lines().nth(rng.below(40)).unwrap_or("").to_string();
                    text.insert_str(at, &format!("{line}\n"));
                }
            }
        }
        text
    }
}

#[test]
fn arbitrary_yaml_never_panics() {
    let secs: u64 = std::env::var("NESTCI_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("NESTCI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CAFE_F00D_D00D);
    let corpus = seeds();
    assert!(
        corpus.len() > 10,
        "the seed corpus (pipelines/, tests/broken/) is missing"
    );

    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut cases, mut accepted, mut refused) = (0u64, 0u64, 0u64);
    // Silence the default hook: a panic is reported below with its input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let input = generate(&mut rng, &corpus);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match dialect::load_str(Path::new("fuzz.yml"), &input) {
                Ok(l) => {
                    // Render warnings too: the renderer must cope with any span.
                    for w in &l.warnings {
                        let _ = w.render(Some(&l.text), false);
                    }
                    match plan::build(&l.pipeline, &PlanOptions::default()) {
                        Ok(_) => true,
                        Err(ds) => {
                            for d in &ds {
                                let _ = d.render(Some(&l.text), false);
                            }
                            false
                        }
                    }
                }
                Err(e) => {
                    assert!(!e.diagnostics.is_empty(), "refused without a reason");
                    for d in &e.diagnostics {
                        let _ = d.render(e.text.as_deref(), false);
                    }
                    false
                }
            }
        }));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => {
                std::panic::set_hook(hook);
                panic!("the parser panicked (seed {seed}, case {cases}) on:\n{input:?}");
            }
        }
        cases += 1;
    }
    std::panic::set_hook(hook);
    println!("{cases} inputs in {secs}s: {accepted} accepted, {refused} refused, no panic");
    assert!(cases > 0);
    assert!(
        accepted > 0 && refused > 0,
        "the generator should produce both kinds"
    );
}
