//! Markdown/MDX files into chunks: front matter, then one chunk per section (split at headings,
//! never inside a fenced code block), long sections cut at paragraph boundaries.

use std::collections::HashMap;

/// Larger files are refused: documentation pages are a few KiB, and a huge file is almost
/// certainly not one.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// A chunk's target size: a few paragraphs, enough to answer from, small enough to rank sharply.
pub const MAX_CHUNK_CHARS: usize = 1_500;

/// A parsed page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub slug: String,
    pub title: String,
    pub chapter_number: Option<i32>,
    pub page_number: Option<i32>,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub heading: String,
    /// The headings above this one and itself, joined by " › ".
    pub heading_path: String,
    pub anchor: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("not UTF-8 text (binary file?)")]
    NotText,
    #[error("larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("front matter is not closed by a `---` line")]
    UnclosedFrontMatter,
    #[error("front matter is not valid YAML: {0}")]
    BadFrontMatter(String),
    #[error("front matter field `{0}` has the wrong type")]
    BadField(&'static str),
}

/// Parses one file. `rel_path` (with `/` separators) gives the slug when the front matter has none.
pub fn parse(rel_path: &str, bytes: &[u8]) -> Result<Page, PageError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(PageError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PageError::NotText)?;
    if text.contains('\0') {
        return Err(PageError::NotText);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body) = split_front_matter(text)?;
    let meta = FrontMatter::parse(front)?;
    let sections = sections(body);
    let title = meta
        .title
        .or_else(|| {
            sections
                .iter()
                .find(|s| s.level == 1)
                .map(|s| s.heading.clone())
        })
        .unwrap_or_else(|| file_stem(rel_path));
    let slug = slug_for(rel_path, meta.slug.as_deref());
    let mut chunks = Vec::new();
    for s in sections {
        let heading = if s.heading.is_empty() {
            title.clone()
        } else {
            s.heading
        };
        let heading_path = if s.heading_path.is_empty() {
            heading.clone()
        } else {
            s.heading_path
        };
        for content in split_long(&s.content, MAX_CHUNK_CHARS) {
            chunks.push(Chunk {
                heading: heading.clone(),
                heading_path: heading_path.clone(),
                anchor: s.anchor.clone(),
                content,
            });
        }
    }
    Ok(Page {
        slug,
        title,
        chapter_number: meta.chapter_number,
        page_number: meta.page_number,
        chunks,
    })
}

fn split_front_matter(text: &str) -> Result<(Option<&str>, &str), PageError> {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok((None, text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((Some(&rest[..offset]), &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(PageError::UnclosedFrontMatter)
}

#[derive(Debug, Default)]
struct FrontMatter {
    slug: Option<String>,
    title: Option<String>,
    chapter_number: Option<i32>,
    page_number: Option<i32>,
}

impl FrontMatter {
    fn parse(raw: Option<&str>) -> Result<Self, PageError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let value: serde_yaml::Value =
            serde_yaml::from_str(raw).map_err(|e| PageError::BadFrontMatter(e.to_string()))?;
        let serde_yaml::Value::Mapping(map) = value else {
            return Err(PageError::BadFrontMatter("not a mapping".into()));
        };
        let get = |k: &str| map.get(serde_yaml::Value::String(k.into()));
        Ok(Self {
            slug: text_field(get("slug"), "slug")?,
            title: text_field(get("title"), "title")?,
            chapter_number: number_field(get("chapter_id"), "chapter_id")?
                .or(number_field(get("chapter_number"), "chapter_number")?),
            page_number: number_field(get("page_number"), "page_number")?,
        })
    }
}

fn text_field(
    v: Option<&serde_yaml::Value>,
    name: &'static str,
) -> Result<Option<String>, PageError> {
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(serde_yaml::Value::String(s)) => {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        Some(serde_yaml::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(PageError::BadField(name)),
    }
}

/// `chapter_id: 01` is a number to YAML and `"01"` a string; both mean chapter 1. A value that
/// is not a number (e.g. `chapter_id: intro`) is no chapter number, not an error.
fn number_field(
    v: Option<&serde_yaml::Value>,
    name: &'static str,
) -> Result<Option<i32>, PageError> {
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(serde_yaml::Value::Number(n)) => Ok(n.as_i64().and_then(|n| i32::try_from(n).ok())),
        Some(serde_yaml::Value::String(s)) => Ok(s.trim().parse::<i32>().ok()),
        Some(_) => Err(PageError::BadField(name)),
    }
}

fn file_stem(rel_path: &str) -> String {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    name.rsplit_once('.')
        .map_or(name, |(stem, _)| stem)
        .to_owned()
}

/// The page's URL path: the front-matter slug (relative ones resolved against the file's
/// directory, as Docusaurus does), else the file path without its extension (`index`/`README`
/// stand for their directory).
pub fn slug_for(rel_path: &str, front: Option<&str>) -> String {
    let dir = rel_path.rsplit_once('/').map_or("", |(d, _)| d);
    let raw = match front {
        Some(s) if s.starts_with('/') => s.to_owned(),
        Some(s) => format!("/{dir}/{s}"),
        None => {
            let no_ext = rel_path.rsplit_once('.').map_or(rel_path, |(p, _)| p);
            let trimmed = ["index", "README", "readme"]
                .iter()
                .find_map(|n| {
                    no_ext
                        .strip_suffix(n)
                        .filter(|p| p.is_empty() || p.ends_with('/'))
                })
                .unwrap_or(no_ext);
            format!("/{trimmed}")
        }
    };
    let mut out = String::with_capacity(raw.len());
    for part in raw.split('/').filter(|p| !p.is_empty() && *p != ".") {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() { "/".into() } else { out }
}

#[derive(Debug)]
struct Section {
    level: usize,
    heading: String,
    heading_path: String,
    anchor: String,
    content: String,
}

/// Splits the body at ATX headings outside fenced code. Text before the first heading is a
/// section of its own (no heading, no anchor). Empty sections are dropped: their heading still
/// ranks through the `heading_path` of the sections below it.
fn sections(body: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let mut anchors = Anchors::default();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut current = Section {
        level: 0,
        heading: String::new(),
        heading_path: String::new(),
        anchor: String::new(),
        content: String::new(),
    };
    let mut fence: Option<(char, usize)> = None;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if let Some((c, n)) = fence {
            let t = trimmed.trim_end();
            if t.len() >= n && t.chars().all(|x| x == c) {
                fence = None;
            }
            current.content.push_str(line);
            current.content.push('\n');
            continue;
        }
        if let Some(marker) = fence_marker(trimmed) {
            fence = Some(marker);
            current.content.push_str(line);
            current.content.push('\n');
            continue;
        }
        if let Some((level, raw)) = heading(line) {
            let (text, custom_id) = heading_text(raw);
            let anchor = anchors.next(custom_id.as_deref(), &text);
            stack.retain(|(l, _)| *l < level);
            stack.push((level, text.clone()));
            let path = stack
                .iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join(" › ");
            let done = std::mem::replace(
                &mut current,
                Section {
                    level,
                    heading: text,
                    heading_path: path,
                    anchor,
                    content: String::new(),
                },
            );
            out.push(done);
            continue;
        }
        // MDX module lines are code, not prose.
        if current.level == 0 && (line.starts_with("import ") || line.starts_with("export ")) {
            continue;
        }
        current.content.push_str(line);
        current.content.push('\n');
    }
    out.push(current);
    out.into_iter()
        .filter_map(|mut s| {
            s.content = s.content.trim().to_owned();
            (!is_blank(&s.content)).then_some(s)
        })
        .collect()
}

/// A section holding only thematic breaks (`---`) says nothing.
fn is_blank(content: &str) -> bool {
    content
        .lines()
        .all(|l| l.trim().is_empty() || l.trim().chars().all(|c| matches!(c, '-' | '*' | '_')))
}

/// The opening of a fenced code block: its character and length (the closing fence must
/// repeat the character at least as many times).
fn fence_marker(trimmed: &str) -> Option<(char, usize)> {
    ['`', '~'].into_iter().find_map(|c| {
        let n = trimmed.chars().take_while(|x| *x == c).count();
        (n >= 3).then_some((c, n))
    })
}

/// An ATX heading: up to three spaces, 1–6 `#`, a space, text (closing `#`s dropped).
fn heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    let text = after.trim().trim_end_matches('#').trim_end();
    (!text.is_empty()).then_some((level, text))
}

/// The heading as a reader sees it (inline markup removed) and a `{#custom-id}` if present.
fn heading_text(raw: &str) -> (String, Option<String>) {
    let (raw, custom) = match raw.rfind("{#") {
        Some(i) if raw.ends_with('}') => (
            raw[..i].trim_end(),
            Some(raw[i + 2..raw.len() - 1].trim().to_owned()).filter(|s| !s.is_empty()),
        ),
        _ => (raw, None),
    };
    (strip_inline(raw), custom)
}

/// Removes emphasis, code spans, HTML tags and link targets: `**[A](b)**` → `A`.
pub fn strip_inline(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '`' => {}
            '_' if out.is_empty()
                || out.ends_with(' ')
                || chars.peek().is_none_or(|n| *n == ' ' || *n == '_') => {}
            '<' => {
                // An HTML/JSX tag: skip to its end.
                for n in chars.by_ref() {
                    if n == '>' {
                        break;
                    }
                }
            }
            ']' if chars.peek() == Some(&'(') => {
                for n in chars.by_ref() {
                    if n == ')' {
                        break;
                    }
                }
            }
            '[' | ']' => {}
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// github-slugger, which Docusaurus uses for heading ids: lower case, drop everything but
/// letters, digits, marks, `-`, `_` and spaces, then spaces become `-`; repeats get `-1`, `-2`.
/// The empty anchor belongs to the text before the first heading (the page itself), so a heading
/// that slugs to nothing (`## !`) gets `-1` rather than a link to the top of the page.
struct Anchors {
    seen: HashMap<String, usize>,
}

impl Default for Anchors {
    fn default() -> Self {
        Self {
            seen: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Anchors {
    fn next(&mut self, custom: Option<&str>, text: &str) -> String {
        let base = custom.map_or_else(|| slugify(text), str::to_owned);
        let mut candidate = base.clone();
        while let Some(n) = self.seen.get(&candidate).copied() {
            self.seen.insert(candidate.clone(), n + 1);
            candidate = format!("{base}-{}", n + 1);
        }
        self.seen.insert(candidate.clone(), 0);
        candidate
    }
}

pub fn slugify(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Cuts a long section at blank lines (never inside a fenced block), packing paragraphs up
/// to `max` characters; a single longer paragraph is cut at whitespace.
fn split_long(content: &str, max: usize) -> Vec<String> {
    if content.chars().count() <= max {
        return vec![content.to_owned()];
    }
    let mut blocks: Vec<String> = Vec::new();
    let mut block = String::new();
    let mut in_fence = false;
    for line in content.lines() {
        if fence_marker(line.trim_start()).is_some() {
            in_fence = !in_fence;
        }
        if line.trim().is_empty() && !in_fence {
            if !block.trim().is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
            continue;
        }
        block.push_str(line);
        block.push('\n');
    }
    if !block.trim().is_empty() {
        blocks.push(block);
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for b in blocks {
        for piece in cut_at_whitespace(b.trim_end(), max) {
            if !cur.is_empty() && cur.chars().count() + piece.chars().count() + 2 > max {
                out.push(std::mem::take(&mut cur).trim().to_owned());
            }
            if !cur.is_empty() {
                cur.push_str("\n\n");
            }
            cur.push_str(&piece);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

fn cut_at_whitespace(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..limit]
            .rfind(char::is_whitespace)
            .filter(|i| *i > limit / 2)
            .unwrap_or(limit);
        out.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "---\ntitle: Balance\nslug: /05-humanoid/balance\nchapter_id: 05\npage_number: 17\n---\n\nimport Tabs from '@theme/Tabs';\n\nIntro text.\n\n# Lesson 5.1: Balance\n\n## Center of **Mass**\n\nThe CoM is the average.\n\n```python\n# not a heading\nx = 1\n```\n\n### Cases {#cases-list}\n\nOne foot.\n\n## Center of Mass\n\nAgain.\n";

    #[test]
    fn front_matter_headings_and_anchors() {
        let page = parse("05/balance.mdx", PAGE.as_bytes()).expect("parses");
        assert_eq!(page.slug, "/05-humanoid/balance");
        assert_eq!(page.title, "Balance");
        assert_eq!(page.chapter_number, Some(5));
        assert_eq!(page.page_number, Some(17));
        let anchors: Vec<_> = page.chunks.iter().map(|c| c.anchor.as_str()).collect();
        assert_eq!(
            anchors,
            ["", "center-of-mass", "cases-list", "center-of-mass-1"]
        );
        assert_eq!(page.chunks[0].content, "Intro text.");
        assert_eq!(page.chunks[0].heading, "Balance");
        assert!(page.chunks[1].content.contains("# not a heading"));
        assert_eq!(
            page.chunks[2].heading_path,
            "Lesson 5.1: Balance › Center of Mass › Cases"
        );
    }

    #[test]
    fn slugs_follow_front_matter_or_path() {
        assert_eq!(slug_for("a/b.md", None), "/a/b");
        assert_eq!(slug_for("a/index.md", None), "/a");
        assert_eq!(slug_for("README.md", None), "/");
        assert_eq!(slug_for("a/b.md", Some("c")), "/a/c");
        assert_eq!(slug_for("a/b.md", Some("/x/y/")), "/x/y");
    }

    #[test]
    fn anchors_match_github_slugger() {
        assert_eq!(
            slugify("1.1.1 What Is Embodied Intelligence?"),
            "111-what-is-embodied-intelligence"
        );
        assert_eq!(
            slugify("Newton’s Second Law (Advanced)"),
            "newtons-second-law-advanced"
        );
        assert_eq!(strip_inline("**Q1:** True or `False`"), "Q1: True or False");
        assert_eq!(
            strip_inline("See [ROS 2](https://ros.org) docs"),
            "See ROS 2 docs"
        );
        assert_eq!(strip_inline("snake_case name"), "snake_case name");
    }

    #[test]
    fn a_heading_without_letters_does_not_take_the_pages_own_anchor() {
        let page = parse("a.md", b"intro\n## !\nbang\n## ?\nquery\n").unwrap();
        let anchors: Vec<_> = page.chunks.iter().map(|c| c.anchor.as_str()).collect();
        assert_eq!(anchors, ["", "-1", "-2"]);
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert_eq!(
            parse("a.md", b"---\ntitle: x\n"),
            Err(PageError::UnclosedFrontMatter)
        );
        assert!(matches!(
            parse("a.md", b"---\ntitle: [x\n---\nbody"),
            Err(PageError::BadFrontMatter(_))
        ));
        assert_eq!(parse("a.md", &[0xff, 0xfe, 0x00]), Err(PageError::NotText));
        assert_eq!(
            parse("a.md", b"---\ntitle: {a: 1}\n---\n"),
            Err(PageError::BadField("title"))
        );
        let huge = vec![b'a'; MAX_FILE_BYTES as usize + 1];
        assert_eq!(parse("a.md", &huge), Err(PageError::TooLarge));
    }

    #[test]
    fn long_sections_are_cut_at_paragraphs_within_the_bound() {
        let para = "word ".repeat(100);
        let body = format!("## Long\n\n{}", [para.trim(); 8].join("\n\n"));
        let page = parse("l.md", body.as_bytes()).expect("parses");
        assert!(page.chunks.len() >= 3, "{}", page.chunks.len());
        for c in &page.chunks {
            assert!(c.content.chars().count() <= MAX_CHUNK_CHARS);
            assert_eq!(c.anchor, "long");
        }
        let one = "x".repeat(MAX_CHUNK_CHARS * 2 + 10);
        assert!(
            split_long(&one, MAX_CHUNK_CHARS)
                .iter()
                .all(|c| c.chars().count() <= MAX_CHUNK_CHARS)
        );
    }
}
