//! Stream filters the reader needs for cross-reference and object streams:
//! none, or FlateDecode with the PNG predictors (ISO 32000-1 §7.4.4).

use std::io::Read;

use super::object::{Dict, Object};

/// The largest decoded stream accepted (a decompression-bomb bound).
const MAX_DECODED: u64 = 256 << 20;

/// Decodes `raw` by the dictionary's `/Filter` and `/DecodeParms`.
pub(crate) fn decode_stream(dict: &Dict, raw: Vec<u8>) -> Result<Vec<u8>, String> {
    let filters: Vec<&[u8]> = match dict.get("Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.as_slice()],
        Some(Object::Array(a)) => a
            .iter()
            .map(|f| match f {
                Object::Name(n) => Ok(n.as_slice()),
                _ => Err("a stream /Filter entry is not a name".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("a stream /Filter is not a name".into()),
    };
    let params: Vec<Option<&Dict>> = match dict.get("DecodeParms") {
        Some(Object::Dict(d)) => vec![Some(d)],
        Some(Object::Array(a)) => a.iter().map(Object::as_dict).collect(),
        _ => Vec::new(),
    };
    let mut data = raw;
    for (i, filter) in filters.iter().enumerate() {
        match *filter {
            b"FlateDecode" | b"Fl" => {
                data = inflate(&data)?;
                if let Some(Some(p)) = params.get(i) {
                    data = unpredict(&data, p)?;
                }
            }
            other => {
                return Err(format!(
                    "the stream filter /{} is not supported here",
                    String::from_utf8_lossy(other)
                ));
            }
        }
    }
    Ok(data)
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_DECODED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("a FlateDecode stream does not inflate: {e}"))?;
    if out.len() as u64 > MAX_DECODED {
        return Err("a stream inflates to more than 256 MiB".into());
    }
    Ok(out)
}

/// Undoes a PNG predictor (10–15); predictor 1 is none.
fn unpredict(data: &[u8], params: &Dict) -> Result<Vec<u8>, String> {
    let predictor = params.int("Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data.to_vec());
    }
    if !(10..=15).contains(&predictor) {
        return Err(format!("predictor {predictor} is not supported"));
    }
    let columns =
        usize::try_from(params.int("Columns").unwrap_or(1)).map_err(|_| "bad /Columns")?;
    let colors = usize::try_from(params.int("Colors").unwrap_or(1)).map_err(|_| "bad /Colors")?;
    let bits =
        usize::try_from(params.int("BitsPerComponent").unwrap_or(8)).map_err(|_| "bad bits")?;
    let bpp = (colors * bits).div_ceil(8).max(1);
    let row = (columns * colors * bits).div_ceil(8);
    if row == 0 || row > 1 << 20 {
        return Err("bad predictor row size".into());
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (&kind, bytes) = chunk.split_first().ok_or("an empty predictor row")?;
        if bytes.len() != row {
            return Err("a truncated predictor row".into());
        }
        let mut cur = bytes.to_vec();
        for i in 0..row {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(format!("PNG filter type {kind} is unknown")),
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn flate_with_the_png_up_predictor() {
        // Two rows of 3 columns, filter type 2 (up).
        let encoded = [2u8, 1, 2, 3, 2, 1, 1, 1];
        let mut d = Dict::default();
        d.set("Filter", Object::name("FlateDecode"));
        let mut p = Dict::default();
        p.set("Predictor", Object::Int(12));
        p.set("Columns", Object::Int(3));
        d.set("DecodeParms", Object::Dict(p));
        assert_eq!(
            decode_stream(&d, deflate(&encoded)).unwrap(),
            [1, 2, 3, 2, 3, 4]
        );
    }

    #[test]
    fn unknown_filters_and_bad_data_are_errors() {
        let mut d = Dict::default();
        d.set("Filter", Object::name("LZWDecode"));
        assert!(
            decode_stream(&d, vec![1])
                .unwrap_err()
                .contains("LZWDecode")
        );
        d.set("Filter", Object::name("FlateDecode"));
        assert!(decode_stream(&d, b"not zlib".to_vec()).is_err());
    }
}
