//! The stylesheet and script, compiled into the binary so a deployment is
//! one file. CSP allows scripts and styles only from here ('self').

use crate::http::response::{Response, with_header};

const CSS: &str = include_str!("../../../static/bedside.css");
const VISIT_JS: &str = include_str!("../../../static/visit.js");
const KIOSK_JS: &str = include_str!("../../../static/kiosk.js");

pub fn asset_show(name: &'static str) -> Response {
    let (body, content_type) = match name {
        "bedside.css" => (CSS, "text/css; charset=utf-8"),
        "kiosk.js" => (KIOSK_JS, "text/javascript; charset=utf-8"),
        _ => (VISIT_JS, "text/javascript; charset=utf-8"),
    };
    let mut response = crate::http::response::text(http::StatusCode::OK, body);
    with_header(&mut response, http::header::CONTENT_TYPE, content_type);
    // Not personal: caches may keep them for an hour.
    with_header(
        &mut response,
        http::header::CACHE_CONTROL,
        "public, max-age=3600",
    );
    response
}
