//! The message catalogue: every sentence vigie says to people in more than
//! one language, English and French, in one place. A message is a value of
//! [`Msg`] with its figures; [`Msg::text`] writes it in a [`Lang`]. Each
//! variant gives both languages in the same match arm, so a message cannot
//! exist in one language only, and code paths build a `Msg`, never a
//! sentence. French numbers take the decimal comma and a narrow no-break
//! space between thousands ([`number`]).

use crate::{RejectReason, SeriesKind};

/// A language vigie speaks (`"en"` or `"fr"` in configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// `en` or `fr` (also `fr-SN`, `FR`, …); `None` for another.
    pub fn parse(code: &str) -> Option<Self> {
        let primary = code.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers among those vigie
    /// speaks (by `q`, then order); `None` when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::parse) else { continue };
            let q =
                it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok())).unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l)
    }

    /// `en` or `fr`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// A number for people: no trailing zeros, at most `decimals` decimals;
/// in French with a decimal comma and narrow no-break spaces between
/// thousands (`1 420,5`).
pub fn number(lang: Lang, x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x);
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    localize(lang, if text == "-0" { "0".to_string() } else { text })
}

/// A number with exactly `decimals` decimals (`2.0`), French as [`number`].
pub fn fixed(lang: Lang, x: f64, decimals: usize) -> String {
    localize(lang, format!("{:.*}", decimals, x))
}

fn localize(lang: Lang, text: String) -> String {
    match lang {
        Lang::En => text,
        Lang::Fr => {
            let (sign, rest) = text.strip_prefix('-').map_or(("", text.as_str()), |r| ("-", r));
            let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
            let mut grouped = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 {
                    grouped.push('\u{202f}');
                }
                grouped.push(c);
            }
            match frac {
                Some(f) => format!("{sign}{grouped},{f}"),
                None => format!("{sign}{grouped}"),
            }
        }
    }
}

/// What one bucket of a series is, in the plural ("months").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Integer index or raw points.
    Points,
    /// 5-minute buckets.
    FiveMinutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
    /// Weeks.
    Weeks,
    /// Months.
    Months,
}

impl Unit {
    /// Plural, then singular.
    fn words(self, lang: Lang) -> (&'static str, &'static str) {
        match (self, lang) {
            (Unit::Points, Lang::En) => ("points", "point"),
            (Unit::Points, Lang::Fr) => ("points", "point"),
            (Unit::FiveMinutes, Lang::En) => ("5-minute buckets", "5-minute bucket"),
            (Unit::FiveMinutes, Lang::Fr) => ("tranches de 5 minutes", "tranche de 5 minutes"),
            (Unit::Hours, Lang::En) => ("hours", "hour"),
            (Unit::Hours, Lang::Fr) => ("heures", "heure"),
            (Unit::Days, Lang::En) => ("days", "day"),
            (Unit::Days, Lang::Fr) => ("jours", "jour"),
            (Unit::Weeks, Lang::En) => ("weeks", "week"),
            (Unit::Weeks, Lang::Fr) => ("semaines", "semaine"),
            (Unit::Months, Lang::En) => ("months", "month"),
            (Unit::Months, Lang::Fr) => ("mois", "mois"),
        }
    }

    /// The plural in `lang`.
    pub fn plural(self, lang: Lang) -> &'static str {
        self.words(lang).0
    }

    /// The singular in `lang`.
    pub fn singular(self, lang: Lang) -> &'static str {
        self.words(lang).1
    }
}

/// Every message of the catalogue, with its figures.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// Auto horizon: none given, the safe one used.
    HorizonAuto { allowed: usize, unit: Unit, min: usize, max: usize, active: usize, total: usize, density: f64 },
    /// More asked than allowed, and reduced.
    HorizonReduced { requested: usize, allowed: usize, unit: Unit, active: usize, total: usize, density: f64 },
    /// More asked than allowed, kept (exact horizon).
    HorizonKept { requested: usize, allowed: usize, unit: Unit, active: usize, total: usize, density: f64 },
    /// The horizon asked for, produced.
    HorizonAsRequested { validated: usize, unit: Unit },
    /// Sparse history warning.
    SparseWarning { unit: Unit, active: usize, total: usize, density: f64 },
    /// A history point against its one-step forecast.
    Deviation { value: f64, expected: f64, z: f64 },
    /// Rows summed into buckets.
    RowsSummed { rows: usize, buckets: usize, unit: Unit, filled: usize },
    /// Seasonal periods the caller gave.
    SeasonGiven { periods: Vec<usize> },
    /// A season found in the data.
    SeasonDetected { period: usize, unit: Unit },
    /// No season found.
    NoSeason,
    /// Seasons without two cycles of history.
    SeasonDropped { periods: Vec<usize>, unit: Unit, length: usize },
    /// The demand class of a non-negative series.
    DemandClass { pattern: &'static str, unit: Unit, adi: f64, cv2: f64, sparse: bool },
    /// Chosen without a hold-out.
    ChosenByAicc { model: String },
    /// Chosen by hold-out error.
    Chosen { model: String, rmse: f64, holdout: usize, unit: Unit, others: Vec<(String, f64)> },
    /// Intervals from re-run errors.
    IntervalsEmpirical { level: f64, errors: usize },
    /// Intervals from the model's variance.
    IntervalsModel { level: f64 },
    /// How many history points are anomalies.
    AnomalyCount { found: usize, of: usize, unit: Unit, from: u8, sigma: f64, robust: bool, intermittent: bool },
    /// Too little history to forecast.
    TooShort { length: usize, unit: Unit },
    /// A series without rows.
    NoRows,
    /// Times spread too far for the rows.
    SpanTooWide { span: i64, unit: Unit, rows: usize, first: String, last: String },
    /// Something broke while forecasting.
    InternalForecastError,
    /// `horizon` and `months` both given, and different.
    HorizonAndMonths,
    /// A horizon out of bounds.
    HorizonOutOfBounds,
    /// A level out of bounds.
    LevelOutOfBounds,
    /// A bucket that is not one of the five.
    UnknownBucket { given: String },
    /// A season that is not a whole number of buckets.
    BadSeason { given: String },
    /// An anomaly level that is not low, medium or high.
    UnknownAnomalyLevel { given: String },
    /// A language vigie does not speak.
    UnknownLang { given: String },
    /// No series of the file could be forecast.
    NothingForecast { file: String, series: String, why: String },
    /// API: no key, or a key that matches none.
    ApiUnauthorized,
    /// API: a time parameter that is not a time.
    ApiBadTime { name: String, given: String },
    /// API: a page size out of bounds.
    ApiBadLimit { given: String, max: usize },
    /// API: a cursor the API did not give.
    ApiBadCursor,
    /// API: a parameter the route does not take.
    ApiUnknownParameter { name: String },
    /// API: no such route.
    ApiNoRoute,
    /// API: a route without that method.
    ApiMethodNotAllowed,
    /// API: a series the tenant does not have.
    ApiNoSeries { key: String },
    /// API: a body over the limit.
    ApiTooLarge { mb: usize },
    /// API: a content type not taken.
    ApiUnsupportedMedia { given: String },
    /// API: the pipeline is full.
    ApiPipelineFull,
    /// API: the broker did not take the events.
    ApiBrokerUnavailable,
    /// API: an internal error (its detail is in the log).
    ApiInternal,
    /// API: the key's rate limit is spent.
    ApiRateLimited { seconds: u32 },
    /// API: a query string that cannot be read.
    ApiBadQuery { detail: String },
    /// API: a path segment that cannot be read.
    ApiBadPath { detail: String },
    /// API: a body that cannot be read or decoded.
    ApiBadBody { detail: String },
    /// API: an upload that is not multipart/form-data.
    ApiNotMultipart { detail: String },
    /// API: a multipart upload that breaks off.
    ApiUploadUnreadable { detail: String },
    /// API: a multipart upload without the field "file".
    ApiNoFile,
    /// API: a severity that is not LOW, MEDIUM or HIGH.
    ApiBadSeverity { given: String },
    /// API: a delivery status that is not one of the four.
    ApiBadDeliveryStatus { given: String },
    /// API: no stored forecast of that id for the tenant.
    ApiNoForecast { id: String },
    /// API: no key of that id for the tenant.
    ApiNoKey { id: String },
    /// API: no silence of that id for the tenant.
    ApiNoSilence { id: String },
    /// API: no receiver of that name for the tenant.
    ApiNoReceiver { name: String },
    /// API: a series that has published no forecast yet.
    ApiNoModelYet { key: String },
    /// API: a tenant key asked for another tenant's key.
    ApiKeyOtherTenant,
    /// API: a tenant name out of bounds.
    ApiTenantName,
    /// API: an expiry that is not a time.
    ApiBadExpiry { given: String },
    /// API: an expiry that is not in the future.
    ApiPastExpiry { at: String },
    /// API: this server makes no one-off forecasts.
    ApiNoForecaster,
    /// API: this server does not ingest events.
    ApiNoIngest,
    /// API: this server does not deliver alerts.
    ApiNoNotify,
    /// API: the pipeline is not running.
    ApiNotRunning,
    /// API: a one-off forecast failed inside.
    ApiForecastFailed,
    /// API: the alerts' files cannot be read or written now (the detail is in the log).
    ApiNotifyStorage,
    /// A body that is not UTF-8.
    BodyNotUtf8 { detail: String },
    /// An empty body.
    BodyEmpty,
    /// A JSON body that is neither an event nor an array of them (what it is).
    BodyNotEvents { what: &'static str },
    /// A body that is not JSON.
    BodyNotJson { detail: String },
    /// A silence without matchers.
    SilenceNoMatcher,
    /// A matcher without a name.
    SilenceEmptyName,
    /// A matcher whose value is not a regular expression.
    SilenceBadRegex { name: String, value: String, detail: String },
    /// A silence time that is not RFC 3339 (`starts_at` or `ends_at`).
    SilenceBadTime { field: &'static str, given: String },
    /// A silence that ends before it starts or in the past.
    SilenceEndsBefore,
    /// An explanation line about the horizon (its reason, already in the language).
    HorizonLine(String),
    /// A warning line (the warning, already in the language).
    WarningLine(String),
    /// An anomaly: a value against its expected one.
    Anomaly { kind: SeriesKind, actual: f64, expected: f64 },
    /// Alert `spend_anomaly` firing: the anomaly and its σ distance (text).
    AlertSpendAnomaly { series: String, kind: SeriesKind, actual: f64, expected: f64, sigma: f64 },
    /// Alert `spend_anomaly` resolved.
    AlertSpendBack { series: String },
    /// Alert `stock_out` firing.
    AlertOutOfStock { series: String, on_hand: f64 },
    /// Alert `stock_out` resolved.
    AlertBackInStock { series: String, on_hand: f64 },
    /// Alert `low_stock` firing (`reorder`: the threshold is a reorder point, else a safety level).
    AlertLowStock { series: String, on_hand: f64, reorder: bool, threshold: f64 },
    /// Alert `low_stock` resolved.
    AlertStockAboveAgain { series: String, on_hand: f64, reorder: bool },
    /// Alert `predicted_stockout` firing; `runs_out`: the daily rate and the date it runs out.
    AlertPredictedStockout {
        series: String,
        probability: f64,
        lead_days: f64,
        on_hand: f64,
        expected: f64,
        runs_out: Option<(f64, String)>,
    },
    /// Alert `predicted_stockout` resolved.
    AlertStockCovers { series: String, probability: f64, lead_days: f64 },
    /// Alert `service_rate_drop`.
    AlertServiceRate { series: String, rate: f64, window: usize, threshold: f64 },
    /// Alert `budget_overrun` firing.
    AlertBudgetOverrun { series: String, spent: f64, projected: f64, budget: f64 },
    /// Alert `budget_overrun` resolved.
    AlertBudgetWithin { series: String, projected: f64, budget: f64 },
    /// Alert `no_data` firing: no values after a bucket (`bucket` its size, `since` its start).
    AlertNoData { series: String, kind: SeriesKind, bucket: String, since: String, missed: u32 },
    /// Alert `no_data` resolved.
    AlertDataAgain { series: String },
    /// An event refused, with the field at fault (the English `detail` says more).
    Rejected { reason: RejectReason, field: Option<String> },
    /// An uploaded or read file that cannot be read at all.
    FileUnreadable { file: String, detail: String },
    /// No column for a role (`date/time`, `series`, `value`); `flag` names
    /// how to name it (`--ts-column`; with `api`, its query parameter).
    FileNoColumn { file: String, what: &'static str, columns: String, flag: &'static str, api: bool },
    /// A cell (or the file, at `(file)`) that cannot be read; `unit` is `line`, `row` or `record`.
    FileCell { file: String, unit: &'static str, line: u64, column: String, problem: FileProblem },
    /// A file without data rows.
    FileEmpty { file: String },
}

/// What is wrong with a cell or a file (see [`Msg::FileCell`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// The CSV reader's own words.
    Csv(String),
    /// Not an integer index, when the rows above are.
    NotIndex(String),
    /// Not a date.
    NotDate(String),
    /// Not a number.
    NotNumber(String),
    /// A workbook whose reader gave up (it panicked: damaged).
    DamagedWorkbook,
    /// Not a workbook (the reader's words).
    NotWorkbook(String),
    /// A workbook without sheets.
    NoSheet,
    /// The first sheet cannot be read (the reader's words).
    SheetUnreadable(String),
    /// Not JSON (the parser's words).
    NotJson(String),
    /// JSON, but neither an array of rows nor an object with `rows`.
    NoRowsArray,
    /// `rows` is not an array.
    NotAnArray,
    /// A row that is not an object.
    NotARowObject,
    /// A Parquet file the reader refused (its words).
    Parquet(String),
}

impl FileProblem {
    fn text(&self, lang: Lang) -> String {
        let en = lang == Lang::En;
        let pick = |e: String, f: String| if en { e } else { f };
        match self {
            FileProblem::Csv(d) => pick(d.clone(), format!("CSV illisible : {d}")),
            FileProblem::NotIndex(t) => pick(
                format!("\"{t}\" is not an integer index like the rows above"),
                format!("« {t} » n’est pas un index entier comme les lignes au-dessus"),
            ),
            FileProblem::NotDate(t) => pick(
                format!("\"{t}\" is not a date: use 2025-03-31, 31/03/2025 or 2025-03-31T08:00:00Z"),
                format!("« {t} » n’est pas une date : écrivez 2025-03-31, 31/03/2025 ou 2025-03-31T08:00:00Z"),
            ),
            FileProblem::NotNumber(t) => {
                pick(format!("\"{t}\" is not a number"), format!("« {t} » n’est pas un nombre"))
            }
            FileProblem::DamagedWorkbook => pick(
                "not a readable Excel (.xlsx) workbook: it is damaged".into(),
                "ce n’est pas un classeur Excel (.xlsx) lisible : il est endommagé".into(),
            ),
            FileProblem::NotWorkbook(d) => pick(
                format!("not a readable Excel (.xlsx) workbook: {d}"),
                format!("ce n’est pas un classeur Excel (.xlsx) lisible : {d}"),
            ),
            FileProblem::NoSheet => pick("the workbook has no sheet".into(), "le classeur n’a aucune feuille".into()),
            FileProblem::SheetUnreadable(d) => pick(
                format!("cannot read the first sheet: {d}"),
                format!("impossible de lire la première feuille : {d}"),
            ),
            FileProblem::NotJson(d) => pick(format!("not JSON: {d}"), format!("ce n’est pas du JSON : {d}")),
            FileProblem::NoRowsArray => pick(
                "expected an array of rows, or an object with one under \"rows\"".into(),
                "attendu : un tableau de lignes, ou un objet qui en a un sous « rows »".into(),
            ),
            FileProblem::NotAnArray => {
                pick("expected an array of rows".into(), "attendu : un tableau de lignes".into())
            }
            FileProblem::NotARowObject => pick(
                "expected an object like {\"date\": \"2025-01-31\", \"montant\": 12.5}".into(),
                "attendu : un objet comme {\"date\": \"2025-01-31\", \"montant\": 12.5}".into(),
            ),
            FileProblem::Parquet(d) => pick(d.clone(), format!("fichier Parquet illisible : {d}")),
        }
    }
}

/// A figure as vigie writes it in descriptions: rounded to two decimals,
/// no trailing zeros (`35.5`, `5000`); French with the decimal comma.
pub fn plain(lang: Lang, x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    let text = if r == r.trunc() && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r:.2}").trim_end_matches('0').to_string()
    };
    localize(lang, text)
}

fn noun(kind: SeriesKind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (_, Lang::En) => kind.noun(),
        (SeriesKind::Stock, Lang::Fr) => "demande",
        (SeriesKind::Spend, Lang::Fr) => "dépense",
        (SeriesKind::Metric, Lang::Fr) => "valeur",
    }
}

/// A share as a whole percentage (`67%`; French `67 %`).
fn whole_pct(lang: Lang, share: f64) -> String {
    match lang {
        Lang::En => format!("{:.0}%", share * 100.0),
        Lang::Fr => format!("{}\u{a0}%", localize(lang, format!("{:.0}", share * 100.0))),
    }
}

fn list(v: &[usize]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn pct(lang: Lang, share: f64) -> String {
    let n = number(lang, share * 100.0, 0);
    match lang {
        Lang::En => format!("{n}%"),
        Lang::Fr => format!("{n}\u{a0}%"),
    }
}

impl Msg {
    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let n = |x: f64| number(lang, x, 2);
        let en = lang == Lang::En;
        let pick = |e: String, f: String| if en { e } else { f };
        match self {
            Msg::HorizonAuto { allowed, unit, min, max, active, total, density } => {
                let u = unit.plural(lang);
                let d = pct(lang, *density);
                pick(
                    format!(
                        "no horizon given: {allowed} {u}, a third of the active {u} within {min} to {max} ({active} active {u} of {total}; density {d})"
                    ),
                    format!(
                        "aucun horizon demandé : {allowed} {u}, le tiers des {u} actifs, entre {min} et {max} ({active} {u} actifs sur {total} ; densité {d})"
                    ),
                )
            }
            Msg::HorizonReduced { requested, allowed, unit, active, total, density } => {
                let u = unit.plural(lang);
                let d = pct(lang, *density);
                pick(
                    format!("{requested} requested, {allowed} allowed: {active} active {u} of {total}; density {d}"),
                    format!("{requested} demandés, {allowed} permis : {active} {u} actifs sur {total} ; densité {d}"),
                )
            }
            Msg::HorizonKept { requested, allowed, unit, active, total, density } => {
                let u = unit.plural(lang);
                let d = pct(lang, *density);
                pick(
                    format!(
                        "{requested} requested and kept (exact horizon), {allowed} allowed: {active} active {u} of {total}; density {d}"
                    ),
                    format!(
                        "{requested} demandés et gardés (horizon exact), {allowed} permis : {active} {u} actifs sur {total} ; densité {d}"
                    ),
                )
            }
            Msg::HorizonAsRequested { validated, unit } => {
                let u = unit.plural(lang);
                pick(format!("{validated} {u} as requested"), format!("{validated} {u}, comme demandé"))
            }
            Msg::SparseWarning { unit, active, total, density } => {
                let u = unit.plural(lang);
                let d = pct(lang, *density);
                pick(
                    format!(
                        "only {d} of {u} have a value ({active} of {total}): forecasts of such sparse data are unreliable"
                    ),
                    format!(
                        "seulement {d} des {u} ont une valeur ({active} sur {total}) : la prévision de données si clairsemées est peu fiable"
                    ),
                )
            }
            Msg::Deviation { value, expected, z } => {
                let above = value >= expected;
                let sigma = fixed(lang, z.abs(), 1);
                let (v, e) = (n(*value), n(*expected));
                if expected.abs() > f64::EPSILON {
                    let p = pct(lang, ((value - expected) / expected.abs()).abs());
                    match (lang, above) {
                        (Lang::En, true) => format!("{p} above expected ({v} against {e}; {sigma}σ)"),
                        (Lang::En, false) => format!("{p} below expected ({v} against {e}; {sigma}σ)"),
                        (Lang::Fr, true) => format!("{p} au-dessus de l’attendu ({v} contre {e} ; {sigma}σ)"),
                        (Lang::Fr, false) => format!("{p} au-dessous de l’attendu ({v} contre {e} ; {sigma}σ)"),
                    }
                } else {
                    match (lang, above) {
                        (Lang::En, true) => format!("above an expected 0 ({v} against {e}; {sigma}σ)"),
                        (Lang::En, false) => format!("below an expected 0 ({v} against {e}; {sigma}σ)"),
                        (Lang::Fr, true) => format!("au-dessus d’un attendu de 0 ({v} contre {e} ; {sigma}σ)"),
                        (Lang::Fr, false) => format!("au-dessous d’un attendu de 0 ({v} contre {e} ; {sigma}σ)"),
                    }
                }
            }
            Msg::RowsSummed { rows, buckets, unit, filled } => {
                let u = unit.plural(lang);
                match (lang, *filled) {
                    (Lang::En, 0) => format!("{rows} rows summed into {buckets} {u}"),
                    (Lang::En, f) => {
                        format!("{rows} rows summed into {buckets} {u}; {f} {u} without a row counted as 0")
                    }
                    (Lang::Fr, 0) => format!("{rows} lignes additionnées en {buckets} {u}"),
                    (Lang::Fr, f) => {
                        format!("{rows} lignes additionnées en {buckets} {u} ; {f} {u} sans ligne comptés à 0")
                    }
                }
            }
            Msg::SeasonGiven { periods } => pick(
                format!("seasonal periods given: {}", list(periods)),
                format!("périodes saisonnières données : {}", list(periods)),
            ),
            Msg::SeasonDetected { period, unit } => {
                let u = unit.plural(lang);
                pick(
                    format!("a season of {period} {u} detected from the autocorrelation"),
                    format!("une saison de {period} {u} trouvée par l’autocorrélation"),
                )
            }
            Msg::NoSeason => pick("no season detected".into(), "aucune saison trouvée".into()),
            Msg::SeasonDropped { periods, unit, length } => {
                let u = unit.plural(lang);
                let p = list(periods);
                pick(
                    format!("season of {p} {u} not used: it needs two full cycles of history ({length} {u} here)"),
                    format!(
                        "saison de {p} {u} non utilisée : il faut deux cycles complets d’historique ({length} {u} ici)"
                    ),
                )
            }
            Msg::DemandClass { pattern, unit, adi, cv2, sparse } => {
                let one = unit.singular(lang);
                let (adi, cv2) = (fixed(lang, *adi, 2), fixed(lang, *cv2, 2));
                let french_pattern = match *pattern {
                    "smooth" => "régulière",
                    "erratic" => "erratique",
                    "intermittent" => "intermittente",
                    "lumpy" => "sporadique",
                    other => other,
                };
                match (lang, sparse) {
                    (Lang::En, s) => format!(
                        "demand is {pattern} (one non-zero {one} in {adi} on average, CV² of the sizes {cv2}){}",
                        if *s { ": Croston-SBA and TSB were tried" } else { "" }
                    ),
                    (Lang::Fr, s) => format!(
                        "demande {french_pattern} (en moyenne un {one} non nul sur {adi}, CV² des tailles {cv2}){}",
                        if *s { " : Croston-SBA et TSB ont été essayés" } else { "" }
                    ),
                }
            }
            Msg::ChosenByAicc { model } => pick(
                format!("{model} chosen by AICc: too little history to hold any out"),
                format!("{model} choisi par l’AICc : trop peu d’historique pour en mettre de côté"),
            ),
            Msg::Chosen { model, rmse, holdout, unit, others } => {
                let u = unit.plural(lang);
                let rest: Vec<String> = others.iter().map(|(m, e)| format!("{m} {}", n(*e))).collect();
                let rmse = n(*rmse);
                match lang {
                    Lang::En => format!(
                        "{model} chosen: lowest error (RMSE {rmse}) forecasting the last {holdout} {u} from the ones before{}",
                        if rest.is_empty() { String::new() } else { format!("; others: {}", rest.join(", ")) }
                    ),
                    Lang::Fr => format!(
                        "{model} choisi : la plus petite erreur (RMSE {rmse}) en prévoyant les {holdout} derniers {u} à partir des précédents{}",
                        if rest.is_empty() { String::new() } else { format!(" ; les autres : {}", rest.join(" ; ")) }
                    ),
                }
            }
            Msg::IntervalsEmpirical { level, errors } => {
                let l = pct(lang, *level);
                pick(
                    format!(
                        "{l} intervals from the {errors} errors of the model re-run from earlier points in the history"
                    ),
                    format!(
                        "intervalles à {l} tirés des {errors} erreurs du modèle relancé depuis des points antérieurs de l’historique"
                    ),
                )
            }
            Msg::IntervalsModel { level } => {
                let l = pct(lang, *level);
                pick(
                    format!("{l} intervals from the exponential smoothing model's error variance"),
                    format!("intervalles à {l} tirés de la variance d’erreur du lissage exponentiel"),
                )
            }
            Msg::AnomalyCount { found, of, unit, from, sigma, robust, intermittent } => {
                let u = unit.plural(lang);
                let s = n(*sigma);
                match lang {
                    Lang::En => format!(
                        "{found} of {of} past {u} are anomalies: at least {from}σ from the model's one-step forecast (σ {s} from {}){}",
                        if *robust { "the median deviation" } else { "the root mean square of those errors" },
                        if *intermittent { "; intermittent demand reports from 2σ" } else { "" }
                    ),
                    Lang::Fr => format!(
                        "{found} des {of} {u} passés sont des anomalies : à au moins {from}σ de la prévision à un pas du modèle (σ {s}, {}){}",
                        if *robust { "par l’écart médian" } else { "par la moyenne quadratique de ces erreurs" },
                        if *intermittent {
                            " ; une demande intermittente n’est signalée qu’à partir de 2σ"
                        } else {
                            ""
                        }
                    ),
                }
            }
            Msg::TooShort { length, unit } => {
                let u = unit.plural(lang);
                pick(
                    format!("only {length} {u} of history; at least 3 are needed"),
                    format!("seulement {length} {u} d’historique ; il en faut au moins 3"),
                )
            }
            Msg::NoRows => pick("no rows".into(), "aucune ligne".into()),
            Msg::SpanTooWide { span, unit, rows, first, last } => {
                let u = unit.plural(lang);
                pick(
                    format!(
                        "its times span {span} {u} for {rows} rows; check for a stray date or index (the first is {first}, the last {last})"
                    ),
                    format!(
                        "ses dates couvrent {span} {u} pour {rows} lignes ; cherchez une date ou un index égaré (le premier est {first}, le dernier {last})"
                    ),
                )
            }
            Msg::InternalForecastError => {
                pick("internal error while forecasting".into(), "erreur interne pendant la prévision".into())
            }
            Msg::HorizonAndMonths => pick(
                "give horizon or months (its alias), not both".into(),
                "donnez horizon ou months (son alias), pas les deux".into(),
            ),
            Msg::HorizonOutOfBounds => pick(
                "horizon must be between 1 and 10000 (or left out: the safe horizon)".into(),
                "horizon doit être entre 1 et 10000 (ou absent : l’horizon sûr)".into(),
            ),
            Msg::LevelOutOfBounds => pick(
                format!("level must be between 0.5 and 1, e.g. {}", number(lang, 0.95, 2)),
                format!("level doit être entre 0,5 et 1, par exemple {}", number(lang, 0.95, 2)),
            ),
            Msg::UnknownBucket { given } => pick(
                format!("bucket \"{given}\" is not one of 5m, 1h, 1d, 1w, 1mo"),
                format!("bucket « {given} » n’est pas l’un de 5m, 1h, 1d, 1w, 1mo"),
            ),
            Msg::BadSeason { given } => pick(
                format!("season \"{given}\" is not a whole number of buckets, e.g. 24 or 24,168"),
                format!("season « {given} » n’est pas un nombre entier de tranches, par exemple 24 ou 24,168"),
            ),
            Msg::UnknownAnomalyLevel { given } => pick(
                format!("anomalies \"{given}\" must be low, medium or high"),
                format!("anomalies « {given} » doit valoir low, medium ou high"),
            ),
            Msg::UnknownLang { given } => {
                pick(format!("lang \"{given}\" must be en or fr"), format!("lang « {given} » doit valoir en ou fr"))
            }
            Msg::NothingForecast { file, series, why } => pick(
                format!("{file}: no series can be forecast; series \"{series}\": {why}"),
                format!("{file} : aucune série ne peut être prévue ; série « {series} » : {why}"),
            ),
            Msg::ApiUnauthorized => pick(
                "a valid X-API-Key header is required".into(),
                "un en-tête X-API-Key valide est requis".into(),
            ),
            Msg::ApiBadTime { name, given } => pick(
                format!("parameter \"{name}\": \"{given}\" is not a time like 2025-03-01 or 2025-03-01T08:00:00Z"),
                format!("paramètre « {name} » : « {given} » n’est pas une date comme 2025-03-01 ou 2025-03-01T08:00:00Z"),
            ),
            Msg::ApiBadLimit { given, max } => pick(
                format!("parameter \"limit\": \"{given}\" must be a whole number from 1 to {max}"),
                format!("paramètre « limit » : « {given} » doit être un nombre entier de 1 à {max}"),
            ),
            Msg::ApiBadCursor => pick(
                "parameter \"cursor\" is not a cursor this API gave".into(),
                "le paramètre « cursor » n’est pas un curseur donné par cette API".into(),
            ),
            Msg::ApiUnknownParameter { name } => {
                pick(format!("unknown parameter \"{name}\""), format!("paramètre inconnu « {name} »"))
            }
            Msg::ApiNoRoute => {
                pick("no such route: see /openapi.json".into(), "cette route n’existe pas : voir /openapi.json".into())
            }
            Msg::ApiMethodNotAllowed => pick(
                "this route does not take that method: see /openapi.json".into(),
                "cette route n’accepte pas cette méthode : voir /openapi.json".into(),
            ),
            Msg::ApiNoSeries { key } => pick(format!("no series \"{key}\""), format!("aucune série « {key} »")),
            Msg::ApiTooLarge { mb } => {
                pick(format!("the body is larger than {mb} MB"), format!("le corps de la requête dépasse {mb} Mo"))
            }
            Msg::ApiUnsupportedMedia { given } => pick(
                format!("content type \"{given}\" is not accepted: use application/json or application/x-ndjson"),
                format!("le type de contenu « {given} » n’est pas accepté : utilisez application/json ou application/x-ndjson"),
            ),
            Msg::ApiPipelineFull => pick(
                "the pipeline is full; nothing from this request was accepted; retry after the delay given".into(),
                "le traitement est saturé ; rien de cette requête n’a été accepté ; réessayez après le délai indiqué".into(),
            ),
            Msg::ApiBrokerUnavailable => pick(
                "the event broker did not take the events; nothing from this request was accepted; retry after the delay given".into(),
                "le courtier d’événements n’a pas pris les événements ; rien de cette requête n’a été accepté ; réessayez après le délai indiqué".into(),
            ),
            Msg::ApiRateLimited { seconds } => pick(
                format!("this key's rate limit is reached; nothing from this request was accepted; retry in {seconds} s"),
                format!("la limite de débit de cette clé est atteinte ; rien de cette requête n’a été accepté ; réessayez dans {seconds} s"),
            ),
            Msg::ApiInternal => {
                pick("internal error; it has been logged".into(), "erreur interne ; elle a été journalisée".into())
            }
            Msg::ApiBadQuery { detail } => pick(
                format!("the query string cannot be read: {detail}"),
                format!("la chaîne de requête est illisible : {detail}"),
            ),
            Msg::ApiBadPath { detail } => {
                pick(format!("the path cannot be read: {detail}"), format!("le chemin est illisible : {detail}"))
            }
            Msg::ApiBadBody { detail } => pick(
                format!("the body cannot be read: {detail}"),
                format!("le corps de la requête est illisible : {detail}"),
            ),
            Msg::ApiNotMultipart { detail } => pick(
                format!("send the file as multipart/form-data in the field \"file\": {detail}"),
                format!("envoyez le fichier en multipart/form-data dans le champ « file » : {detail}"),
            ),
            Msg::ApiUploadUnreadable { detail } => pick(
                format!("the upload cannot be read: {detail}"),
                format!("le fichier envoyé est illisible : {detail}"),
            ),
            Msg::ApiNoFile => pick(
                "no file: send it as multipart/form-data in the field \"file\"".into(),
                "aucun fichier : envoyez-le en multipart/form-data dans le champ « file »".into(),
            ),
            Msg::ApiBadSeverity { given } => pick(
                format!("parameter \"severity\": \"{given}\" must be LOW, MEDIUM or HIGH"),
                format!("paramètre « severity » : « {given} » doit valoir LOW, MEDIUM ou HIGH"),
            ),
            Msg::ApiBadDeliveryStatus { given } => pick(
                format!("parameter \"status\": \"{given}\" must be pending, delivered, failed or silenced"),
                format!("paramètre « status » : « {given} » doit valoir pending, delivered, failed ou silenced"),
            ),
            Msg::ApiNoForecast { id } => pick(format!("no forecast \"{id}\""), format!("aucune prévision « {id} »")),
            Msg::ApiNoKey { id } => pick(format!("no key \"{id}\""), format!("aucune clé « {id} »")),
            Msg::ApiNoSilence { id } => pick(format!("no silence \"{id}\""), format!("aucune mise en sourdine « {id} »")),
            Msg::ApiNoReceiver { name } => pick(
                format!("no receiver \"{name}\" for this tenant"),
                format!("aucun destinataire « {name} » pour ce locataire"),
            ),
            Msg::ApiNoModelYet { key } => pick(
                format!(
                    "series \"{key}\" has published no forecast yet: it publishes every few closed buckets \
                     (forecast.publish_every) once its model has seen two values"
                ),
                format!(
                    "la série « {key} » n’a encore publié aucune prévision : elle en publie toutes les quelques périodes \
                     closes (forecast.publish_every) dès que son modèle a vu deux valeurs"
                ),
            ),
            Msg::ApiKeyOtherTenant => pick(
                "a tenant key makes keys for its own tenant only; other tenants need an admin key".into(),
                "une clé de locataire ne crée des clés que pour son locataire ; les autres demandent une clé d’administration".into(),
            ),
            Msg::ApiTenantName => pick(
                "tenant name must be 1 to 256 bytes".into(),
                "le nom du locataire doit faire de 1 à 256 octets".into(),
            ),
            Msg::ApiBadExpiry { given } => pick(
                format!("expires \"{given}\" is not an RFC 3339 time or a date"),
                format!("expires « {given} » n’est ni une heure RFC 3339 ni une date"),
            ),
            Msg::ApiPastExpiry { at } => pick(
                format!("the expiry {at} is not in the future"),
                format!("l’expiration {at} n’est pas dans le futur"),
            ),
            Msg::ApiNoForecaster => pick(
                "this server does not make one-off forecasts".into(),
                "ce serveur ne fait pas de prévisions ponctuelles".into(),
            ),
            Msg::ApiNoIngest => {
                pick("this server does not ingest events".into(), "ce serveur ne reçoit pas d’événements".into())
            }
            Msg::ApiNoNotify => {
                pick("this server does not deliver alerts".into(), "ce serveur n’envoie pas d’alertes".into())
            }
            Msg::ApiNotRunning => {
                pick("the pipeline is not running".into(), "le traitement n’est pas en marche".into())
            }
            Msg::ApiForecastFailed => {
                pick("the forecast failed; try again".into(), "la prévision a échoué ; réessayez".into())
            }
            Msg::ApiNotifyStorage => pick(
                "the alerts' files cannot be read or written now; it has been logged; retry later".into(),
                "les fichiers des alertes ne peuvent pas être lus ou écrits pour l’instant ; c’est journalisé ; réessayez plus tard".into(),
            ),
            Msg::BodyNotUtf8 { detail } => {
                pick(format!("the body is not UTF-8: {detail}"), format!("le corps n’est pas en UTF-8 : {detail}"))
            }
            Msg::BodyEmpty => pick(
                "the body is empty: send one event, an array of events or NDJSON".into(),
                "le corps est vide : envoyez un événement, un tableau d’événements ou du NDJSON".into(),
            ),
            Msg::BodyNotEvents { what } => pick(
                format!("the body must be an event object, an array of events or NDJSON, not {what}"),
                format!(
                    "le corps doit être un objet événement, un tableau d’événements ou du NDJSON, pas {}",
                    match *what {
                        "a boolean" => "un booléen",
                        "a number" => "un nombre",
                        "a string" => "une chaîne",
                        other => other,
                    }
                ),
            ),
            Msg::BodyNotJson { detail } => {
                pick(format!("the body is not valid JSON: {detail}"), format!("le corps n’est pas du JSON valide : {detail}"))
            }
            Msg::SilenceNoMatcher => pick(
                "a silence needs at least one matcher".into(),
                "une mise en sourdine demande au moins un critère (matcher)".into(),
            ),
            Msg::SilenceEmptyName => {
                pick("a matcher has an empty name".into(), "un critère (matcher) a un nom vide".into())
            }
            Msg::SilenceBadRegex { name, value, detail } => pick(
                format!("matcher {name}: \"{value}\" is not a regular expression ({detail})"),
                format!("critère {name} : « {value} » n’est pas une expression régulière ({detail})"),
            ),
            Msg::SilenceBadTime { field, given } => pick(
                format!("{field}: \"{given}\" is not an RFC 3339 time like 2025-03-01T08:00:00Z"),
                format!("{field} : « {given} » n’est pas une heure RFC 3339 comme 2025-03-01T08:00:00Z"),
            ),
            Msg::SilenceEndsBefore => pick(
                "ends_at must be after starts_at and in the future".into(),
                "ends_at doit venir après starts_at et dans le futur".into(),
            ),
            Msg::HorizonLine(m) => pick(format!("horizon: {m}"), format!("horizon : {m}")),
            Msg::WarningLine(m) => pick(format!("warning: {m}"), format!("avertissement : {m}")),
            Msg::Anomaly { kind, actual, expected } => {
                let (noun, a, e) = (noun(*kind, lang), plain(lang, *actual), plain(lang, *expected));
                if expected.abs() < 1e-9 {
                    return pick(
                        format!("{noun} {a} where about 0 was expected"),
                        format!("{noun} de {a} alors qu’environ 0 était attendu"),
                    );
                }
                let share = (actual - expected) / expected.abs();
                let p = whole_pct(lang, share.abs());
                match (lang, share >= 0.0) {
                    (Lang::En, true) => format!("{noun} {p} above expected: {a} against {e} expected"),
                    (Lang::En, false) => format!("{noun} {p} below expected: {a} against {e} expected"),
                    (Lang::Fr, true) => format!("{noun} {p} au-dessus de l’attendu : {a} contre {e} attendus"),
                    (Lang::Fr, false) => format!("{noun} {p} au-dessous de l’attendu : {a} contre {e} attendus"),
                }
            }
            Msg::AlertSpendAnomaly { series, kind, actual, expected, sigma } => {
                let what = Msg::Anomaly { kind: *kind, actual: *actual, expected: *expected }.text(lang);
                let z = if sigma.abs() > 99.0 {
                    localize(lang, format!("{:.0}", sigma.clamp(-1e6, 1e6)))
                } else {
                    localize(lang, format!("{sigma:.1}"))
                };
                pick(format!("{series}: {what} ({z}σ)"), format!("{series} : {what} ({z}σ)"))
            }
            Msg::AlertSpendBack { series } => pick(
                format!("{series}: spend back within expectations"),
                format!("{series} : la dépense est revenue dans l’attendu"),
            ),
            Msg::AlertOutOfStock { series, on_hand } => {
                let h = plain(lang, *on_hand);
                pick(format!("{series} is out of stock (on hand {h})"), format!("{series} est en rupture (en stock : {h})"))
            }
            Msg::AlertBackInStock { series, on_hand } => {
                let h = plain(lang, *on_hand);
                pick(
                    format!("{series} is back in stock (on hand {h})"),
                    format!("{series} est de nouveau en stock (en stock : {h})"),
                )
            }
            Msg::AlertLowStock { series, on_hand, reorder, threshold } => {
                let (h, t) = (plain(lang, *on_hand), plain(lang, *threshold));
                match (lang, reorder) {
                    (Lang::En, true) => format!("{series} is low: {h} on hand, reorder point {t}"),
                    (Lang::En, false) => format!("{series} is low: {h} on hand, safety level {t}"),
                    (Lang::Fr, true) => format!("{series} est bas : {h} en stock, point de commande {t}"),
                    (Lang::Fr, false) => format!("{series} est bas : {h} en stock, stock de sécurité {t}"),
                }
            }
            Msg::AlertStockAboveAgain { series, on_hand, reorder } => {
                let h = plain(lang, *on_hand);
                match (lang, reorder) {
                    (Lang::En, true) => format!("{series} is above its reorder point again: {h} on hand"),
                    (Lang::En, false) => format!("{series} is above its safety level again: {h} on hand"),
                    (Lang::Fr, true) => format!("{series} repasse au-dessus de son point de commande : {h} en stock"),
                    (Lang::Fr, false) => format!("{series} repasse au-dessus de son stock de sécurité : {h} en stock"),
                }
            }
            Msg::AlertPredictedStockout { series, probability, lead_days, on_hand, expected, runs_out } => {
                let (p, l) = (whole_pct(lang, *probability), plain(lang, *lead_days));
                let (h, e) = (plain(lang, *on_hand), plain(lang, *expected));
                let when = match (runs_out, lang) {
                    (None, _) => String::new(),
                    (Some((rate, date)), Lang::En) => {
                        format!("; at about {} a day it runs out around {date}", plain(lang, *rate))
                    }
                    (Some((rate, date)), Lang::Fr) => {
                        format!(" ; à environ {} par jour, rupture vers le {date}", plain(lang, *rate))
                    }
                };
                pick(
                    format!(
                        "{series}: {p} likely to run out before the {l}-day lead time ends: {h} on hand, about {e} expected to be asked for{when}"
                    ),
                    format!(
                        "{series} : {p} de risque de rupture avant la fin du délai de réapprovisionnement de {l} jours : {h} en stock, environ {e} de demande attendue{when}"
                    ),
                )
            }
            Msg::AlertStockCovers { series, probability, lead_days } => {
                let (p, l) = (whole_pct(lang, *probability), plain(lang, *lead_days));
                pick(
                    format!("{series}: on hand now covers the {l}-day lead time ({p} risk of running out)"),
                    format!("{series} : le stock couvre maintenant le délai de {l} jours ({p} de risque de rupture)"),
                )
            }
            Msg::AlertServiceRate { series, rate, window, threshold } => {
                let (r, t) = (whole_pct(lang, *rate), whole_pct(lang, *threshold));
                pick(
                    format!("{series}: {r} of requested units served over the last {window} buckets (threshold {t})"),
                    format!("{series} : {r} des unités demandées servies sur les {window} dernières tranches (seuil {t})"),
                )
            }
            Msg::AlertBudgetOverrun { series, spent, projected, budget } => {
                let (s_, p, b) = (plain(lang, *spent), plain(lang, *projected), plain(lang, *budget));
                pick(
                    format!("{series}: {s_} spent so far this period, {p} projected against a budget of {b}"),
                    format!("{series} : {s_} dépensés depuis le début de la période, {p} projetés pour un budget de {b}"),
                )
            }
            Msg::AlertBudgetWithin { series, projected, budget } => {
                let (p, b) = (plain(lang, *projected), plain(lang, *budget));
                pick(
                    format!("{series}: projected spend {p} is within the budget of {b}"),
                    format!("{series} : la dépense projetée de {p} reste dans le budget de {b}"),
                )
            }
            Msg::AlertNoData { series, kind, bucket, since, missed } => {
                let en = match kind {
                    SeriesKind::Stock => "sales",
                    SeriesKind::Spend => "spend",
                    SeriesKind::Metric => "values",
                };
                let fr = match kind {
                    SeriesKind::Stock => "aucune vente",
                    SeriesKind::Spend => "aucune dépense",
                    SeriesKind::Metric => "aucune valeur",
                };
                pick(
                    format!("{series}: no {en} after the {bucket} bucket of {since} ({missed} buckets missed)"),
                    format!("{series} : {fr} après la tranche {bucket} du {since} ({missed} tranches manquées)"),
                )
            }
            Msg::AlertDataAgain { series } => {
                pick(format!("{series}: data again"), format!("{series} : les données reviennent"))
            }
            Msg::FileUnreadable { file, detail } => {
                pick(format!("{file}: cannot read: {detail}"), format!("{file} : lecture impossible : {detail}"))
            }
            Msg::FileNoColumn { file, what, columns, flag, api } => {
                let param = match *flag {
                    "--ts-column" => "date_column",
                    "--value-column" => "value_column",
                    "--series-column" => "series_column",
                    other => other,
                };
                let what_fr = match *what {
                    "date/time" => "de date/heure",
                    "series" => "de série",
                    "value" => "de valeur",
                    other => other,
                };
                match (lang, api) {
                    (Lang::En, false) => {
                        format!("{file}: no {what} column found; the columns are {columns}. Name it with {flag}")
                    }
                    (Lang::En, true) => format!(
                        "{file}: no {what} column found; the columns are {columns}. Name it with the {param} query parameter"
                    ),
                    (Lang::Fr, false) => format!(
                        "{file} : aucune colonne {what_fr} trouvée ; les colonnes sont {columns}. Nommez-la avec {flag}"
                    ),
                    (Lang::Fr, true) => format!(
                        "{file} : aucune colonne {what_fr} trouvée ; les colonnes sont {columns}. Nommez-la avec le paramètre {param}"
                    ),
                }
            }
            Msg::FileCell { file, unit, line, column, problem } => {
                let unit_fr = match *unit {
                    "record" => "enregistrement",
                    _ => "ligne",
                };
                let p = problem.text(lang);
                pick(
                    format!("{file}, {unit} {line}, column \"{column}\": {p}"),
                    format!("{file}, {unit_fr} {line}, colonne « {column} » : {p}"),
                )
            }
            Msg::FileEmpty { file } => pick(format!("{file}: no data rows"), format!("{file} : aucune ligne de données")),
            Msg::Rejected { reason, field } => {
                let f = field.as_deref().unwrap_or("?");
                let fr = match reason {
                    RejectReason::InvalidJson => "ce n’est pas du JSON valide (ou il est tronqué)".to_string(),
                    RejectReason::NotAnObject => "un événement doit être un objet JSON".to_string(),
                    RejectReason::Oversize => "l’événement dépasse la taille permise".to_string(),
                    RejectReason::MissingField => format!("le champ « {f} » manque"),
                    RejectReason::UnknownField => format!("le champ « {f} » n’existe pas pour ce type d’événement"),
                    RejectReason::WrongType => format!("le champ « {f} » n’a pas le bon type"),
                    RejectReason::UnknownKind => "« kind » doit valoir « stock » ou « spend »".to_string(),
                    RejectReason::UnknownMovement => format!("le mouvement « {f} » n’est pas connu"),
                    RejectReason::UnknownVersion => "cette version de schéma n’est pas lue".to_string(),
                    RejectReason::NegativeQuantity => format!("« {f} » ne peut pas être négatif ici"),
                    RejectReason::NonFinite => format!("« {f} » n’est pas un nombre fini"),
                    RejectReason::BadTimestamp => format!("« {f} » n’est pas une date RFC 3339 (ex. 2025-01-31T08:00:00Z)"),
                    RejectReason::FutureTimestamp => format!("« {f} » est trop loin dans le futur"),
                    RejectReason::BadString => format!("le texte « {f} » est vide ou trop long"),
                    RejectReason::Late => "l’événement arrive après la fermeture de sa période".to_string(),
                    RejectReason::TenantMismatch => "l’événement nomme un autre client que celui de la clé".to_string(),
                };
                let code = reason.as_str();
                pick(format!("refused ({code}), field {f}"), format!("refusé ({code}) : {fr}"))
            }
        }
    }

    /// One message of each kind, for tests.
    pub fn samples() -> Vec<Msg> {
        let u = Unit::Months;
        vec![
            Msg::HorizonAuto { allowed: 12, unit: u, min: 3, max: 24, active: 36, total: 36, density: 1.0 },
            Msg::HorizonReduced { requested: 36, allowed: 12, unit: u, active: 36, total: 40, density: 0.9 },
            Msg::HorizonKept { requested: 36, allowed: 12, unit: u, active: 36, total: 40, density: 0.9 },
            Msg::HorizonAsRequested { validated: 6, unit: Unit::Days },
            Msg::SparseWarning { unit: Unit::Weeks, active: 3, total: 40, density: 0.075 },
            Msg::Deviation { value: 1420.5, expected: 1000.0, z: 2.14 },
            Msg::Deviation { value: 3.0, expected: 0.0, z: -1.5 },
            Msg::RowsSummed { rows: 108, buckets: 36, unit: u, filled: 2 },
            Msg::SeasonGiven { periods: vec![24, 168] },
            Msg::SeasonDetected { period: 7, unit: Unit::Points },
            Msg::NoSeason,
            Msg::SeasonDropped { periods: vec![12], unit: u, length: 18 },
            Msg::DemandClass { pattern: "lumpy", unit: Unit::Days, adi: 3.25, cv2: 0.61, sparse: true },
            Msg::ChosenByAicc { model: "ETS(A,N,N)".into() },
            Msg::Chosen {
                model: "MSTL".into(),
                rmse: 1234.5,
                holdout: 6,
                unit: Unit::Hours,
                others: vec![("ETS".into(), 1500.25)],
            },
            Msg::IntervalsEmpirical { level: 0.95, errors: 24 },
            Msg::IntervalsModel { level: 0.8 },
            Msg::AnomalyCount {
                found: 2,
                of: 30,
                unit: Unit::FiveMinutes,
                from: 1,
                sigma: 12.5,
                robust: true,
                intermittent: true,
            },
            Msg::TooShort { length: 2, unit: u },
            Msg::NoRows,
            Msg::SpanTooWide {
                span: 9000,
                unit: Unit::Days,
                rows: 20,
                first: "2020-01-01".into(),
                last: "2044-08-23".into(),
            },
            Msg::InternalForecastError,
            Msg::HorizonAndMonths,
            Msg::HorizonOutOfBounds,
            Msg::LevelOutOfBounds,
            Msg::UnknownBucket { given: "2h".into() },
            Msg::BadSeason { given: "douze".into() },
            Msg::UnknownAnomalyLevel { given: "all".into() },
            Msg::UnknownLang { given: "wo".into() },
            Msg::NothingForecast { file: "d.csv".into(), series: "x".into(), why: "…".into() },
            Msg::ApiUnauthorized,
            Msg::ApiBadTime { name: "from".into(), given: "hier".into() },
            Msg::ApiBadLimit { given: "0".into(), max: 1000 },
            Msg::ApiBadCursor,
            Msg::ApiUnknownParameter { name: "sevrity".into() },
            Msg::ApiNoRoute,
            Msg::ApiMethodNotAllowed,
            Msg::ApiNoSeries { key: "DKR-01/RIZ".into() },
            Msg::ApiTooLarge { mb: 50 },
            Msg::ApiUnsupportedMedia { given: "text/csv".into() },
            Msg::ApiPipelineFull,
            Msg::ApiBrokerUnavailable,
            Msg::ApiInternal,
            Msg::ApiRateLimited { seconds: 3 },
            Msg::ApiBadQuery { detail: "x".into() },
            Msg::ApiBadPath { detail: "x".into() },
            Msg::ApiBadBody { detail: "x".into() },
            Msg::ApiNotMultipart { detail: "x".into() },
            Msg::ApiUploadUnreadable { detail: "x".into() },
            Msg::ApiNoFile,
            Msg::ApiBadSeverity { given: "grave".into() },
            Msg::ApiBadDeliveryStatus { given: "envoyé".into() },
            Msg::ApiNoForecast { id: "fc_1".into() },
            Msg::ApiNoKey { id: "k1".into() },
            Msg::ApiNoSilence { id: "sil_1".into() },
            Msg::ApiNoReceiver { name: "wa".into() },
            Msg::ApiNoModelYet { key: "E1".into() },
            Msg::ApiKeyOtherTenant,
            Msg::ApiTenantName,
            Msg::ApiBadExpiry { given: "demain".into() },
            Msg::ApiPastExpiry { at: "2020-01-01T00:00:00Z".into() },
            Msg::ApiNoForecaster,
            Msg::ApiNoIngest,
            Msg::ApiNoNotify,
            Msg::ApiNotRunning,
            Msg::ApiForecastFailed,
            Msg::ApiNotifyStorage,
            Msg::BodyNotUtf8 { detail: "x".into() },
            Msg::BodyEmpty,
            Msg::BodyNotEvents { what: "a number" },
            Msg::BodyNotJson { detail: "x".into() },
            Msg::SilenceNoMatcher,
            Msg::SilenceEmptyName,
            Msg::SilenceBadRegex { name: "series".into(), value: "(".into(), detail: "x".into() },
            Msg::SilenceBadTime { field: "ends_at", given: "demain".into() },
            Msg::SilenceEndsBefore,
            Msg::HorizonLine("3".into()),
            Msg::WarningLine("…".into()),
            Msg::Anomaly { kind: SeriesKind::Spend, actual: 5000.0, expected: 3000.5 },
            Msg::AlertSpendAnomaly {
                series: "E1".into(),
                kind: SeriesKind::Spend,
                actual: 5.5,
                expected: 3.0,
                sigma: 2.5,
            },
            Msg::AlertSpendBack { series: "E1".into() },
            Msg::AlertOutOfStock { series: "S/A".into(), on_hand: 0.0 },
            Msg::AlertBackInStock { series: "S/A".into(), on_hand: 12.5 },
            Msg::AlertLowStock { series: "S/A".into(), on_hand: 3.5, reorder: true, threshold: 10.0 },
            Msg::AlertStockAboveAgain { series: "S/A".into(), on_hand: 30.0, reorder: false },
            Msg::AlertPredictedStockout {
                series: "S/A".into(),
                probability: 0.42,
                lead_days: 7.0,
                on_hand: 4.0,
                expected: 10.5,
                runs_out: Some((1.5, "2025-03-02".into())),
            },
            Msg::AlertStockCovers { series: "S/A".into(), probability: 0.01, lead_days: 7.0 },
            Msg::AlertServiceRate { series: "S/A".into(), rate: 0.8, window: 28, threshold: 0.95 },
            Msg::AlertBudgetOverrun { series: "E1".into(), spent: 900.0, projected: 1250.5, budget: 1000.0 },
            Msg::AlertBudgetWithin { series: "E1".into(), projected: 950.0, budget: 1000.0 },
            Msg::AlertNoData {
                series: "S/A".into(),
                kind: SeriesKind::Stock,
                bucket: "1d".into(),
                since: "2025-03-01T00:00:00Z".into(),
                missed: 3,
            },
            Msg::AlertDataAgain { series: "S/A".into() },
            Msg::Rejected { reason: RejectReason::MissingField, field: Some("sku".into()) },
            Msg::FileUnreadable { file: "d.csv".into(), detail: "…".into() },
            Msg::FileNoColumn {
                file: "d.csv".into(),
                what: "date/time",
                columns: "\"a\"".into(),
                flag: "--ts-column",
                api: true,
            },
            Msg::FileCell {
                file: "d.csv".into(),
                unit: "line",
                line: 3,
                column: "montant".into(),
                problem: FileProblem::NotNumber("trois".into()),
            },
            Msg::FileEmpty { file: "d.csv".into() },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_written_in_both_languages() {
        let samples = Msg::samples();
        // One sample of each variant (the discriminants of the list cover the enum).
        let kinds: std::collections::BTreeSet<String> =
            samples.iter().map(|m| format!("{m:?}").split(['{', '(', ' ']).next().unwrap().to_string()).collect();
        assert_eq!(kinds.len(), 96, "a sample of every message: {kinds:?}");
        // Every file problem reads in both languages too.
        for p in [
            FileProblem::Csv("x".into()),
            FileProblem::NotIndex("x".into()),
            FileProblem::NotDate("x".into()),
            FileProblem::NotNumber("x".into()),
            FileProblem::DamagedWorkbook,
            FileProblem::NotWorkbook("x".into()),
            FileProblem::NoSheet,
            FileProblem::SheetUnreadable("x".into()),
            FileProblem::NotJson("x".into()),
            FileProblem::NoRowsArray,
            FileProblem::NotAnArray,
            FileProblem::NotARowObject,
            FileProblem::Parquet("x".into()),
        ] {
            assert_ne!(p.text(Lang::En), p.text(Lang::Fr), "{p:?}");
        }
        for m in &samples {
            let (en, fr) = (m.text(Lang::En), m.text(Lang::Fr));
            assert!(!en.is_empty() && !fr.is_empty(), "{m:?}");
            assert_ne!(en, fr, "{m:?} is not translated");
            // French takes the decimal comma, never a decimal point between digits.
            let b = fr.as_bytes();
            assert!(
                !(1..b.len().saturating_sub(1))
                    .any(|i| b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())
                    || fr.contains("20") && fr.contains('-'),
                "{fr}"
            );
        }
    }

    #[test]
    fn numbers_and_languages_read_as_people_write_them() {
        assert_eq!(number(Lang::En, 1420.5, 2), "1420.5");
        assert_eq!(number(Lang::Fr, 1420.5, 2), "1\u{202f}420,5");
        assert_eq!(number(Lang::Fr, -1234567.0, 2), "-1\u{202f}234\u{202f}567");
        assert_eq!(number(Lang::Fr, 0.004, 2), "0");
        assert_eq!(number(Lang::Fr, 2.14, 1), "2,1");
        assert_eq!((fixed(Lang::En, 2.0, 1), fixed(Lang::Fr, 2.0, 1)), ("2.0".into(), "2,0".into()));
        assert_eq!(
            Msg::Deviation { value: 1420.0, expected: 1000.0, z: 2.14 }.text(Lang::Fr),
            "42\u{a0}% au-dessus de l’attendu (1\u{202f}420 contre 1\u{202f}000 ; 2,1σ)"
        );
        assert_eq!(
            Msg::Deviation { value: 1420.0, expected: 1000.0, z: 2.14 }.text(Lang::En),
            "42% above expected (1420 against 1000; 2.1σ)"
        );
        assert_eq!(Lang::from_accept_language("fr-SN,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,fr;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, fr;q=0.5"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de"), None);
        assert_eq!(Lang::from_accept_language("fr;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(Lang::parse("FR_ma"), Some(Lang::Fr));
    }
}
