//! Readers for what the labels print: a PNG decoder to grey pixels, a strict Code 128 scanline
//! decoder written from the symbology's table (independent of the encoder the crate uses), and
//! the QR reader.

/// A decoded grey image.
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    /// Pixels per metre from the pHYs chunk.
    pub per_metre: Option<u32>,
}

impl Grey {
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }
}

pub fn decode_png(bytes: &[u8]) -> Grey {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let per_metre = reader.info().pixel_dims.map(|d| {
        assert_eq!(d.xppu, d.yppu);
        d.xppu
    });
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let frame = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    buf.truncate(frame.buffer_size());
    Grey {
        width: frame.width as usize,
        height: frame.height as usize,
        pixels: buf,
        per_metre,
    }
}

/// Every QR code found in the image, decoded.
pub fn read_qr(image: &Grey) -> Vec<String> {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(image.width, image.height, |x, y| {
            image.at(x, y)
        });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, content)| content))
        .collect()
}

/// Code 128 bar/space widths for values 0 to 105 (ISO/IEC 15417, table 1); 106 is STOP.
const PATTERNS: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];
const START_B: usize = 104;
const STOP: usize = 106;

/// Run lengths of one scanline: (dark?, length), thresholded at mid-grey.
fn runs(row: &[u8]) -> Vec<(bool, usize)> {
    let mut out: Vec<(bool, usize)> = Vec::new();
    for &p in row {
        let dark = p < 128;
        match out.last_mut() {
            Some((d, n)) if *d == dark => *n += 1,
            _ => out.push((dark, 1)),
        }
    }
    out
}

/// Decodes a set-B Code 128 symbol from scanline `y`. Strict: every bar and space must be a whole
/// multiple of the module width measured on the start character (what whole-pixel modules
/// promise), the quiet zones at least ten modules, and the mod-103 checksum right.
pub fn read_code128(image: &Grey, y: usize) -> Result<String, String> {
    let row = &image.pixels[y * image.width..(y + 1) * image.width];
    let runs = runs(row);
    let first_bar = runs.iter().position(|(d, _)| *d).ok_or("no bars")?;
    let quiet_left = if first_bar == 0 { 0 } else { runs[0].1 };
    let start: usize = runs[first_bar..first_bar + 6].iter().map(|r| r.1).sum();
    if !start.is_multiple_of(11) {
        return Err(format!(
            "start character is {start} px, not a multiple of 11"
        ));
    }
    let module = start / 11;
    if quiet_left < 10 * module {
        return Err(format!(
            "left quiet zone {quiet_left} px < 10 modules of {module} px"
        ));
    }
    let mut values = Vec::new();
    let mut i = first_bar;
    loop {
        let width = 6;
        let mut pattern = String::new();
        for r in runs.get(i..i + width).ok_or("symbol ends early")? {
            if !r.1.is_multiple_of(module) {
                return Err(format!(
                    "a run of {} px is not whole modules of {module} px",
                    r.1
                ));
            }
            pattern.push(char::from(b'0' + (r.1 / module) as u8));
        }
        let stop_pattern = runs.get(i..i + 7).map(|rs| {
            rs.iter()
                .map(|r| char::from(b'0' + (r.1 / module) as u8))
                .collect::<String>()
        });
        if stop_pattern.as_deref() == Some(PATTERNS[STOP]) {
            let quiet_right = runs.get(i + 7).map_or(0, |r| r.1);
            if quiet_right < 10 * module {
                return Err(format!("right quiet zone {quiet_right} px < 10 modules"));
            }
            break;
        }
        let value = PATTERNS[..STOP]
            .iter()
            .position(|p| *p == pattern)
            .ok_or(format!("unknown pattern {pattern}"))?;
        values.push(value);
        i += width;
    }
    if values.first() != Some(&START_B) {
        return Err(format!("starts with {:?}, not START B", values.first()));
    }
    let check = values.pop().ok_or("no check character")?;
    let sum: usize = values.iter().enumerate().map(|(k, v)| v * k.max(1)).sum();
    if sum % 103 != check {
        return Err(format!("checksum {} != {check}", sum % 103));
    }
    Ok(values[1..]
        .iter()
        .map(|v| char::from((v + 32) as u8))
        .collect())
}
