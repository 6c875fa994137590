//! The PDF lexer and object parser (ISO 32000-1 §7.2, §7.3) over a byte
//! buffer. Running out of buffer is told apart from bad syntax, so that a
//! reader can fetch more of the file and try again.

use super::object::{Dict, ObjRef, Object};

/// Deepest nesting of arrays and dictionaries accepted.
const MAX_DEPTH: usize = 64;

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The buffer ended inside the object.
    Eof,
    /// Bad syntax: what and where (offset in the buffer).
    Bad(String),
}

pub(crate) type Parsed<T> = std::result::Result<T, ParseError>;

fn bad<T>(what: &str, pos: usize) -> Parsed<T> {
    Err(ParseError::Bad(format!("{what} at byte {pos}")))
}

/// PDF white-space characters.
pub(crate) fn is_white(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delimiter(b: u8) -> bool {
    b"()<>[]{}/%".contains(&b)
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delimiter(b)
}

/// A cursor over a buffer.
pub(crate) struct Parser<'a> {
    buf: &'a [u8],
    /// The position in the buffer.
    pub pos: usize,
}

impl<'a> Parser<'a> {
    /// A parser at `pos` in `buf`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    fn peek(&self) -> Parsed<u8> {
        self.buf.get(self.pos).copied().ok_or(ParseError::Eof)
    }

    /// Skips white space and comments.
    pub fn skip_white(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.buf.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next run of regular characters (a keyword or a number).
    pub fn token(&mut self) -> Parsed<&'a [u8]> {
        self.skip_white();
        let start = self.pos;
        while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            return Err(ParseError::Eof);
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Expects the keyword `word`.
    pub fn keyword(&mut self, word: &str) -> Parsed<()> {
        let at = self.pos;
        match self.token()? {
            t if t == word.as_bytes() => Ok(()),
            t => bad(
                &format!(
                    "expected `{word}`, found `{}`",
                    String::from_utf8_lossy(&t[..t.len().min(20)])
                ),
                at,
            ),
        }
    }

    /// A non-negative integer token.
    pub fn unsigned(&mut self) -> Parsed<u64> {
        let at = self.pos;
        let t = self.token()?;
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) || t.len() > 18 {
            return bad("expected a non-negative integer", at);
        }
        Ok(t.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
    }

    /// The next object (references `N G R` included).
    pub fn object(&mut self) -> Parsed<Object> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Parsed<Object> {
        if depth > MAX_DEPTH {
            return bad("objects nested too deeply", self.pos);
        }
        self.skip_white();
        let at = self.pos;
        match self.peek()? {
            b'/' => {
                self.pos += 1;
                Ok(Object::Name(self.name_body()?))
            }
            b'(' => Ok(Object::Str(self.literal_string()?)),
            b'<' => {
                if self.buf.get(self.pos + 1) == Some(&b'<') {
                    Ok(Object::Dict(self.dict_at_depth(depth)?))
                } else if self.pos + 1 >= self.buf.len() {
                    Err(ParseError::Eof)
                } else {
                    Ok(Object::Str(self.hex_string()?))
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_white();
                    if self.peek()? == b']' {
                        self.pos += 1;
                        return Ok(Object::Array(items));
                    }
                    items.push(self.object_at_depth(depth + 1)?);
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number_or_ref(),
            _ => {
                let t = self.token()?;
                match t {
                    b"true" => Ok(Object::Bool(true)),
                    b"false" => Ok(Object::Bool(false)),
                    b"null" => Ok(Object::Null),
                    _ => bad(
                        &format!(
                            "unexpected `{}`",
                            String::from_utf8_lossy(&t[..t.len().clamp(1, 20).min(t.len())])
                        ),
                        at,
                    ),
                }
            }
        }
    }

    /// A dictionary `<< … >>`.
    pub fn dict(&mut self) -> Parsed<Dict> {
        self.skip_white();
        self.dict_at_depth(0)
    }

    fn dict_at_depth(&mut self, depth: usize) -> Parsed<Dict> {
        if self.buf.get(self.pos..self.pos + 2) != Some(b"<<") {
            return match self.buf.len() < self.pos + 2 {
                true => Err(ParseError::Eof),
                false => bad("expected a dictionary", self.pos),
            };
        }
        self.pos += 2;
        let mut d = Dict::default();
        loop {
            self.skip_white();
            match self.peek()? {
                b'>' => {
                    if self.buf.get(self.pos + 1) == Some(&b'>') {
                        self.pos += 2;
                        return Ok(d);
                    }
                    return match self.pos + 1 >= self.buf.len() {
                        true => Err(ParseError::Eof),
                        false => bad("expected `>>`", self.pos),
                    };
                }
                b'/' => {
                    self.pos += 1;
                    let key = self.name_body()?;
                    let value = self.object_at_depth(depth + 1)?;
                    // ISO 32000-1 §7.3.7: a null value is as if absent.
                    if value != Object::Null {
                        d.0.retain(|(k, _)| *k != key);
                        d.0.push((key, value));
                    }
                }
                _ => return bad("expected a name as dictionary key", self.pos),
            }
        }
    }

    fn name_body(&mut self) -> Parsed<Vec<u8>> {
        let mut name = Vec::new();
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_regular(b) {
                return Ok(name);
            }
            if b == b'#' {
                let hex = self
                    .buf
                    .get(self.pos + 1..self.pos + 3)
                    .ok_or(ParseError::Eof)?;
                match std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => name.push(v),
                    None => return bad("bad #xx escape in a name", self.pos),
                }
                self.pos += 3;
            } else {
                name.push(b);
                self.pos += 1;
            }
        }
        Err(ParseError::Eof)
    }

    fn literal_string(&mut self) -> Parsed<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 0usize;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' if depth == 0 => return Ok(out),
                b')' => {
                    depth -= 1;
                    out.push(b);
                }
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.buf.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek()? {
                                    d @ b'0'..=b'7' => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xFF) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'\r' => {
                    // An end of line in a string is a line feed (§7.3.4.2).
                    if self.buf.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> Parsed<Vec<u8>> {
        let at = self.pos;
        self.pos += 1;
        let mut digits = Vec::new();
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'>' => break,
                b if b.is_ascii_hexdigit() => digits.push(b),
                b if is_white(b) => {}
                _ => return bad("bad character in a hexadecimal string", at),
            }
        }
        if digits.len() % 2 == 1 {
            digits.push(b'0');
        }
        let mut out = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks(2) {
            let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(h(pair[0]) << 4 | h(pair[1]));
        }
        Ok(out)
    }

    fn number_or_ref(&mut self) -> Parsed<Object> {
        let at = self.pos;
        let t = self.token()?;
        let text = std::str::from_utf8(t)
            .map_err(|_| ParseError::Bad(format!("bad number at byte {at}")))?;
        if let Ok(i) = text.parse::<i64>() {
            // `N G R`?
            if i >= 0 && !text.starts_with('+') {
                let save = self.pos;
                if let Some(r) = self.reference_tail(i)? {
                    return Ok(Object::Ref(r));
                }
                self.pos = save;
            }
            return Ok(Object::Int(i));
        }
        let valid = {
            let body = text.trim_start_matches(['+', '-']);
            !body.is_empty()
                && body.bytes().filter(|&b| b == b'.').count() <= 1
                && body.bytes().all(|b| b == b'.' || b.is_ascii_digit())
                && !text[1..].contains(['+', '-'])
        };
        if !valid {
            return bad(&format!("bad number `{text}`"), at);
        }
        Ok(Object::Real(text.to_owned()))
    }

    /// After an integer `num`: ` G R` makes a reference.
    fn reference_tail(&mut self, num: i64) -> Parsed<Option<ObjRef>> {
        self.skip_white();
        let start = self.pos;
        while self.pos < self.buf.len() && self.buf[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            return Err(ParseError::Eof);
        }
        if self.pos == start || is_regular(self.buf[self.pos]) {
            return Ok(None);
        }
        let gen_text = &self.buf[start..self.pos];
        self.skip_white();
        match self.buf.get(self.pos) {
            None => return Err(ParseError::Eof),
            Some(b'R') => {}
            Some(_) => return Ok(None),
        }
        match self.buf.get(self.pos + 1) {
            None => return Err(ParseError::Eof),
            Some(&b) if is_regular(b) => return Ok(None),
            Some(_) => {}
        }
        self.pos += 1;
        let gen_: u16 = match std::str::from_utf8(gen_text)
            .ok()
            .and_then(|g| g.parse().ok())
        {
            Some(g) => g,
            None => return Ok(None),
        };
        let num =
            u32::try_from(num).map_err(|_| ParseError::Bad("object number too large".into()))?;
        Ok(Some(ObjRef::new(num, gen_)))
    }

    /// `N G obj`: the object's reference.
    pub fn object_header(&mut self) -> Parsed<ObjRef> {
        let at = self.pos;
        let num = self.unsigned()?;
        let gen_ = self.unsigned()?;
        self.keyword("obj")?;
        match (u32::try_from(num), u16::try_from(gen_)) {
            (Ok(n), Ok(g)) => Ok(ObjRef::new(n, g)),
            _ => bad("object number out of range", at),
        }
    }

    /// After an object's dictionary: whether a stream follows, and where
    /// its data starts (after `stream` and its end of line).
    pub fn stream_start(&mut self) -> Parsed<Option<usize>> {
        self.skip_white();
        if self.buf.len() < self.pos + 6 {
            return Err(ParseError::Eof);
        }
        if &self.buf[self.pos..self.pos + 6] != b"stream" {
            return Ok(None);
        }
        let mut p = self.pos + 6;
        match self.buf.get(p) {
            Some(b'\r') => {
                p += 1;
                if self.buf.get(p) == Some(&b'\n') {
                    p += 1;
                }
            }
            Some(b'\n') => p += 1,
            Some(_) => return bad("`stream` not followed by an end of line", self.pos),
            None => return Err(ParseError::Eof),
        }
        Ok(Some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed<Object> {
        Parser::new(text.as_bytes(), 0).object()
    }

    #[test]
    fn objects_of_every_kind() {
        let o = parse("<< /A [1 2 0 R -3.5 (a\\)b\\101) <4142 4> /N#20x true null] /B << >> >> ")
            .unwrap();
        let d = o.as_dict().unwrap();
        let a = d.get("A").unwrap().as_array().unwrap();
        assert_eq!(a[0], Object::Int(1));
        assert_eq!(a[1], Object::Ref(ObjRef::new(2, 0)));
        assert_eq!(a[2], Object::Real("-3.5".into()));
        assert_eq!(a[3], Object::Str(b"a)bA".to_vec()));
        assert_eq!(a[4], Object::Str(vec![0x41, 0x42, 0x40]));
        assert_eq!(a[5], Object::Name(b"N x".to_vec()));
        assert_eq!(a[6], Object::Bool(true));
        assert_eq!(a[7], Object::Null);
        assert_eq!(d.get("B"), Some(&Object::Dict(Dict::default())));
    }

    #[test]
    fn two_integers_are_not_a_reference() {
        let o = parse("[1 2 3 R 4 5]").unwrap();
        assert_eq!(
            o.as_array().unwrap(),
            &[
                Object::Int(1),
                Object::Ref(ObjRef::new(2, 3)),
                Object::Int(4),
                Object::Int(5)
            ]
        );
    }

    #[test]
    fn a_truncated_object_asks_for_more() {
        for text in ["<< /A [1 2", "(abc", "<< /A 1 0", "<4142", "12"] {
            assert_eq!(parse(text), Err(ParseError::Eof), "{text}");
        }
    }

    #[test]
    fn bad_syntax_is_an_error_not_a_panic() {
        for text in ["<< 1 2 >> ", "<4x> ", "1.2.3 ", ") ", "<< /A >x ", "/A#zz "] {
            assert!(matches!(parse(text), Err(ParseError::Bad(_))), "{text}");
        }
        let deep = "[".repeat(1000);
        assert!(matches!(parse(&deep), Err(ParseError::Bad(_))));
    }

    #[test]
    fn streams_start_after_the_end_of_line() {
        let text = b"7 0 obj << /Length 3 >>\r\nstream\r\nabc\nendstream";
        let mut p = Parser::new(text, 0);
        assert_eq!(p.object_header().unwrap(), ObjRef::new(7, 0));
        p.dict().unwrap();
        let start = p.stream_start().unwrap().unwrap();
        assert_eq!(&text[start..start + 3], b"abc");
    }
}
