//! A citizen on the public complaint page (issue 16), without a browser: fetches the form,
//! solves its proof of work, posts fields and photos, looks the answer up with code and phone.

use sotiem_server::complaints::pow;
use std::io::Cursor;

/// The text between `start` and the next `end` in `page`.
pub fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = page.find(start)? + start.len();
    let len = page[from..].find(end)?;
    Some(&page[from..from + len])
}

/// A JPEG of a paper card with an EXIF segment naming where it was taken.
pub fn card_photo_with_gps() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(640, 400, |x, y| {
        image::Rgb([200, (x % 200) as u8 + 40, (y % 200) as u8 + 40])
    });
    let mut jpeg = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg");
    let payload = b"Exif\0\0GPSLatitude=10.6512;GPSLongitude=106.5821;Owner=Nguyen Thi Hong Nhung";
    let len = u16::try_from(payload.len() + 2).expect("short");
    let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_exif.extend_from_slice(&len.to_be_bytes());
    with_exif.extend_from_slice(payload);
    with_exif.extend_from_slice(&jpeg[2..]);
    with_exif
}

/// A grey PNG of `width`×`height`: tens of kilobytes that decode into tens of megapixels (what
/// an attacker sends to exhaust the server's memory).
pub fn pixel_bomb(width: u32, height: u32) -> Vec<u8> {
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

/// A citizen's browser, without one: fetches the form, solves its challenge, posts the parts.
pub struct Citizen {
    http: reqwest::Client,
    base: String,
}

/// One honest filled-in form.
pub fn honest_fields() -> Vec<(&'static str, String)> {
    vec![
        ("full_name", "Nguyễn Thị Hồng Nhung".into()),
        ("birth_date", "12/03/1990".into()),
        ("phone", "0912 345 678".into()),
        ("id_number", "079190012345".into()),
        ("facility", "TYT-TANNHUT".into()),
        ("kind", "missing_dose".into()),
        ("vaccine", "Comirnaty".into()),
        ("vaccinated_on", "20/11/2026".into()),
        ("place", "Trạm Y tế xã Tân Nhựt".into()),
        (
            "description",
            "Tôi đã tiêm mũi 2 ngày 20/11 nhưng hồ sơ chưa có. Có ảnh phiếu tiêm.".into(),
        ),
    ]
}

impl Citizen {
    pub fn new(base: &str) -> Citizen {
        // reqwest is built here without a default TLS provider (plain HTTP on loopback anyway).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Citizen {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    /// A fresh challenge from the form and its difficulty.
    pub async fn challenge(&self) -> (String, u32) {
        let page = self
            .http
            .get(format!("{}/phan-anh", self.base))
            .send()
            .await
            .expect("form")
            .text()
            .await
            .expect("page");
        let challenge = between(&page, "name=\"pow_challenge\" value=\"", "\"")
            .expect("a challenge in the form")
            .to_string();
        let bits = between(&page, "data-difficulty=\"", "\"")
            .and_then(|b| b.parse().ok())
            .expect("a difficulty");
        (challenge, bits)
    }

    /// Posts `fields` and `photos` with a solved challenge (or `solution` when given).
    pub async fn post(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
        solution: Option<&str>,
    ) -> (u16, String) {
        let (challenge, bits) = self.challenge().await;
        let solved = match solution {
            Some(s) => s.to_string(),
            None => pow::solve(&challenge, bits),
        };
        self.post_with(fields, photos, &challenge, &solved).await
    }

    pub async fn post_with(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
        challenge: &str,
        solution: &str,
    ) -> (u16, String) {
        let (status, _, page) = self.post_seen(fields, photos, challenge, solution).await;
        (status, page)
    }

    /// [`Citizen::post`], with the answer's `Retry-After` (a busy server's).
    pub async fn post_retry(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
    ) -> (u16, Option<String>, String) {
        let (challenge, bits) = self.challenge().await;
        let solved = pow::solve(&challenge, bits);
        self.post_seen(fields, photos, &challenge, &solved).await
    }

    async fn post_seen(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
        challenge: &str,
        solution: &str,
    ) -> (u16, Option<String>, String) {
        let mut form = reqwest::multipart::Form::new()
            .text("pow_challenge", challenge.to_string())
            .text("pow_solution", solution.to_string());
        for (name, value) in fields {
            form = form.text(*name, value.clone());
        }
        for (file, bytes) in photos {
            form = form.part(
                "photos",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(file.to_string()),
            );
        }
        // A body over the limit may be cut off before its answer is read: status 0.
        match self
            .http
            .post(format!("{}/phan-anh", self.base))
            .multipart(form)
            .send()
            .await
        {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let retry = answer
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (status, retry, answer.text().await.unwrap_or_default())
            }
            Err(_) => (0, None, String::new()),
        }
    }

    pub async fn lookup(&self, code: &str, phone: &str) -> (u16, String) {
        let answer = self
            .http
            .post(format!("{}/phan-anh/tra-cuu", self.base))
            .form(&[("code", code), ("phone", phone)])
            .send()
            .await
            .expect("answered");
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap_or_default())
    }
}

/// The tracking code on the page that answered a filed complaint.
pub fn code_of(page: &str) -> String {
    between(page, "data-testid=\"tracking-code\">", "<")
        .expect("a tracking code")
        .to_string()
}

/// A Comirnaty dose as the station's form records it.
pub fn comirnaty(dose: u8, given_at: &str) -> station::DoseInput {
    station::DoseInput {
        vaccine: "pfizer".into(),
        lot: "FK8891".into(),
        dose_number: Some(dose),
        given_at: Some(given_at.into()),
        ..station::DoseInput::default()
    }
}
