//! Rewrites parts of `BENCHMARKS.md` in place. Generated text lives between
//! HTML comment markers on lines of their own (`<!-- NAME:begin -->` …
//! `<!-- NAME:end -->`); a rewrite replaces only what lies between the
//! markers of one block, so every other line of the file (sections written
//! by hand or by other tools) is kept byte for byte.

/// A block of generated text: its marker lines.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The block's name: markers are `<!-- {name}:begin -->` and `…:end -->`.
    pub name: &'a str,
}

impl Block<'_> {
    /// The opening marker line.
    pub fn begin(&self) -> String {
        format!("<!-- {}:begin -->", self.name)
    }

    /// The closing marker line.
    pub fn end(&self) -> String {
        format!("<!-- {}:end -->", self.name)
    }

    /// The block with `body` between its markers, ending in a newline.
    pub fn wrap(&self, body: &str) -> String {
        format!("{}\n{}\n{}\n", self.begin(), body.trim_end(), self.end())
    }

    /// Byte range of the whole block (markers included, up to and including
    /// the newline after the end marker) if both markers are present in order.
    fn find(&self, doc: &str) -> Option<std::ops::Range<usize>> {
        let (b, e) = (self.begin(), self.end());
        let start = line_start(doc, &b)?;
        let end_at = start + line_start(&doc[start..], &e)?;
        let mut stop = end_at + e.len();
        if doc[stop..].starts_with('\n') {
            stop += 1;
        }
        Some(start..stop)
    }

    /// Whether `doc` holds this block.
    pub fn is_in(&self, doc: &str) -> bool {
        self.find(doc).is_some()
    }

    /// Replaces the block's body if present; `None` if it is not.
    pub fn replace(&self, doc: &str, body: &str) -> Option<String> {
        let r = self.find(doc)?;
        Some(format!(
            "{}{}{}",
            &doc[..r.start],
            self.wrap(body),
            &doc[r.end..]
        ))
    }

    /// Replaces the block, or inserts it at the top of `doc`. A leading H1
    /// title line is dropped on insertion, since the block brings its own.
    pub fn upsert_top(&self, doc: &str, body: &str) -> String {
        if let Some(d) = self.replace(doc, body) {
            return d;
        }
        let rest = match doc.strip_prefix("# ") {
            Some(r) => r.split_once('\n').map_or("", |(_, after)| after),
            None => doc,
        };
        format!("{}\n{}", self.wrap(body), rest.trim_start_matches('\n'))
    }

    /// Replaces the block, or inserts `prefix` plus the block before the line
    /// `anchor` (appends at the end if there is no such line).
    pub fn upsert_before(
        &self,
        doc: &str,
        body: &str,
        prefix: &str,
        anchor: Option<&str>,
    ) -> String {
        if let Some(d) = self.replace(doc, body) {
            return d;
        }
        let insert = format!("{prefix}{}\n", self.wrap(body));
        match anchor.and_then(|a| line_start(doc, a)) {
            Some(i) => format!("{}{insert}{}", &doc[..i], &doc[i..]),
            None => {
                let mut d = doc.to_string();
                if !d.is_empty() && !d.ends_with("\n\n") {
                    d.push_str(if d.ends_with('\n') { "\n" } else { "\n\n" });
                }
                d + &insert
            }
        }
    }
}

/// Byte offset of the first line of `doc` that equals `line` (trailing
/// spaces ignored).
fn line_start(doc: &str, line: &str) -> Option<usize> {
    let mut at = 0;
    for l in doc.split_inclusive('\n') {
        if l.trim_end() == line {
            return Some(at);
        }
        at += l.len();
    }
    None
}

/// Whether `doc` has a line that equals `heading` (e.g. `## Scheduler`).
pub fn has_heading(doc: &str, heading: &str) -> bool {
    line_start(doc, heading).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Block<'static> = Block { name: "suite" };

    #[test]
    fn replaces_only_the_block() {
        let doc = "# T\n\nhand\n<!-- suite:begin -->\nold\n<!-- suite:end -->\ntail\n";
        let d = B.replace(doc, "new\n").unwrap();
        assert_eq!(
            d,
            "# T\n\nhand\n<!-- suite:begin -->\nnew\n<!-- suite:end -->\ntail\n"
        );
        assert_eq!(B.replace("no markers", "x"), None);
    }

    #[test]
    fn inserts_at_top_dropping_title() {
        let h = Block { name: "h" };
        let d = h.upsert_top("# Old title\n\n## Other\nkeep\n", "# New");
        assert_eq!(
            d,
            "<!-- h:begin -->\n# New\n<!-- h:end -->\n\n## Other\nkeep\n"
        );
        // Second time: replaced in place, nothing else moves.
        assert_eq!(h.upsert_top(&d, "# New"), d);
    }

    #[test]
    fn inserts_before_anchor_or_appends() {
        let m = Block { name: "m" };
        let doc = "top\n<!-- suite:begin -->\nx\n<!-- suite:end -->\n";
        let d = m.upsert_before(doc, "out", "## M\n\n", Some(&B.begin()));
        assert_eq!(
            d,
            "top\n## M\n\n<!-- m:begin -->\nout\n<!-- m:end -->\n\n<!-- suite:begin -->\nx\n<!-- suite:end -->\n"
        );
        let d = m.upsert_before("top", "out", "", None);
        assert_eq!(d, "top\n\n<!-- m:begin -->\nout\n<!-- m:end -->\n\n");
        assert!(has_heading("a\n## M\nb", "## M"));
    }
}
