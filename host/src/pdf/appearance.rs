//! The appearance of a visible signature: a form XObject with a frame and
//! two lines of text (who signed, when) in Helvetica.

use std::time::SystemTime;

use super::object::{Dict, Object, civil};

/// Where a visible signature goes: page (from 1) and its rectangle in
/// default user space units (1/72 inch, origin bottom left).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// The page, from 1.
    pub page: usize,
    /// Left edge.
    pub x: f64,
    /// Bottom edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl std::str::FromStr for Placement {
    type Err = String;

    /// `PAGE,X,Y,W,H`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [page, x, y, w, h] = parts.as_slice() else {
            return Err(format!("`{s}` is not PAGE,X,Y,W,H (five numbers)"));
        };
        let page: usize = page
            .parse()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(|| format!("`{page}` is not a page number (from 1)"))?;
        let num = |v: &str, what: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && (0.0..=14_400.0).contains(n))
                .ok_or_else(|| format!("{what} `{v}` is not a number from 0 to 14400"))
        };
        let p = Self {
            page,
            x: num(x, "X")?,
            y: num(y, "Y")?,
            width: num(w, "W")?,
            height: num(h, "H")?,
        };
        if p.width < 20.0 || p.height < 10.0 {
            return Err("a visible signature needs at least 20 × 10 points".into());
        }
        Ok(p)
    }
}

/// A number for a content stream: at most two decimals.
pub(crate) fn num(n: f64) -> String {
    let s = format!("{n:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `text` in WinAnsiEncoding for Helvetica: Latin-1 letters as they are,
/// the Azerbaijani letters outside it by their base letter, anything else
/// `?`; `(`, `)` and `\` escaped.
fn win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        let c = match c {
            'ə' => 'e',
            'Ə' => 'E',
            'ı' => 'i',
            'İ' => 'I',
            'ş' => 's',
            'Ş' => 'S',
            'ğ' => 'g',
            'Ğ' => 'G',
            c => c,
        };
        let b = match u32::from(c) {
            0x20..=0x7E | 0xA0..=0xFF => u32::from(c) as u8,
            _ => b'?',
        };
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The appearance stream of a `width` × `height` signature by `signer`
/// at `time`.
pub(crate) fn appearance(signer: &str, time: SystemTime, width: f64, height: f64) -> Object {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, _) = civil(secs);
    let lines = [
        format!("Signed by {signer}"),
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC (Asan Imza)"),
    ];
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
    // Helvetica averages about 0.55 em per character.
    let size = (height / 3.0)
        .min((width - 8.0) / (longest * 0.55))
        .clamp(2.0, 12.0);
    let mut content = Vec::new();
    content.extend_from_slice(
        format!(
            "q 0.96 0.97 1 rg 0 0 {w} {h} re f 0.2 0.3 0.6 RG 1 w 0.5 0.5 {w1} {h1} re S Q\n\
             BT /F1 {s} Tf 0.1 0.1 0.2 rg {x} {y1} Td ",
            w = num(width),
            h = num(height),
            w1 = num(width - 1.0),
            h1 = num(height - 1.0),
            s = num(size),
            x = num(4.0),
            y1 = num(height / 2.0 + size * 0.3),
        )
        .as_bytes(),
    );
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            content.extend_from_slice(format!("0 {} Td ", num(-size * 1.3)).as_bytes());
        }
        content.push(b'(');
        content.extend_from_slice(&win_ansi(line));
        content.extend_from_slice(b") Tj ");
    }
    content.extend_from_slice(b"ET\n");

    let mut font = Dict::default();
    font.set("Type", Object::name("Font"));
    font.set("Subtype", Object::name("Type1"));
    font.set("BaseFont", Object::name("Helvetica"));
    font.set("Encoding", Object::name("WinAnsiEncoding"));
    let mut fonts = Dict::default();
    fonts.set("F1", Object::Dict(font));
    let mut resources = Dict::default();
    resources.set("Font", Object::Dict(fonts));
    let mut d = Dict::default();
    d.set("Type", Object::name("XObject"));
    d.set("Subtype", Object::name("Form"));
    d.set(
        "BBox",
        Object::Array(vec![
            Object::Int(0),
            Object::Int(0),
            Object::Real(num(width)),
            Object::Real(num(height)),
        ]),
    );
    d.set("Resources", Object::Dict(resources));
    Object::Stream(d, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse_and_bad_ones_say_why() {
        let p: Placement = "2, 36,700.5,200,50".parse().unwrap();
        assert_eq!(
            (p.page, p.x, p.y, p.width, p.height),
            (2, 36.0, 700.5, 200.0, 50.0)
        );
        for bad in [
            "1,2,3,4",
            "0,1,1,100,50",
            "1,a,1,100,50",
            "1,1,1,5,5",
            "1,-1,1,100,50",
        ] {
            assert!(bad.parse::<Placement>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_written_in_win_ansi_with_escapes() {
        assert_eq!(win_ansi("Həsənova (Şəki)"), b"Hesenova \\(Seki\\)".to_vec());
        assert_eq!(win_ansi("Gülər Ağayeva"), b"G\xFCler Agayeva".to_vec());
        assert_eq!(win_ansi("日"), b"?".to_vec());
    }

    #[test]
    fn the_appearance_is_a_form_xobject_with_both_lines() {
        let Object::Stream(d, content) = appearance("Leyla", std::time::UNIX_EPOCH, 200.0, 50.0)
        else {
            panic!("not a stream");
        };
        assert!(d.is("Subtype", "Form"));
        let text = String::from_utf8(content).unwrap();
        assert!(text.contains("(Signed by Leyla) Tj"), "{text}");
        assert!(
            text.contains("(1970-01-01 00:00 UTC (Asan Imza)")
                || text.contains("1970-01-01 00:00 UTC \\(Asan Imza\\)"),
            "{text}"
        );
    }
}
