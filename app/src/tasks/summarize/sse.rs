//! A small incremental parser for server-sent events, fed with whatever chunks `fetch`'s
//! stream reader hands over (an event may be split across chunks). Pure, so it is tested here.

/// One complete event: its `event:` name (`message` when absent) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Parser {
    buf: String,
}

impl Parser {
    /// Adds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<Event> {
        self.buf.push_str(&chunk.replace("\r\n", "\n"));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            if let Some(ev) = parse_block(&block) {
                out.push(ev);
            }
        }
        out
    }
}

fn parse_block(block: &str) -> Option<Event> {
    let mut name = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() && name.is_none() {
        return None;
    }
    Some(Event {
        name: name.unwrap_or_else(|| "message".into()),
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut p = Parser::default();
        assert!(p.push("event: token\ndata: {\"te").is_empty());
        let evs = p.push("xt\":\"a\"}\n\nevent: done\r\ndata: {}\r\n\r\n: keep-alive\n\n");
        assert_eq!(
            evs,
            [
                Event {
                    name: "token".into(),
                    data: "{\"text\":\"a\"}".into()
                },
                Event {
                    name: "done".into(),
                    data: "{}".into()
                },
            ]
        );
    }

    #[test]
    fn multi_line_data_and_default_name() {
        let mut p = Parser::default();
        let evs = p.push("data: a\ndata: b\n\n");
        assert_eq!(evs[0].name, "message");
        assert_eq!(evs[0].data, "a\nb");
    }
}
