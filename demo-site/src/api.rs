//! What this demonstrates, for a backend developer: a JSON API behind the
//! native SDK's tower layer (one `http` event per request, with the route
//! template, status and duration) whose handlers answer with `TimedJson`, so
//! the serialization time and size join the same event.

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use usagelens::TimedJson;

/// The demo's reports: id, name, rows.
pub const REPORTS: &[(u32, &str, u32)] = &[
    (1, "Weekly revenue", 1_200),
    (2, "Active users", 52_000),
    (3, "Churn by plan", 340),
    (4, "Support tickets", 8_700),
    (5, "Quarterly close", 250_000),
];

/// A report row of the list.
#[derive(Debug, Serialize)]
pub struct ReportSummary {
    id: u32,
    name: &'static str,
    rows: u32,
}

/// `GET /api/reports`.
pub async fn list() -> TimedJson<Vec<ReportSummary>> {
    TimedJson(
        REPORTS
            .iter()
            .map(|&(id, name, rows)| ReportSummary { id, name, rows })
            .collect(),
    )
}

/// A report with its data: large enough that serializing it costs something.
#[derive(Debug, Serialize)]
pub struct ReportData {
    id: u32,
    name: &'static str,
    series: Vec<(u32, f64)>,
}

/// `GET /api/reports/{id}`; 404 for an unknown id.
pub async fn get(Path(id): Path<u32>) -> Result<TimedJson<ReportData>, StatusCode> {
    let &(id, name, rows) = REPORTS
        .iter()
        .find(|r| r.0 == id)
        .ok_or(StatusCode::NOT_FOUND)?;
    // The big report is slow on the server side too.
    if rows > 100_000 {
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let n = (rows / 10).min(20_000);
    let series = (0..n).map(|i| (i, f64::from(i % 97) * 1.5)).collect();
    Ok(TimedJson(ReportData { id, name, series }))
}
