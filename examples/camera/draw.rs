//! Annotated frames: the frame as RGB with each face's box, keypoints and
//! score, or the top class, drawn on it (8x8 bitmap font, scaled 2x).

use std::path::Path;

use anyhow::{Context, Result};
use ferrite::vision::{Detection, Frame, Preprocess};
use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

const BOX: Rgb<u8> = Rgb([0, 255, 64]);
const KEYPOINT: Rgb<u8> = Rgb([255, 48, 48]);
const TEXT: Rgb<u8> = Rgb([255, 255, 255]);
const TEXT_BG: Rgb<u8> = Rgb([0, 0, 0]);
/// Font scale: 8x8 glyphs drawn as 16x16.
const SCALE: i64 = 2;

/// The whole frame as an RGB image.
pub fn to_rgb(frame: &Frame<'_>) -> RgbImage {
    let (w, h) = (frame.width(), frame.height());
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let p = frame.rgb(x as usize, y as usize);
        Rgb(p.map(|v| (v + 0.5) as u8))
    })
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A hollow rectangle `thick` pixels wide, clipped to the image.
pub fn rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, thick: i64, c: Rgb<u8>) {
    for t in 0..thick {
        for x in x0..=x1 {
            put(img, x, y0 + t, c);
            put(img, x, y1 - t, c);
        }
        for y in y0..=y1 {
            put(img, x0 + t, y, c);
            put(img, x1 - t, y, c);
        }
    }
}

/// `text` with its top-left corner at `(x, y)`, on a dark band.
pub fn text(img: &mut RgbImage, x: i64, y: i64, s: &str) {
    let n = s.chars().count() as i64;
    for dy in 0..8 * SCALE + 4 {
        for dx in 0..n * 8 * SCALE + 4 {
            put(img, x + dx - 2, y + dy - 2, TEXT_BG);
        }
    }
    for (i, ch) in s.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::LATIN_FONTS.get(ch))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    for sy in 0..SCALE {
                        for sx in 0..SCALE {
                            let px = x + (i as i64 * 8 + col) * SCALE + sx;
                            put(img, px, y + row as i64 * SCALE + sy, TEXT);
                        }
                    }
                }
            }
        }
    }
}

/// Draws faces (model-input coordinates mapped back through `pre`).
pub fn faces(img: &mut RgbImage, frame: &Frame<'_>, pre: &Preprocess, faces: &[Detection]) {
    let thick = (img.width().max(img.height()) as i64 / 200).max(2);
    for d in faces {
        let (x0, y0) = pre.to_frame(frame, d.bbox.xmin, d.bbox.ymin);
        let (x1, y1) = pre.to_frame(frame, d.bbox.xmax, d.bbox.ymax);
        rect(img, x0 as i64, y0 as i64, x1 as i64, y1 as i64, thick, BOX);
        for k in &d.keypoints[..d.num_keypoints as usize] {
            let (kx, ky) = pre.to_frame(frame, k[0], k[1]);
            for dy in -thick..=thick {
                for dx in -thick..=thick {
                    put(img, kx as i64 + dx, ky as i64 + dy, KEYPOINT);
                }
            }
        }
        let label = format!("face {:.2}", d.score);
        let ty = if y0 as i64 > 8 * SCALE + 6 {
            y0 as i64 - 8 * SCALE - 4
        } else {
            y1 as i64 + 4
        };
        text(img, x0 as i64, ty, &label);
    }
}

/// Writes `img` as PNG to `dir/name.png` (the directory is created; the
/// file appears whole or not at all).
pub fn save(img: &RgbImage, dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.png"));
    let tmp = dir.join(format!(".{name}.png.part"));
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}
