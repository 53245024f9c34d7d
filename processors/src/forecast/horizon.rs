//! The horizon rule, carried over from the users' earlier system: a series
//! can be forecast about a third as far ahead as it has active (non-zero)
//! buckets, within configurable bounds. Asking for more is reduced, and the
//! reason is stated in words people can act on.

use serde::Serialize;
use vigie_schemas::i18n::{Lang, Msg, Unit};

/// Bounds of the safe horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HorizonBounds {
    /// Smallest safe horizon.
    pub min: usize,
    /// Largest safe horizon.
    pub max: usize,
}

impl Default for HorizonBounds {
    fn default() -> Self {
        Self { min: 3, max: 24 }
    }
}

/// Density under which a warning is given.
pub const SPARSE_DENSITY: f64 = 0.20;

/// Who chose the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HorizonMode {
    /// None was asked: the safe horizon of the history.
    Auto,
    /// The caller asked for one.
    User,
}

/// What was decided for one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HorizonDecision {
    /// `auto` (none asked: the safe horizon) or `user`.
    pub mode: HorizonMode,
    /// Steps asked for; `null` in auto mode.
    pub requested: Option<usize>,
    /// Steps produced.
    pub validated: usize,
    /// Steps the rule allows.
    pub allowed: usize,
    /// Buckets with a value > 0.
    pub active: usize,
    /// All buckets.
    pub total: usize,
    /// active / total.
    pub density: f64,
    /// Why the horizon was reduced (or would have been, with an exact horizon).
    pub reason: Option<String>,
    /// A warning about sparse data.
    pub warning: Option<String>,
}

/// Applies the rule to `history`, `unit` being one bucket. Without a
/// requested horizon (auto mode) the safe horizon is used and the reason
/// says how it was found. With `exact`, the requested horizon is produced as
/// is and the reason still says what the rule would have allowed. Reasons
/// and warnings are written in `lang`.
pub fn decide(
    history: &[f64],
    requested: Option<usize>,
    bounds: HorizonBounds,
    exact: bool,
    unit: Unit,
    lang: Lang,
) -> HorizonDecision {
    let total = history.len();
    let active = history.iter().filter(|v| **v > 0.0).count();
    let density = if total == 0 { 0.0 } else { active as f64 / total as f64 };
    let (min, max) = (bounds.min, bounds.max.max(bounds.min));
    let allowed = (active / 3).clamp(min, max);
    let warning = (density < SPARSE_DENSITY).then(|| Msg::SparseWarning { unit, active, total, density }.text(lang));
    let Some(requested) = requested else {
        let reason = Msg::HorizonAuto { allowed, unit, min, max, active, total, density }.text(lang);
        return HorizonDecision {
            mode: HorizonMode::Auto,
            requested: None,
            validated: allowed,
            allowed,
            active,
            total,
            density,
            reason: Some(reason),
            warning,
        };
    };
    let (validated, reason) = if requested > allowed {
        if exact {
            (requested, Some(Msg::HorizonKept { requested, allowed, unit, active, total, density }.text(lang)))
        } else {
            (allowed, Some(Msg::HorizonReduced { requested, allowed, unit, active, total, density }.text(lang)))
        }
    } else {
        (requested, None)
    };
    HorizonDecision {
        mode: HorizonMode::User,
        requested: Some(requested),
        validated,
        allowed,
        active,
        total,
        density,
        reason,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_and_says_why() {
        let mut h = vec![0.0; 72];
        for v in h.iter_mut().step_by(3) {
            *v = 5.0;
        }
        let d = decide(&h, Some(36), HorizonBounds::default(), false, Unit::Months, Lang::En);
        assert_eq!((d.active, d.allowed, d.validated), (24, 8, 8));
        assert_eq!(d.reason.as_deref(), Some("36 requested, 8 allowed: 24 active months of 72; density 33%"));
        assert!(d.warning.is_none());
    }

    #[test]
    fn exact_keeps_the_request_and_still_warns() {
        let mut h = vec![0.0; 100];
        h[..10].iter_mut().for_each(|v| *v = 1.0);
        let d = decide(&h, Some(48), HorizonBounds::default(), true, Unit::Hours, Lang::En);
        assert_eq!(d.validated, 48);
        assert_eq!(d.allowed, 3);
        assert!(d.reason.unwrap().contains("exact horizon"));
        assert!(d.warning.unwrap().contains("10%"));
    }

    #[test]
    fn without_a_horizon_the_safe_one_is_used_and_explained() {
        let h = vec![1.0; 36];
        let d = decide(&h, None, HorizonBounds::default(), false, Unit::Months, Lang::En);
        assert_eq!((d.mode, d.requested, d.validated, d.allowed), (HorizonMode::Auto, None, 12, 12));
        assert_eq!(
            d.reason.as_deref(),
            Some(
                "no horizon given: 12 months, a third of the active months within 3 to 24 (36 active months of 36; density 100%)"
            )
        );
        // Bounded: a long history stops at the largest safe horizon.
        assert_eq!(decide(&[1.0; 300], None, HorizonBounds::default(), false, Unit::Days, Lang::En).validated, 24);
        assert_eq!(decide(&[1.0; 5], None, HorizonBounds::default(), false, Unit::Days, Lang::En).validated, 3);
    }

    #[test]
    fn within_the_rule_nothing_changes() {
        let h = vec![1.0; 90];
        let d = decide(&h, Some(12), HorizonBounds::default(), false, Unit::Days, Lang::En);
        assert_eq!((d.validated, d.allowed), (12, 24));
        assert!(d.reason.is_none());
    }
}
