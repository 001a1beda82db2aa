//! How deeply a JSON text nests arrays and objects, told without parsing it.

/// Whether the arrays and objects of `json` nest deeper than `max` levels (brackets inside
/// strings do not count). `json` need not be valid JSON: a body can be checked before it is
/// parsed, so that a parser with a recursion limit never sees a body it would reject for depth.
///
/// ```
/// use jira_webhook_model::nests_deeper_than;
///
/// assert!(!nests_deeper_than(br#"{"a":[{"b":"[[[["}]}"#, 3));
/// assert!(nests_deeper_than(b"[[[[]]]]", 3));
/// ```
///
/// The nesting depth can never exceed the number of `{`/`[` bytes, so a text with at most
/// `max` of them is answered from one branch-free count (which the compiler vectorises); only
/// texts with more openers get the exact scan, which tracks strings and escapes.
#[must_use]
pub fn nests_deeper_than(json: &[u8], max: usize) -> bool {
    json.len() > max && count_openers(json) > max && nests_deeper_exact(json, max)
}

/// Number of `{` and `[` bytes anywhere in `json` (inside strings too).
fn count_openers(json: &[u8]) -> usize {
    // `[` is 0x5B and `{` is 0x7B: setting bit 5 maps exactly these two bytes to `{`.
    // Chunks of 128 keep the per-chunk sum within a `u8`, so the inner fold runs on byte lanes.
    json.chunks(128)
        .map(|chunk| {
            usize::from(
                chunk
                    .iter()
                    .fold(0u8, |n, &b| n.wrapping_add(u8::from(b | 0x20 == b'{'))),
            )
        })
        .sum()
}

/// The exact depth scan: one pass that tracks strings and escapes.
fn nests_deeper_exact(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deepest nesting the reference server accepts (serde_json's own recursion limit).
    const MAX_DEPTH: usize = 128;

    #[test]
    fn opener_count_bounds_depth() {
        assert_eq!(count_openers(b""), 0);
        assert_eq!(count_openers(b"{[\"{[\"]}"), 4);
        // More than 255 openers (the per-chunk counter must not wrap).
        assert_eq!(count_openers(&[b'['; 1000]), 1000);
        assert_eq!(count_openers(&[b'{'; 128]), 128);
        // Exactly MAX_DEPTH levels is accepted, one more is not.
        let nest = |n: usize| {
            let mut v = vec![b'['; n];
            v.extend(std::iter::repeat_n(b']', n));
            v
        };
        assert!(!nests_deeper_than(&nest(MAX_DEPTH), MAX_DEPTH));
        assert!(nests_deeper_than(&nest(MAX_DEPTH + 1), MAX_DEPTH));
        // Unclosed nesting counts too (a body is checked before it is parsed).
        assert!(nests_deeper_than(&[b'['; MAX_DEPTH + 1], MAX_DEPTH));
        // Many openers but shallow: the exact scan decides.
        let wide = b"[]".repeat(500);
        assert!(!nests_deeper_than(&wide, MAX_DEPTH));
        // Brackets inside strings do not count, escaped quotes included.
        let mut quoted = b"{\"changelog\":{\"id\":\"".to_vec();
        quoted.extend(std::iter::repeat_n(b'[', 200));
        quoted.extend_from_slice(b"\\\"\"}}");
        assert!(!nests_deeper_than(&quoted, MAX_DEPTH));
    }

    proptest::proptest! {
        /// Invariant: the counting shortcut never changes the answer of the exact depth scan,
        /// for any mix of brackets, quotes, backslashes and other bytes, at any limit.
        #[test]
        fn shortcut_matches_exact_scan(
            body in proptest::collection::vec(proptest::sample::select(b"{}[]\"\\ a".to_vec()), 0..600),
            max in 0usize..200,
        ) {
            proptest::prop_assert_eq!(nests_deeper_than(&body, max), nests_deeper_exact(&body, max));
        }
    }
}
