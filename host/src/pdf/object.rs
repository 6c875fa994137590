//! PDF objects (ISO 32000-1 §7.3) as far as a signer and a verifier need
//! them, and their serialisation.

use std::fmt::Write as _;

/// An object number and generation: `N G R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    /// The object number.
    pub num: u32,
    /// The generation number.
    pub gen_: u16,
}

impl ObjRef {
    /// `num gen R`.
    pub fn new(num: u32, gen_: u16) -> Self {
        Self { num, gen_ }
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} R", self.num, self.gen_)
    }
}

/// A dictionary: keys (names without the slash) in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    /// The value of `/key`.
    pub fn get(&self, key: &str) -> Option<&Object> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Sets `/key` (replacing, or appending a new key).
    pub fn set(&mut self, key: &str, value: Object) {
        match self.0.iter_mut().find(|(k, _)| k == key.as_bytes()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.as_bytes().to_vec(), value)),
        }
    }

    /// Removes `/key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key.as_bytes());
    }

    /// `/key` when it is a name.
    pub fn name(&self, key: &str) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// Whether `/key` is the name `value`.
    pub fn is(&self, key: &str, value: &str) -> bool {
        self.name(key) == Some(value.as_bytes())
    }

    /// `/key` when it is an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Object::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// `/key` when it is a reference.
    pub fn reference(&self, key: &str) -> Option<ObjRef> {
        match self.get(key) {
            Some(Object::Ref(r)) => Some(*r),
            _ => None,
        }
    }

    /// The dictionary without the keys in `ignore` (for comparisons).
    pub fn without(&self, ignore: &[&str]) -> Dict {
        Dict(
            self.0
                .iter()
                .filter(|(k, _)| !ignore.iter().any(|i| i.as_bytes() == k.as_slice()))
                .cloned()
                .collect(),
        )
    }
}

/// A PDF object. Streams keep their dictionary and where their data is.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number, as written (so that it is written back unchanged).
    Real(String),
    /// A name, without the slash, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A string (literal or hexadecimal), decoded.
    Str(Vec<u8>),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dict(Dict),
    /// An indirect reference.
    Ref(ObjRef),
    /// A stream: its dictionary and its data.
    Stream(Dict, Vec<u8>),
}

impl Object {
    /// A name object.
    pub fn name(n: &str) -> Self {
        Self::Name(n.as_bytes().to_vec())
    }

    /// A text string: PDFDocEncoding-compatible ASCII as is, anything else
    /// UTF-16BE with a byte order mark (ISO 32000-1 §7.9.2.2).
    pub fn text(s: &str) -> Self {
        if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            Self::Str(s.as_bytes().to_vec())
        } else {
            let mut bytes = vec![0xFE, 0xFF];
            for unit in s.encode_utf16() {
                bytes.extend_from_slice(&unit.to_be_bytes());
            }
            Self::Str(bytes)
        }
    }

    /// The dictionary of a dictionary or a stream.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Self::Dict(d) | Self::Stream(d, _) => Some(d),
            _ => None,
        }
    }

    /// An array's elements.
    pub fn as_array(&self) -> Option<&[Object]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An integer's value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A number (integer or real) as `f64`.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Real(r) => r.parse().ok(),
            _ => None,
        }
    }

    /// Appends the PDF syntax of this object to `out`. Streams write their
    /// dictionary with `/Length` set and their data.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Self::Real(r) => out.extend_from_slice(r.as_bytes()),
            Self::Name(n) => write_name(n, out),
            Self::Str(s) => write_string(s, out),
            Self::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Self::Dict(d) => write_dict(d, out),
            Self::Ref(r) => out.extend_from_slice(r.to_string().as_bytes()),
            Self::Stream(d, data) => {
                let mut d = d.clone();
                d.set("Length", Object::Int(data.len() as i64));
                write_dict(&d, out);
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(data);
                out.extend_from_slice(b"\nendstream");
            }
        }
    }

    /// The PDF syntax of this object.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (k, v) in &d.0 {
        write_name(k, out);
        out.push(b' ');
        v.write(out);
    }
    out.extend_from_slice(b">>");
}

fn write_name(n: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in n {
        if b.is_ascii_alphanumeric() || b"-_.+*,:;".contains(&b) {
            out.push(b);
        } else {
            let _ = write!(HexSink(out), "#{b:02X}");
        }
    }
}

/// Strings are written hexadecimal: no escaping to get wrong.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(hex::encode_upper(s).as_bytes());
    out.push(b'>');
}

struct HexSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A PDF date (ISO 32000-1 §7.9.4) in UTC: `D:YYYYMMDDHHmmSS+00'00'`.
pub fn pdf_date(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("D:{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}+00'00'")
}

/// Seconds since the epoch to a UTC civil date and time.
pub(crate) fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_serialise_as_pdf_syntax() {
        let mut d = Dict::default();
        d.set("Type", Object::name("Sig"));
        d.set(
            "A b",
            Object::Array(vec![Object::Int(-3), Object::Real("0.5".into())]),
        );
        d.set("R", Object::Ref(ObjRef::new(12, 0)));
        d.set("S", Object::Str(b"(x)".to_vec()));
        assert_eq!(
            Object::Dict(d).to_bytes(),
            b"<</Type /Sig/A#20b [-3 0.5]/R 12 0 R/S <287829>>>".to_vec()
        );
    }

    #[test]
    fn text_strings_are_ascii_or_utf16_with_a_bom() {
        assert_eq!(Object::text("Baku"), Object::Str(b"Baku".to_vec()));
        assert_eq!(
            Object::text("Bakı"),
            Object::Str(vec![0xFE, 0xFF, 0, b'B', 0, b'a', 0, b'k', 0x01, 0x31])
        );
    }

    #[test]
    fn pdf_dates_are_utc() {
        // 2026-12-07T19:12:32Z
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_670_752);
        assert_eq!(pdf_date(t), "D:20261207191232+00'00'");
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        // A leap day.
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
