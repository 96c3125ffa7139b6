//! QR codes for invite links, as SVG (printable at any size).

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG image of a QR code for `text`.
pub fn svg(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}
