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
/// The most pixels decoded (a 40-megapixel phone picture): a few kilobytes of PNG can claim
/// hundreds of megabytes of pixels, decoded into memory before anything else.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why a photo is refused (shown to the citizen).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("ảnh quá lớn (tối đa 5 MB mỗi ảnh)")]
    TooLarge,
    #[error("chỉ nhận ảnh JPEG hoặc PNG")]
    NotAnImage,
    #[error("ảnh hỏng: chụp lại và gửi ảnh khác")]
    Unreadable,
    #[error("ảnh có quá nhiều điểm ảnh (tối đa 40 triệu): chụp lại với độ phân giải thấp hơn")]
    TooManyPixels,
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
    // A small file can claim a huge picture: its header is read first, and a picture past
    // MAX_PIXELS refused before anything is allocated for it.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| PhotoError::Unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PhotoError::TooManyPixels);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    // 40 Mpx in RGBA: 160 MiB.
    limits.max_alloc = Some(192 * 1024 * 1024);
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

    /// A grey PNG of `width`×`height` zeros: tens of kilobytes for tens of megapixels.
    fn pixel_bomb(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::NoFilter,
        );
        image::ImageEncoder::write_image(
            encoder,
            &vec![0u8; (width * height) as usize],
            width,
            height,
            image::ExtendedColorType::L8,
        )
        .expect("png");
        out
    }

    #[test]
    fn a_small_file_claiming_too_many_pixels_is_refused_before_it_is_decoded() {
        let bomb = pixel_bomb(8_000, 6_000);
        assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
        assert_eq!(reencode(&bomb), Err(PhotoError::TooManyPixels));
        // 40 Mpx and under is a photo.
        assert!(reencode(&pixel_bomb(4_000, 3_000)).is_ok());
    }
}
