//! Splitting the summary stream back into its JSON lines: the chunks the browser hands over
//! follow the network, not the lines (a line may be split across chunks, or a chunk hold
//! several). Pure, so it is tested here.

#[derive(Debug, Default)]
pub struct Lines {
    buf: String,
}

impl Lines {
    /// Adds a chunk and returns the lines it completed (without their `\n`; blank ones dropped).
    pub fn push(&mut self, chunk: &str) -> Vec<String> {
        self.buf.push_str(chunk);
        let Some(end) = self.buf.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.buf.split_off(end + 1);
        let done = std::mem::replace(&mut self.buf, rest);
        done.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut l = Lines::default();
        assert!(l.push(r#"{"token":{"te"#).is_empty());
        assert_eq!(
            l.push("xt\":\"a\"}}\n{\"done\"\n"),
            [r#"{"token":{"text":"a"}}"#, r#"{"done""#]
        );
        assert!(l.push("\n").is_empty());
        assert_eq!(l.push("x\ny"), ["x"]);
        assert_eq!(l.push("\n"), ["y"]);
    }
}
