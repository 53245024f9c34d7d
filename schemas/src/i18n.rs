//! The message catalogue: every sentence vigie says to people in more than
//! one language, English and French, in one place. A message is a value of
//! [`Msg`] with its figures; [`Msg::text`] writes it in a [`Lang`]. Each
//! variant gives both languages in the same match arm, so a message cannot
//! exist in one language only, and code paths build a `Msg`, never a
//! sentence. French numbers take the decimal comma and a narrow no-break
//! space between thousands ([`number`]).

/// A language vigie speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
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
    /// An explanation line about the horizon (its reason, already in the language).
    HorizonLine(String),
    /// A warning line (the warning, already in the language).
    WarningLine(String),
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
            Msg::HorizonLine(m) => pick(format!("horizon: {m}"), format!("horizon : {m}")),
            Msg::WarningLine(m) => pick(format!("warning: {m}"), format!("avertissement : {m}")),
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
            Msg::HorizonLine("3".into()),
            Msg::WarningLine("…".into()),
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
        assert_eq!(kinds.len(), 45, "a sample of every message: {kinds:?}");
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
