//! The top-level members of a JSON object, found without parsing the values
//! in between: a provider's answer keeps its usage and model beside the
//! generated content, and only those few members are worth deserializing.
//!
//! Values are skipped by their structure alone (strings jumped over with
//! `memchr`, brackets counted), so skipping a long answer costs about one
//! pass over its bytes and builds nothing. Only a document that is well
//! formed at the top level is read: an unbalanced bracket, an unterminated
//! string or anything after the closing brace gives `None`, and so does a
//! key written with escapes (the caller then parses the document in full).
//!
//! Leniencies, on purpose: the values skipped are not validated (a control
//! character in a string, brackets of the wrong kind), and a repeated key is
//! given once per occurrence (readers keep the last, as browsers do), where
//! serde refused the whole document and its usage with it.

/// Calls `each` with every `(key, value)` of the object in `doc`, in order:
/// the key as written between its quotes, the value as its raw bytes
/// (`"text"`, `{...}`, `12`). `None` when `doc` is not one well-formed
/// object at the top level (`each` may have seen some members by then).
pub fn for_each_member<'a>(doc: &'a [u8], mut each: impl FnMut(&'a [u8], &'a [u8])) -> Option<()> {
    let end = read_object(doc, |key, rest| {
        let len = value_len(rest)?;
        each(key, rest.get(..len)?);
        Some(len)
    })?;
    trailing_ws_only(doc, end).then_some(())
}

/// Walks the object `doc` starts with (after whitespace) and returns the
/// index just past its closing brace, whatever follows it. `each` gets every
/// key and the document from that key's value on, and may read the value in
/// place: it returns the value's length when it did, `None` to have it
/// skipped by its structure. A value read where it lies is walked once, not
/// once to find its end and again to read it (an answer's `usage` and the
/// objects inside it). `None` when the object is not well formed at its
/// level or a key is escaped.
pub fn read_object<'a>(
    doc: &'a [u8],
    mut each: impl FnMut(&'a [u8], &'a [u8]) -> Option<usize>,
) -> Option<usize> {
    let mut i = skip_ws(doc, 0);
    if doc.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(doc, i + 1);
    if doc.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if doc.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(doc, i)?;
        let key = doc.get(i + 1..key_end - 1)?;
        if key.contains(&b'\\') {
            return None;
        }
        i = skip_ws(doc, key_end);
        if doc.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(doc, i + 1);
        let rest = doc.get(start..)?;
        let end = match each(key, rest) {
            Some(len) if (1..=rest.len()).contains(&len) => start + len,
            Some(_) => return None,
            None => value_end(doc, start)?,
        };
        i = skip_ws(doc, end);
        match doc.get(i) {
            Some(b',') => i = skip_ws(doc, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// The length of the JSON value `rest` starts with, found by its structure
/// alone (as [`for_each_member`] skips values).
pub fn value_len(rest: &[u8]) -> Option<usize> {
    value_end(rest, 0)
}

/// Whether no object or array in `doc` is nested deeper than `limit` (the
/// outermost counts as 1), found in one pass without recursion: a guard for
/// parsers that recurse once per level.
pub fn depth_at_most(doc: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&c) = doc.get(i) {
        match c {
            b'"' => match string_end(doc, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return true,
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    true
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Whether nothing but whitespace follows index `i` of `b`.
pub fn trailing_ws_only(b: &[u8], i: usize) -> bool {
    skip_ws(b, i) == b.len()
}

/// The index just past the closing quote of the string opening at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b.get(at) == Some(&b'"') {
            return Some(at + 1);
        }
        // A backslash: whatever it escapes (a quote included) is skipped.
        i = at + 2;
    }
}

/// The index just past the value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => nested_end(b, start),
        _ => {
            let len = b
                .get(start..)?
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
                .count();
            (len > 0).then_some(start + len)
        }
    }
}

/// The index just past the object or array opening at `start`. Brackets of
/// both kinds are counted together; in well-formed JSON they nest properly.
fn nested_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = string_end(b, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(doc: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
        let mut out = Vec::new();
        for_each_member(doc, |k, v| out.push((k, v))).map(|()| out)
    }

    fn keys(doc: &str) -> Option<Vec<(String, String)>> {
        members(doc.as_bytes()).map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8(k.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    )
                })
                .collect()
        })
    }

    #[test]
    fn finds_each_member_with_its_raw_value() {
        let doc = r#" { "id" : "a\"b}" , "choices":[{"text":"x]}\\"},[1,2]],
            "usage":{"prompt_tokens":5},"n":-1.5e3,"ok":true,"none":null } "#;
        assert_eq!(
            keys(doc).unwrap(),
            vec![
                ("id".into(), r#""a\"b}""#.into()),
                ("choices".into(), r#"[{"text":"x]}\\"},[1,2]]"#.into()),
                ("usage".into(), r#"{"prompt_tokens":5}"#.into()),
                ("n".into(), "-1.5e3".into()),
                ("ok".into(), "true".into()),
                ("none".into(), "null".into()),
            ]
        );
        assert_eq!(keys("{}").unwrap(), vec![]);
    }

    /// A random JSON value: nested objects and arrays, strings with quotes,
    /// backslashes, brackets and non-ASCII text, numbers, literals.
    fn random_value(seed: &mut u64, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        let mut next = |n: u64| {
            // xorshift64: deterministic, no dependency.
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % n
        };
        const PIECES: [&str; 8] = ["a", "\"", "\\", "}", "]", "{\"k\":", "é ", "\\\""];
        match next(if depth == 0 { 4 } else { 6 }) {
            0 => Value::from(next(1 << 40) as i64 - (1 << 39)),
            // Exact in binary: serde_json does not round-trip every float.
            1 => Value::from(next(1000) as f64 / 8.0),
            2 => [Value::Null, Value::Bool(true), Value::Bool(false)][next(3) as usize].clone(),
            3 => Value::String((0..next(6)).map(|_| PIECES[next(8) as usize]).collect()),
            4 => Value::Array(
                (0..next(4))
                    .map(|_| random_value(seed, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..next(4))
                    .map(|i| (format!("k{i}"), random_value(seed, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// An object of six random members.
    fn random_doc(seed: &mut u64) -> serde_json::Map<String, serde_json::Value> {
        (0..6)
            .map(|i| (format!("m{i}"), random_value(seed, 4)))
            .collect()
    }

    #[test]
    fn members_agree_with_a_full_parse_of_random_documents() {
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let doc = random_doc(&mut seed);
            let text = serde_json::to_string_pretty(&doc).unwrap();
            let found = members(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(found.len(), doc.len(), "{text}");
            for (key, raw) in found {
                let key = std::str::from_utf8(key).unwrap();
                let value: serde_json::Value = serde_json::from_slice(raw).unwrap();
                assert_eq!(Some(&value), doc.get(key), "{key} in {text}");
            }
            // A document cut anywhere (a body truncated at the cap) is refused.
            let bytes = text.as_bytes();
            for cut in (0..bytes.len()).step_by(7) {
                assert_eq!(
                    members(&bytes[..cut]),
                    None,
                    "{}",
                    String::from_utf8_lossy(&bytes[..cut])
                );
            }
        }
    }

    /// Reads every object value in place, recursively, as a reader of
    /// `usage` does; anything else is left to the walk.
    fn read_in_place(rest: &[u8]) -> Option<usize> {
        read_object(rest, |_, value| {
            if value.first() == Some(&b'{') {
                read_in_place(value)
            } else {
                None
            }
        })
    }

    #[test]
    fn values_read_in_place_end_where_the_walk_ends_them() {
        let mut seed = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            let doc = random_doc(&mut seed);
            let text = serde_json::to_string(&doc).unwrap();
            let bytes = text.as_bytes();
            assert_eq!(read_in_place(bytes), Some(bytes.len()), "{text}");
            assert_eq!(read_object(bytes, |_, _| None), Some(bytes.len()));
            // Followed by more: the object's own end, whatever comes after.
            let more = format!("{text} ,\"next\":1}}");
            assert_eq!(read_in_place(more.as_bytes()), Some(bytes.len()));
            for cut in (0..bytes.len()).step_by(5) {
                let head = &bytes[..cut];
                assert_eq!(
                    read_in_place(head),
                    None,
                    "{}",
                    String::from_utf8_lossy(head)
                );
            }
        }
        // A reader that claims more than there is, or nothing, ends the walk.
        assert_eq!(read_object(br#"{"a":1}"#, |_, _| Some(0)), None);
        assert_eq!(read_object(br#"{"a":1}"#, |_, r| Some(r.len() + 1)), None);
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        assert!(depth_at_most(br#"{"a":[{"b":"[[[[{{{{"}]}"#, 3));
        assert!(!depth_at_most(br#"{"a":[{"b":[]}]}"#, 3));
        let deep = "[".repeat(1_000_000);
        assert!(!depth_at_most(deep.as_bytes(), 32));
        assert!(depth_at_most(b"", 0));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_object() {
        for bad in [
            "",
            "[1]",
            "{",
            r#"{"a":1"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":1} trailing"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{a:1}"#,
            // An escaped key is left to the full parser.
            r#"{"mod\u0065l":"x"}"#,
        ] {
            assert_eq!(keys(bad), None, "{bad}");
        }
    }
}
