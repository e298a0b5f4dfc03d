//! Feeds the offline trainer (`scripts/train-injection-detector.py`) the
//! detector's own features, so training and screening share one featuriser;
//! with `--screen`, reports what the real `screen()` says instead.
//!
//! Reads JSON lines `{"text": "...", "whole": bool}` on stdin. Writes, for
//! every window of every line, little-endian u32s: the line's index, the
//! number of features (repeats counted), the number of distinct buckets, then
//! `(bucket, count)` pairs. With `--screen`: one JSON line per input line,
//! `{"threat", "score", "reason"}`.

use std::io::{self, BufRead, BufWriter, Write};

use heliport_core::injection::{screen, training_features};

fn main() -> io::Result<()> {
    let screen_mode = std::env::args().any(|a| a == "--screen");
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let text = v.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        if screen_mode {
            let verdict = screen(text);
            let row = serde_json::json!({
                "threat": verdict.threat,
                "score": verdict.score,
                "reason": verdict.reason,
            });
            writeln!(out, "{row}")?;
            continue;
        }
        let whole = v.get("whole").and_then(|w| w.as_bool()).unwrap_or(false);
        for mut feats in training_features(text, whole) {
            let total = feats.len() as u32;
            feats.sort_unstable();
            let mut pairs: Vec<(u32, u32)> = Vec::new();
            for b in feats {
                match pairs.last_mut() {
                    Some((last, n)) if *last == b => *n += 1,
                    _ => pairs.push((b, 1)),
                }
            }
            for x in [i as u32, total, pairs.len() as u32] {
                out.write_all(&x.to_le_bytes())?;
            }
            for (b, n) in pairs {
                out.write_all(&b.to_le_bytes())?;
                out.write_all(&n.to_le_bytes())?;
            }
        }
    }
    out.flush()
}
