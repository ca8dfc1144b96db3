//! The JSON of message rows, written straight into one buffer sized up front. A history page is
//! the API's hottest reply, and its profile put a third of a page read's instructions into
//! serde_json: strings escaped a byte at a time, every timestamp through `collect_str`, and a
//! `Vec` regrown as it filled. Here strings go through a SIMD escaper and timestamps and UUIDs
//! are formatted into stack buffers. The bytes are those of `serde_json::to_vec(rows)`; the tests
//! below hold the two together, so the derived `Serialize` stays the definition.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use json_escape_simd::escape_into;
use uuid::Uuid;

use crate::domain::ConversationId;
use crate::store::messages::MessageRow;

/// Field names and punctuation around a row's values, beyond its strings' own lengths.
const ROW_OVERHEAD: usize = 256;

/// A JSON array of the rows.
pub fn page(rows: &[MessageRow]) -> Vec<u8> {
    let size: usize = rows.iter().map(estimate).sum();
    let mut out = Vec::with_capacity(size + 2);
    // A page's rows are one conversation's: its id is formatted once, not once a row.
    let mut conversation: Option<(ConversationId, Vec<u8>)> = None;
    out.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let id = match &conversation {
            Some((id, text)) if *id == row.conversation_id => text,
            _ => {
                let mut text = Vec::with_capacity(UUID_JSON_LEN);
                uuid(&row.conversation_id.as_uuid(), &mut text);
                &conversation.insert((row.conversation_id, text)).1
            }
        };
        write(row, id, &mut out);
    }
    out.push(b']');
    out
}

/// One row as a JSON object.
pub fn one(row: &MessageRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimate(row));
    let mut conversation = Vec::with_capacity(UUID_JSON_LEN);
    uuid(&row.conversation_id.as_uuid(), &mut conversation);
    write(row, &conversation, &mut out);
    out
}

fn estimate(row: &MessageRow) -> usize {
    // Room for the strings as they are plus the field names; where escaping needs more, the
    // escaper reserves its worst case itself.
    row.content.len() + row.sources.as_str().len() + ROW_OVERHEAD
}

/// `conversation` is the row's `conversation_id` as JSON already.
fn write(row: &MessageRow, conversation: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    uuid(&row.id, out);
    out.extend_from_slice(b",\"conversation_id\":");
    out.extend_from_slice(conversation);
    out.extend_from_slice(b",\"role\":\"");
    out.extend_from_slice(row.role.as_str().as_bytes());
    out.extend_from_slice(b"\",\"content\":");
    escape_into(&row.content, out);
    out.extend_from_slice(b",\"sources\":");
    out.extend_from_slice(row.sources.as_str().as_bytes());
    out.extend_from_slice(b",\"agent_type\":");
    match &row.agent_type {
        Some(agent) => escape_into(agent, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(row.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"created_at\":\"");
    timestamp(&row.created_at, out);
    out.extend_from_slice(b"\"}");
}

/// A hyphenated UUID in quotes.
const UUID_JSON_LEN: usize = uuid::fmt::Hyphenated::LENGTH + 2;

fn uuid(id: &Uuid, out: &mut Vec<u8>) {
    let mut buf = Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

/// RFC 3339 as chrono's `Serialize` writes it (`SecondsFormat::AutoSi`, `Z`): the fraction in
/// groups of three digits, as many as it needs. Years outside 0–9999 and leap seconds are left to
/// chrono itself; PostgreSQL's `now()` gives neither.
fn timestamp(at: &DateTime<Utc>, out: &mut Vec<u8>) {
    // `DateTime`'s own accessors add the (zero) offset again on every call.
    let naive = at.naive_utc();
    let year = naive.year();
    let nano = naive.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        let text = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, naive.month(), 2);
    out.push(b'-');
    digits(out, naive.day(), 2);
    out.push(b'T');
    digits(out, naive.hour(), 2);
    out.push(b':');
    digits(out, naive.minute(), 2);
    out.push(b':');
    digits(out, naive.second(), 2);
    let (fraction, width) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if width > 0 {
        out.push(b'.');
        digits(out, fraction, width);
    }
    out.push(b'Z');
}

/// `value` in `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut v = value;
    for digit in out[start..].iter_mut().rev() {
        *digit = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use crate::store::StoredJson;
    use chrono::TimeZone;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::domain::{ConversationId, MessageStatus, Role};

    /// Text that exercises every escape: quotes, backslashes, each control character, DEL,
    /// U+2028/U+2029 (left as they are by serde_json), and multi-byte characters at every offset
    /// of the escaper's 16- and 32-byte blocks.
    fn text(rng: &mut impl Rng) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            " ",
            "\"",
            "\\",
            "/",
            "\u{7f}",
            "\u{2028}",
            "\u{2029}",
            "é",
            "ロボット",
            "🤖",
            "<script>",
            "ROS 2 ",
            "\u{fffd}",
        ];
        let len = rng.random_range(0..120);
        (0..len)
            .map(|_| {
                if rng.random_bool(0.2) {
                    char::from(rng.random_range(0u8..0x20)).to_string()
                } else {
                    PIECES[rng.random_range(0..PIECES.len())].to_owned()
                }
            })
            .collect()
    }

    fn at(rng: &mut impl Rng) -> DateTime<Utc> {
        let secs = rng.random_range(-62_000_000_000i64..300_000_000_000);
        let nano = match rng.random_range(0..5) {
            0 => 0,
            1 => rng.random_range(0..1000) * 1_000_000,
            2 => rng.random_range(0..1_000_000) * 1_000,
            3 => rng.random_range(0..1_000_000_000),
            _ => rng.random_range(1_000_000_000..2_000_000_000), // a leap second
        };
        Utc.timestamp_opt(secs, nano).single().unwrap_or_default()
    }

    const CONVERSATIONS: [u128; 3] = [
        0x0198_7d3a_1c2e_7f00_8a1b_5c6d_7e8f_9012,
        0x0198_7d3a_1c2e_7f00_8a1b_5c6d_7e8f_9013,
        0xffff_0000_ffff_4000_8000_0000_0000_0001,
    ];

    fn row(rng: &mut impl Rng) -> MessageRow {
        let sources = if rng.random_bool(0.5) {
            "[]".to_owned()
        } else {
            serde_json::json!([{ "title": text(rng), "score": 0.5, "url": "/docs/x#a" }])
                .to_string()
        };
        MessageRow {
            id: Uuid::from_u128(rng.random()),
            // Mostly one conversation, as a page is, with switches to exercise the reuse of its id.
            conversation_id: ConversationId::parse(
                &Uuid::from_u128(CONVERSATIONS[rng.random_range(0..8) % 3]).to_string(),
            )
            .unwrap(),
            role: if rng.random_bool(0.5) {
                Role::User
            } else {
                Role::Assistant
            },
            content: text(rng),
            sources: StoredJson::from_valid(&sources),
            agent_type: rng.random_bool(0.5).then(|| text(rng)),
            status: [
                MessageStatus::Complete,
                MessageStatus::Incomplete,
                MessageStatus::Failed,
            ][rng.random_range(0..3)],
            created_at: at(rng),
        }
    }

    #[test]
    fn pages_are_byte_for_byte_what_serde_json_writes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in [0, 1, 2, 50, 200] {
            for _ in 0..20 {
                let rows: Vec<_> = (0..n).map(|_| row(&mut rng)).collect();
                let expected = serde_json::to_vec(&rows).unwrap();
                assert_eq!(
                    String::from_utf8(page(&rows)).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
    }

    #[test]
    fn one_row_is_what_serde_json_writes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let row = row(&mut rng);
            assert_eq!(one(&row), serde_json::to_vec(&row).unwrap());
        }
    }

    #[test]
    fn timestamps_match_chrono_at_the_edges() {
        for (secs, nano) in [
            (0, 0),
            (0, 1),
            (0, 999_999_999),
            (1_764_000_000, 120_000_000),
            (1_764_000_000, 123_456_000),
            (253_402_300_799, 999_999_000), // 9999-12-31T23:59:59.999999
            (253_402_300_800, 0),           // year 10000
            (-62_167_219_200, 0),           // year 0
            (-62_167_219_201, 0),           // year -1
            (1_483_228_799, 1_500_000_000), // a leap second
        ] {
            let at = Utc.timestamp_opt(secs, nano).single().unwrap();
            let mut out = Vec::new();
            timestamp(&at, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "{secs}.{nano}"
            );
        }
    }
}
