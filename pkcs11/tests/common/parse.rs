//! Reading what pkcs11-tool prints: blocks of `key: value` lines under a
//! heading, and slot numbers.

/// One block of `pkcs11-tool -L` or `-O` output: its first line and its
/// `name: value` lines.
#[derive(Debug)]
pub struct Block {
    /// The unindented first line (`Slot 0 (0x0): …`, `Certificate Object; …`).
    pub head: String,
    /// The indented `name: value` lines, names and values trimmed.
    pub fields: Vec<(String, String)>,
}

impl Block {
    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits pkcs11-tool output into blocks at unindented lines.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            out.push(Block {
                head: line.to_owned(),
                fields: Vec::new(),
            });
        } else if let (Some(block), Some((name, value))) = (out.last_mut(), line.split_once(':')) {
            block
                .fields
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

/// The slot id of a `Slot 3 (0x3): …` line.
pub fn slot_id(head: &str) -> Option<u64> {
    let hex = head.split_once("(0x")?.1.split_once(')')?.0;
    u64::from_str_radix(hex, 16).ok()
}
