//! The web console at `/` and the API reference at `/docs`: static files
//! compiled into the binary (`query-api/console/`), no CDN, no build step.
//! The pages hold no tenant's data: they ask for a key, keep it in the
//! browser's session storage and call the API with it in `X-API-Key`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// Path it is served at.
    pub path: &'static str,
    /// Content type.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
}

/// Every file of the console and the reference page.
pub const ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_str!("../console/index.html") },
    Asset {
        path: "/console/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/app.js"),
    },
    Asset {
        path: "/console/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../console/app.css"),
    },
    Asset { path: "/docs", content_type: "text/html; charset=utf-8", body: include_str!("../console/docs.html") },
    Asset {
        path: "/console/docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/docs.js"),
    },
];

/// Scripts and styles from this origin only, no inline script, no frames:
/// a page that holds a key in session storage runs nothing else's code.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Serves one asset.
pub fn serve(asset: &'static Asset) -> Response {
    let mut r = (StatusCode::OK, asset.body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Rebuilt with the binary: a browser revalidates rather than keeping
    // an old console after an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_and_style_a_page_names_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for page in ASSETS.iter().filter(|a| a.content_type.starts_with("text/html")) {
            for attr in ["src=\"", "href=\""] {
                for part in page.body.split(attr).skip(1) {
                    let url = part.split('"').next().unwrap();
                    if url.starts_with('/') && url != "/openapi.json" {
                        assert!(served.contains(&url), "{} names {url}, which is not served", page.path);
                    }
                }
            }
            assert!(!page.body.contains("http://") && !page.body.contains("https://"), "{}: no outside URL", page.path);
            assert!(!page.body.contains("<script>"), "{}: no inline script (the CSP refuses it)", page.path);
        }
    }
}
