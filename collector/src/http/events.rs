//! `GET /v1/events`: the raw export, page by page (`export/`).

use std::fmt::Write as _;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;

use super::auth::ReadAccess;
use super::ApiError;
use crate::export::{self, ExportRequest, Params};
use crate::query::QueryError;
use crate::state::AppState;

/// The response header that carries the next page's cursor.
pub(super) const NEXT_CURSOR_HEADER: &str = "usagelens-next-cursor";

/// Whether `Accept` asks for CSV (`text/csv`, not with `q=0`).
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("text/csv")
                && !parts.any(|p| {
                    let p = p.trim().replace(' ', "");
                    matches!(p.as_str(), "q=0" | "q=0." | "q=0.0" | "q=0.00" | "q=0.000")
                })
        })
}

/// The `Link` of the next page: this request's query string with the new cursor.
fn next_link(req: &ExportRequest, uri: &Uri, cursor: &str) -> String {
    let mut q: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("cursor"))
        .collect();
    if req.format_from_accept {
        q.push("format=csv");
    }
    let mut link = format!("</v1/events?{}", q.join("&"));
    if !q.is_empty() {
        link.push('&');
    }
    let _ = write!(link, "cursor={cursor}>; rel=\"next\"");
    link
}

/// `GET /v1/events`.
pub(super) async fn get(
    State(state): State<AppState>,
    access: ReadAccess,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|e| QueryError::Invalid(format!("the query string is malformed: {e}")))?;
    let params = Params::new(pairs)?;
    let app = params.app()?;
    access.allow(&app)?;
    let req = ExportRequest::parse(app, &params, accepts_csv(&headers))?;
    let page = export::page(&state.store, &state.catalog, &req).await?;
    let mut resp = Response::new(Body::from_stream(page.body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(page.format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Some(c) = &page.next_cursor {
        let link = next_link(&req, &uri, c);
        if let (Ok(cv), Ok(lv)) = (HeaderValue::from_str(c), HeaderValue::from_str(&link)) {
            h.insert(NEXT_CURSOR_HEADER, cv);
            h.insert(header::LINK, lv);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_selects_csv() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_csv(&h("text/csv")));
        assert!(accepts_csv(&h("application/json, Text/CSV;q=0.5")));
        assert!(!accepts_csv(&h("text/csv;q=0")));
        assert!(!accepts_csv(&h("*/*")));
        assert!(!accepts_csv(&HeaderMap::new()));
    }
}
