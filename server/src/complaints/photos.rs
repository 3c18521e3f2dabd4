//! Photos of the paper vaccination card sent with a complaint: only JPEG or PNG, limited in
//! bytes and pixels, decoded and written again as a JPEG no larger than 1600 pixels a side, so
//! nothing of the upload but its picture is kept (no EXIF, no GPS position, no hidden payload).

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The most photos a complaint takes.
pub const MAX_PHOTOS: usize = 3;
/// The largest upload taken, per photo.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// The longest side kept.
const MAX_SIDE: u32 = 1600;

/// Why a photo is refused (shown to the citizen).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("ảnh quá lớn (tối đa 5 MB mỗi ảnh)")]
    TooLarge,
    #[error("chỉ nhận ảnh JPEG hoặc PNG")]
    NotAnImage,
    #[error("ảnh hỏng hoặc quá nhiều điểm ảnh: chụp lại và gửi ảnh khác")]
    Unreadable,
    #[error("tối đa 3 ảnh")]
    TooMany,
}

/// The photo re-encoded as JPEG.
pub fn reencode(bytes: &[u8]) -> Result<Vec<u8>, PhotoError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| PhotoError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(PhotoError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A small file can claim a huge picture: refuse before allocating it.
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|_| PhotoError::Unreadable)?;
    let picture = if picture.width() > MAX_SIDE || picture.height() > MAX_SIDE {
        picture.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        picture
    };
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
    picture
        .to_rgb8()
        .write_with_encoder(encoder)
        .map_err(|_| PhotoError::Unreadable)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
        });
        let mut out = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("png");
        out
    }

    #[test]
    fn a_png_comes_back_a_jpeg_no_larger_than_1600_pixels() {
        let jpeg = reencode(&png(2400, 1200)).expect("re-encoded");
        assert_eq!(image::guess_format(&jpeg).ok(), Some(ImageFormat::Jpeg));
        let back = image::load_from_memory(&jpeg).expect("decodes");
        assert_eq!((back.width(), back.height()), (1600, 800));
    }

    #[test]
    fn what_is_not_a_photo_is_refused_with_its_reason() {
        assert_eq!(
            reencode(b"<script>alert(1)</script>"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(
            reencode(b"GIF89a\x01\x00\x01\x00"),
            Err(PhotoError::NotAnImage)
        );
        let mut truncated = png(50, 50);
        truncated.truncate(60);
        assert_eq!(reencode(&truncated), Err(PhotoError::Unreadable));
        assert_eq!(
            reencode(&vec![0xFF; MAX_PHOTO_BYTES + 1]),
            Err(PhotoError::TooLarge)
        );
    }
}
