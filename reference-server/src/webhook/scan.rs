//! A hand-written reader for the common shape of a delivery: [`probe`] gives the same
//! [`Probe`] as the serde reader, about three times faster on the load harness's 11 KB body.
//!
//! Reading a body was the largest single item of the webhook path (about 11% of the server's
//! CPU under mix (a) of the load harness), most of it serde_json skipping the issue's fields
//! that no one reads. This reader skips strings 16 bytes at a time ([`string_stop`]) and finds
//! the end of member names with `memchr`.
//!
//! It gives up (`None`) on anything unusual, and the caller then reads the body with serde, so
//! that serde alone decides every edge case:
//! * any JSON syntax error, including what serde_json rejects in skipped values (control
//!   characters and bad escapes in strings, malformed numbers and literals, trailing bytes);
//! * raw members that are not valid UTF-8;
//! * a member name of the delivery, its `issue` or the issue's `fields` that has an escape or
//!   a non-ASCII byte (serde compares decoded names);
//! * a repeated `timestamp`, `webhookEvent`, `issue` or `changelog`, or a repeated `id`, `key`
//!   or `fields` of the issue (serde's derived readers reject those);
//! * an `issue` that is not an object or `null`, and `fields` that are not an object or
//!   `null`;
//! * nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
//!
//! So whenever it answers, serde answers the same (checked on the fixtures, by a property test
//! and by the `webhook_body` fuzz target).
//!
//! Why it stays, with the measurement: `docs/decisions/0008-webhook-fast-path.md`.

use super::MAX_DEPTH;
use super::probe::{Picked, Probe, ProbeFields, ProbeIssue};
use crate::storage::stored::{PROJECT_MEMBERS, STATUS_MEMBERS, USER_MEMBERS};

/// The member lists of the issue's `status`, `assignee` and `project`, by slot.
const KEPT: [&[&str]; 3] = [STATUS_MEMBERS, USER_MEMBERS, PROJECT_MEMBERS];

/// Reads `body` as the serde reader would, or `None` (see the module docs); with it, the
/// members of the issue's `status`, `assignee` and `project` that the stored form keeps.
pub(super) fn probe(body: &[u8]) -> Option<(Probe<'_>, Picked<'_>)> {
    let mut s = Scanner { b: body, i: 0 };
    let mut p = Probe::default();
    let mut picked = Picked::default();
    let mut seen = [false; 4];
    s.object(|s, name| {
        let slot = match name {
            b"timestamp" => 0,
            b"webhookEvent" => 1,
            b"issue" => 2,
            b"changelog" => 3,
            _ => return s.skip(MAX_DEPTH - 1),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        match slot {
            0 => p.timestamp = Some(s.raw()?),
            1 => p.webhook_event = Some(s.raw()?),
            2 => s.issue(&mut p.issue, &mut picked)?,
            _ => p.changelog = Some(s.raw()?).filter(|r| *r != "null"),
        }
        Some(())
    })?;
    s.ws();
    (s.i == body.len()).then_some((p, picked))
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace (the four bytes serde_json allows).
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips whitespace, then takes `byte`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// An object of the delivery's own shape (the body, its issue, the issue's fields): calls
    /// `member` with each member's name, positioned before the value, which it must read.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let name = self.name()?;
            self.expect(b':')?;
            member(self, name)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A member name without escapes and with printable ASCII only.
    fn name(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let rest = self.b.get(self.i..)?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        let name = &rest[..end];
        if rest[end] != b'"' || !name.iter().all(|&c| (0x20..0x7f).contains(&c)) {
            return None;
        }
        self.i += end + 1;
        Some(name)
    }

    /// A value's text, as serde's `RawValue` gives it (no surrounding whitespace, valid UTF-8).
    fn raw(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        self.skip(MAX_DEPTH - 2)?;
        std::str::from_utf8(self.b.get(start..self.i)?).ok()
    }

    /// The issue into `out`: an object, or `null` (`None`).
    fn issue(&mut self, out: &mut Option<ProbeIssue<'a>>, picked: &mut Picked<'a>) -> Option<()> {
        self.ws();
        if self.peek()? == b'n' {
            return self.literal(b"null");
        }
        let mut issue = ProbeIssue::default();
        let mut seen = [false; 3];
        self.object(|s, name| {
            let slot = match name {
                b"id" => 0,
                b"key" => 1,
                b"fields" => 2,
                _ => return s.skip(MAX_DEPTH - 2),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
            match slot {
                0 => issue.id = Some(s.raw()?),
                1 => issue.key = Some(s.raw()?),
                _ => issue.fields = Some(s.fields(picked)?),
            }
            Some(())
        })?;
        *out = Some(issue);
        Some(())
    }

    /// The issue's fields: an object (a repeated member counts once, the last one) or `null`.
    fn fields(&mut self, picked: &mut Picked<'a>) -> Option<ProbeFields<'a>> {
        self.ws();
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| ProbeFields::Null);
        }
        let mut raw = [None; 3];
        self.object(|s, name| {
            let slot = match name {
                b"status" => 0,
                b"assignee" => 1,
                b"project" => 2,
                _ => return s.skip(MAX_DEPTH - 3),
            };
            let (text, members) = s.raw_keeping(KEPT[slot])?;
            raw[slot] = Some(text);
            picked.0[slot] = members;
            Some(())
        })?;
        let [status, assignee, project] = raw;
        Some(ProbeFields::Object {
            status,
            assignee,
            project,
        })
    }

    /// A value's text (see [`Scanner::raw`]) and, when it is an object, its members named in
    /// `names`, in order (repeats included).
    #[allow(clippy::type_complexity)]
    fn raw_keeping(
        &mut self,
        names: &'static [&'static str],
    ) -> Option<(&'a str, Option<Vec<(&'static str, &'a str)>>)> {
        self.ws();
        if self.peek()? != b'{' {
            return Some((self.raw()?, None));
        }
        let start = self.i;
        let mut members = Vec::with_capacity(names.len());
        self.object(|s, name| {
            let Some(n) = names.iter().find(|n| n.as_bytes() == name) else {
                return s.skip(MAX_DEPTH - 4);
            };
            members.push((*n, s.raw()?));
            Some(())
        })?;
        let text = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
        Some((text, Some(members)))
    }

    /// Skips one value, nesting at most `depth` levels below this one.
    fn skip(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string()
            }
            open @ (b'{' | b'[') => {
                let depth = depth.checked_sub(1)?;
                let close = open + 2; // `}` and `]`
                self.i += 1;
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.expect(b'"')?;
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip(depth)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b.get(self.i..)?.starts_with(word).then(|| {
            self.i += word.len();
        })
    }

    /// The rest of a string after its opening quote: no control characters, valid escapes.
    /// (Like serde_json's skipping, it does not check UTF-8.)
    fn string(&mut self) -> Option<()> {
        loop {
            let rest = self.b.get(self.i..)?;
            let at = string_stop(rest)?;
            self.i += at + 1;
            match rest[at] {
                b'"' => return Some(()),
                b'\\' => {}
                _ => return None, // a control character
            }
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                b'u' => {
                    let hex = self.b.get(self.i + 1..self.i + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i += 5;
                }
                _ => return None,
            }
        }
    }

    /// A number in JSON's grammar: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let n = self
            .b
            .get(self.i..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count());
        self.i += n;
        n
    }
}

/// The first `"`, `\\` or control character (below 0x20) of a string's bytes.
///
/// Looks at 16 bytes at a time with a test the compiler turns into a few vector instructions
/// (no `unsafe`), then finds the byte within the block eight at a time ([`word_stop`]). The
/// blocks run over the rest of the body, past the string's end, so even a short string is
/// found with one block test; only the body's last bytes go one by one.
// Bitwise on purpose: without branches the block test becomes vector compares.
#[allow(clippy::needless_bitwise_bool)]
fn string_stop(rest: &[u8]) -> Option<usize> {
    let stops = |c: u8| (c == b'"') | (c == b'\\') | (c < 0x20);
    let mut blocks = rest.chunks_exact(16);
    let mut offset = 0;
    for block in &mut blocks {
        if block.iter().fold(false, |any, &c| any | stops(c)) {
            let (low, high) = block.split_at(8);
            let at = word_stop(low).or_else(|| word_stop(high).map(|at| 8 + at));
            return at
                .or_else(|| block.iter().position(|&c| stops(c)))
                .map(|at| offset + at);
        }
        offset += 16;
    }
    blocks
        .remainder()
        .iter()
        .position(|&c| stops(c))
        .map(|at| offset + at)
}

/// The first stop byte of an eight-byte word, from three zero-byte tests on a `u64`. A test
/// can flag a byte above a true match (a borrow), never below one, so the lowest flag of their
/// union is exact.
fn word_stop(word: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(word.try_into().ok()?);
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    let flags = ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (x.wrapping_sub(ONES * 0x20) & !x))
        & HIGH;
    (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(body: &[u8]) -> Option<Probe<'_>> {
        Probe::read_with_serde(body)
    }

    /// Whenever the scanner answers, serde answers the same.
    fn agrees(body: &[u8]) {
        if let Some((p, _)) = probe(body) {
            assert_eq!(
                serde(body).as_ref(),
                Some(&p),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn reads_the_fixtures_as_serde_does() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read(&path).expect("fixture");
            agrees(&body);
            // (serde's derived readers also read an array as a struct; bodies that are not
            // objects never get this far.)
            if body.trim_ascii_start().starts_with(b"{") && serde(&body).is_some() {
                assert!(probe(&body).is_some(), "{} falls back", path.display());
                read += 1;
            }
        }
        assert!(read >= 4, "only {read} fixtures read");
    }

    #[test]
    fn known_answers() {
        let (p, kept) = probe(
            br#" {"timestamp" : 17, "webhookEvent":"jira:issue_updated","user":{"a":[1,2.5e-3,true,null,"\u00e9\n"]},
                "issue":{"id":"10","key":"APP-1","fields":{"status":{"id":"3"},"assignee":null,"description":"x\\y","status":{"id":"4"}}},
                "changelog": {"items":[]} } "#,
        )
        .expect("read");
        assert_eq!(p.timestamp, Some("17"));
        assert_eq!(p.webhook_event, Some("\"jira:issue_updated\""));
        assert_eq!(p.changelog, Some("{\"items\":[]}"));
        let issue = p.issue.as_ref().expect("issue");
        assert_eq!(issue.key, Some("\"APP-1\""));
        assert_eq!(
            issue.fields,
            Some(ProbeFields::Object {
                status: Some("{\"id\":\"4\"}"),
                assignee: Some("null"),
                project: None
            })
        );
        // What the stored form keeps: the last status object's listed members, in order.
        assert_eq!(kept.0[0], Some(vec![("id", "\"4\"")]));
        assert_eq!(kept.0[1], None, "assignee is null");
        assert_eq!(kept.0[2], None, "no project");
        let stored = p
            .stored(p.changelog.expect("changelog"), kept)
            .expect("stored form");
        assert_eq!(
            String::from_utf8(stored.encode()).expect("utf-8"),
            r#"{"timestamp":17,"webhookEvent":"jira:issue_updated","issue":{"id":"10","key":"APP-1","fields":{"status":{"id":"4"},"assignee":null}},"changelog":{"items":[]}}"#
        );
        let (p, kept) = probe(
            br#"{"issue":{"fields":{"assignee":{"self":"u","name":"amy","avatarUrls":{"a":"b"},"name":"bob","emailAddress":null}}},"changelog":{"id":1}}"#,
        )
        .expect("read");
        assert_eq!(
            kept.0[1],
            Some(vec![
                ("name", "\"amy\""),
                ("name", "\"bob\""),
                ("emailAddress", "null")
            ])
        );
        assert_eq!(
            String::from_utf8(
                p.stored(p.changelog.expect("changelog"), kept)
                    .expect("stored")
                    .encode()
            )
            .expect("utf-8"),
            r#"{"issue":{"fields":{"assignee":{"name":"amy","name":"bob","emailAddress":null}}},"changelog":{"id":1}}"#
        );
        assert_eq!(
            probe(b"{\"changelog\":null,\"issue\":null}").map(|(p, _)| p.changelog),
            Some(None)
        );
        assert_eq!(
            probe(b"{\"issue\":{\"fields\":null}}").and_then(|(p, _)| p.issue?.fields),
            Some(ProbeFields::Null)
        );
    }

    #[test]
    fn gives_up_where_serde_decides() {
        for body in [
            // repeated members serde rejects, and shapes it reads differently
            &br#"{"issue":{},"issue":{}}"#[..],
            br#"{"changelog":1,"changelog":2}"#,
            br#"{"issue":{"key":"A","key":"B"}}"#,
            br#"{"issue":[1]}"#,
            br#"{"issue":{"fields":[1]}}"#,
            br#"{"issue":{"fields":1e400}}"#,
            // escaped or non-ASCII names
            br#"{"webhook\u0045vent":"x"}"#,
            "{\"tim\u{e9}stamp\":1}".as_bytes(),
            // syntax
            b"{\"a\":\"x\ny\"}",
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12g4"}"#,
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":1e}",
            b"{\"a\":-}",
            b"{\"a\":tru}",
            b"{\"a\":[1,]}",
            b"{\"a\":{\"b\":1,}}",
            b"{\"a\":1,}",
            b"{\"a\":1} x",
            b"{\"a\":1",
            b"\x0c{}",
            b"{\"a\" 1}",
            b"{1:2}",
            // a raw member that is not UTF-8
            b"{\"timestamp\":\"\xff\"}",
        ] {
            assert!(probe(body).is_none(), "{:?}", String::from_utf8_lossy(body));
            agrees(body);
        }
        // A skipped string is not checked for UTF-8, as serde does not check it either.
        let skipped = b"{\"other\":\"\xff\",\"changelog\":{}}";
        assert!(probe(skipped).is_some());
        agrees(skipped);
    }

    #[test]
    fn string_stop_finds_the_first_special_byte() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        for len in 0..80 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut b = vec![b'a'; len];
                    // bytes around the special one that could fool a word-at-a-time test
                    b[at] = special;
                    if at + 1 < len {
                        b[at + 1] = 0x80;
                    }
                    if at > 0 {
                        b[at - 1] = 0x21;
                    }
                    assert_eq!(string_stop(&b), naive(&b), "{b:?}");
                }
            }
            assert_eq!(string_stop(&vec![0xe9; len]), None);
        }
    }

    #[test]
    fn deep_nesting_falls_back() {
        let mut deep = b"{\"a\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 200));
        deep.extend(std::iter::repeat_n(b']', 200));
        deep.push(b'}');
        assert!(probe(&deep).is_none());
        let mut ok = b"{\"a\":".to_vec();
        ok.extend(std::iter::repeat_n(b'[', 100));
        ok.extend(std::iter::repeat_n(b']', 100));
        ok.push(b'}');
        assert!(probe(&ok).is_some());
        agrees(&ok);
    }

    /// JSON-ish text built from the tokens that matter to the reader.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let token = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\"",
            "\\",
            "\\u00e9",
            "\\x",
            "\"issue\"",
            "\"fields\"",
            "\"key\"",
            "\"id\"",
            "\"changelog\"",
            "\"timestamp\"",
            "\"webhookEvent\"",
            "\"status\"",
            "\"assignee\"",
            "\"project\"",
            "\"a\"",
            "null",
            "true",
            "1",
            "-0",
            "01",
            "1.5e3",
            "1e",
            "\n",
            "\u{1}",
            "\u{e9}",
            "\"x\"",
        ]);
        prop::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes())
    }

    proptest! {
        /// On any input, the scanner either gives up or reads what serde reads.
        #[test]
        fn never_disagrees_with_serde(body in jsonish()) {
            agrees(&body);
        }

        /// On a well-formed delivery with arbitrary values, the scanner answers.
        #[test]
        fn reads_well_formed_deliveries(v in any::<Vec<(u8, String, i64)>>()) {
            let members: serde_json::Map<String, serde_json::Value> = v
                .into_iter()
                .map(|(k, s, n)| (format!("m{k}"), serde_json::json!([s, n, {"x": null}])))
                .collect();
            let body = serde_json::to_vec(&serde_json::json!({
                "webhookEvent": "jira:issue_updated",
                "user": members.clone(),
                "issue": {"key": "A-1", "fields": {"assignee": members, "status": {}}},
                "changelog": {"items": []},
            })).expect("json");
            prop_assert!(probe(&body).is_some());
            agrees(&body);
        }
    }
}
