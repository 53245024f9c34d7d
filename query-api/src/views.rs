//! The stock and spend views: every SKU of the tenant with its days of
//! cover, every spending entity with its period against budget. Both read
//! each series' newest point and newest published forecast
//! ([`vigie_storage::HistoryQuery::latest`]); the console shows them as
//! they come.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use vigie_schemas::time::{DAY_MS, format_date, format_rfc3339};
use vigie_storage::reader::{ForecastSum, Latest};

use crate::error::ApiError;
use crate::keys::Principal;
use crate::{AppState, Params};

/// One SKU at one site.
#[derive(Debug, Serialize)]
pub struct StockLine {
    /// Series key (`site/sku`).
    pub series: String,
    /// The SKU.
    pub sku: String,
    /// Units on hand when its newest bucket closed; `null` until a count
    /// or a receipt made it known.
    pub on_hand: Option<f64>,
    /// Demand per day from its newest published forecast; `null` before
    /// the first.
    pub demand_per_day: Option<f64>,
    /// On hand over demand per day; `null` when either is unknown or no
    /// demand is forecast.
    pub days_of_cover: Option<f64>,
    /// The day on hand runs out at that rate (`YYYY-MM-DD`).
    pub runs_out_around: Option<String>,
    /// End of the newest closed bucket (RFC 3339): what the figures are as of.
    pub as_of: String,
}

/// One site's SKUs, fewest days of cover first.
#[derive(Debug, Serialize)]
pub struct Site {
    /// Site.
    pub site: String,
    /// Its SKUs.
    pub skus: Vec<StockLine>,
}

/// One spending entity or budget line.
#[derive(Debug, Serialize)]
pub struct SpendLine {
    /// Entity.
    pub entity: String,
    /// The budget period's spend so far.
    pub spent: Option<f64>,
    /// The period's budget (`null`: none given).
    pub budget: Option<f64>,
    /// Spend so far plus the forecast of the rest of the period.
    pub projected: Option<f64>,
    /// `projected − spent`.
    pub rest_forecast: Option<f64>,
    /// `projected / budget`.
    pub projected_share: Option<f64>,
    /// End of the newest closed bucket (RFC 3339).
    pub as_of: String,
}

/// The length of one forecast bucket, from the forecast's span (a day when
/// it has one step).
fn bucket_ms(f: &ForecastSum) -> i64 {
    if f.steps > 1 { ((f.last_ts - f.first_ts) / i64::from(f.steps - 1)).max(1) } else { DAY_MS }
}

/// A stock line from a series' newest point and forecast.
pub fn stock_line(l: &Latest) -> StockLine {
    let sku = l.series.split_once('/').map_or(l.series.as_str(), |(_, s)| s).to_string();
    let bucket = l.forecast.as_ref().map_or(DAY_MS, bucket_ms);
    let end = l.ts + bucket;
    let demand = l
        .forecast
        .as_ref()
        .filter(|f| f.steps > 0)
        .map(|f| (f.total / f64::from(f.steps)).max(0.0) * DAY_MS as f64 / bucket as f64);
    let cover = match (l.level, demand) {
        (Some(h), Some(d)) if d > 0.0 => Some(h.max(0.0) / d),
        _ => None,
    };
    StockLine {
        series: l.series.clone(),
        sku,
        on_hand: l.level,
        demand_per_day: demand,
        days_of_cover: cover,
        runs_out_around: cover.filter(|c| *c < 3_650.0).map(|c| format_date(end + (c * DAY_MS as f64) as i64)),
        as_of: format_rfc3339(end),
    }
}

/// Groups stock lines by site, each site's fewest days of cover first (out
/// of stock first, unknown cover last), sites by name.
pub fn stock_sites(latest: &[Latest]) -> Vec<Site> {
    let mut sites: BTreeMap<String, Vec<StockLine>> = BTreeMap::new();
    for l in latest {
        let site = l.series.split_once('/').map_or("", |(s, _)| s).to_string();
        sites.entry(site).or_default().push(stock_line(l));
    }
    sites
        .into_iter()
        .map(|(site, mut skus)| {
            skus.sort_by(|a, b| {
                let key = |x: &StockLine| x.days_of_cover.unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b)).then_with(|| a.sku.cmp(&b.sku))
            });
            Site { site, skus }
        })
        .collect()
}

/// A spend line from an entity's newest point.
pub fn spend_line(l: &Latest) -> SpendLine {
    let bucket = l.forecast.as_ref().map_or(DAY_MS, bucket_ms);
    SpendLine {
        entity: l.series.clone(),
        spent: l.level,
        budget: l.budget,
        projected: l.projected,
        rest_forecast: l.projected.zip(l.level).map(|(p, s)| p - s),
        projected_share: l.projected.zip(l.budget).filter(|(_, b)| *b > 0.0).map(|(p, b)| p / b),
        as_of: format_rfc3339(l.ts + bucket),
    }
}

pub(crate) async fn stock(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Params::new(q)?.finish()?;
    let latest = s.reader.latest(&p.tenant, "stock").await?;
    Ok(Json(serde_json::json!({ "sites": stock_sites(&latest) })))
}

pub(crate) async fn spend(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Params::new(q)?.finish()?;
    let mut lines: Vec<SpendLine> = s.reader.latest(&p.tenant, "spend").await?.iter().map(spend_line).collect();
    // Nearest to (or furthest over) its budget first; no budget last.
    lines.sort_by(|a, b| {
        let key = |x: &SpendLine| -x.projected_share.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b)).then_with(|| a.entity.cmp(&b.entity))
    });
    Ok(Json(serde_json::json!({ "entities": lines })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(series: &str, level: Option<f64>, steps: u32, total: f64) -> Latest {
        Latest {
            series: series.into(),
            ts: 0,
            value: 1.0,
            level,
            budget: None,
            projected: None,
            forecast: (steps > 0).then_some(ForecastSum {
                steps,
                total,
                first_ts: DAY_MS,
                last_ts: i64::from(steps) * DAY_MS,
            }),
        }
    }

    #[test]
    fn days_of_cover_is_on_hand_over_daily_demand_and_sorts_each_site() {
        let sites = stock_sites(&[
            latest("A/rice", Some(30.0), 7, 70.0), // 10 a day: 3 days
            latest("A/oil", Some(5.0), 7, 35.0),   // 5 a day: 1 day
            latest("A/salt", None, 7, 7.0),        // unknown on hand: last
            latest("B/tea", Some(0.0), 7, 14.0),   // out of stock: 0 days
        ]);
        assert_eq!(sites.len(), 2);
        let a: Vec<&str> = sites[0].skus.iter().map(|x| x.sku.as_str()).collect();
        assert_eq!(a, ["oil", "rice", "salt"]);
        assert_eq!(sites[0].skus[1].days_of_cover, Some(3.0));
        assert_eq!(sites[0].skus[1].demand_per_day, Some(10.0));
        // As of the end of its bucket (2 January 1970); 3 days later.
        assert_eq!(sites[0].skus[1].runs_out_around.as_deref(), Some("1970-01-05"));
        assert_eq!(sites[1].skus[0].days_of_cover, Some(0.0));
        assert_eq!(sites[0].skus[2].days_of_cover, None);
    }

    #[test]
    fn hourly_forecasts_give_demand_per_day() {
        let mut l = latest("A/rice", Some(48.0), 24, 48.0);
        let f = l.forecast.as_mut().unwrap();
        f.last_ts = f.first_ts + 23 * 3_600_000;
        let line = stock_line(&l);
        assert_eq!(line.demand_per_day, Some(48.0), "2 an hour is 48 a day");
        assert_eq!(line.days_of_cover, Some(1.0));
    }

    #[test]
    fn spend_lines_show_the_rest_of_the_period_and_the_share_of_budget() {
        let mut l = latest("146014", Some(600.0), 0, 0.0);
        l.budget = Some(1_000.0);
        l.projected = Some(1_200.0);
        let s = spend_line(&l);
        assert_eq!(s.rest_forecast, Some(600.0));
        assert_eq!(s.projected_share, Some(1.2));
    }
}
