//! `usagelens-collector query …`: the query engine from the command line,
//! as a table or JSON.

use crate::config::ServeConfig;
use crate::query;
use crate::store::Store;

/// `usagelens-collector query --app demo --type click --group-by widget --measure count --since 7d`
#[derive(Debug, clap::Args)]
pub(super) struct QueryArgs {
    /// App id.
    #[arg(long)]
    app: String,
    /// Event type (repeatable).
    #[arg(long = "type")]
    types: Vec<String>,
    /// Group by this dimension (repeatable).
    #[arg(long = "group-by")]
    group_by: Vec<String>,
    /// `count`, `users`, `sessions`, or `<fn>:<metric>` like `p95:duration_ms` (repeatable; default count).
    #[arg(long = "measure")]
    measures: Vec<String>,
    /// Only events of the last N minutes/hours/days (`30m`, `12h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Bucket by `minute | hour | day | week | month`.
    #[arg(long)]
    interval: Option<String>,
    /// Time zone of the buckets.
    #[arg(long)]
    tz: Option<String>,
    /// Most rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `--since 7d` as milliseconds.
pub(super) fn since_span_ms(s: &str) -> anyhow::Result<i64> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--since: write like 30m, 12h or 7d"))?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => anyhow::bail!("--since: write like 30m, 12h or 7d"),
    };
    n.checked_mul(ms)
        .filter(|span| *span > 0)
        .ok_or_else(|| anyhow::anyhow!("--since: write like 30m, 12h or 7d"))
}

fn since_ms(s: &str) -> anyhow::Result<i64> {
    Ok(mongodb::bson::DateTime::now().timestamp_millis() - since_span_ms(s)?)
}

pub(super) async fn run(store: &Store, a: QueryArgs) -> anyhow::Result<()> {
    let measures: Vec<serde_json::Value> = a
        .measures
        .iter()
        .map(|m| match m.split_once(':') {
            Some((f, of)) => serde_json::json!({"fn": f, "of": of}),
            None => serde_json::json!(m),
        })
        .collect();
    let mut q = serde_json::json!({
        "app": a.app, "group_by": a.group_by, "measures": measures, "limit": a.limit,
    });
    if !a.types.is_empty() {
        q["types"] = serde_json::json!(a.types);
    }
    if let Some(s) = &a.since {
        q["from"] = serde_json::json!(since_ms(s)?);
    }
    if let Some(i) = &a.interval {
        q["interval"] = serde_json::json!(i);
    }
    if let Some(tz) = &a.tz {
        q["tz"] = serde_json::json!(tz);
    }
    if !a.group_by.is_empty() && a.interval.is_none() {
        // Most first, as a ranking is what a grouped query usually asks.
        let first = match a.measures.first().map(String::as_str) {
            None | Some("count") => "count".to_owned(),
            Some(m) => m.replace(':', "_"),
        };
        q["order_by"] = serde_json::json!([{"by": first, "desc": true}]);
    }
    // Read as the API reads a body, so an error names its field (`group_by[0]: …`).
    let req = query::parse_request(&serde_json::to_vec(&q)?)?;
    // A percentile on a store older than MongoDB 7.0 is refused as the API refuses it.
    query::check_store(&req, store.server_version().await.ok().as_ref())?;
    // The server's default time limit (`serve --query-timeout`).
    let answer = crate::rollups::answer(store, &req, ServeConfig::default().query_timeout).await?;
    let (columns, rows) = (answer.columns, answer.rows);
    if a.json {
        println!("{}", serde_json::json!({"columns": columns, "rows": rows}));
        return Ok(());
    }
    super::table::print(&columns, &rows);
    Ok(())
}
