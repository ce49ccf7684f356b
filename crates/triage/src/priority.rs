//! Worklist priority: the order in which a clinician is shown analysed recordings.
//!
//! Flagged cases first; among them and among the rest, murmurs higher by their grade (20 a
//! grade) and the engine's confidence (up to 50); recordings the engine could not judge above
//! clean normals (someone must record them again); a failed analysis above routine and below
//! flagged.

use crate::findings::MurmurCall;

/// A worklist priority: higher is shown first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub i64);

impl Priority {
    /// A case whose analysis failed: above routine, below flagged.
    pub const FAILED: Priority = Priority(500);
}

/// What the priority looks at in an analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisSummary {
    /// The engine flagged the recording for review.
    pub flagged: bool,
    /// The murmur call (`None` when the stored call is not one the rules know).
    pub murmur: Option<MurmurCall>,
    /// Levine grade of a murmur heard.
    pub grade: Option<u8>,
    /// The engine's confidence in its murmur call, 0..1 (clamped).
    pub confidence: f32,
}

/// The worklist priority of an analysed recording.
pub fn priority(a: &AnalysisSummary) -> Priority {
    let mut p = 0i64;
    if a.flagged {
        p += 1000;
    }
    match a.murmur {
        Some(MurmurCall::Present) => {
            p += 100 + i64::from(a.grade.unwrap_or(0)) * 20;
            // Confidence is clamped to 0..1, so the product is 0..=50.
            #[allow(clippy::cast_possible_truncation)]
            let c = (a.confidence.clamp(0.0, 1.0) * 50.0).round() as i64;
            p += c;
        }
        Some(MurmurCall::Unknown) => p += 50,
        Some(MurmurCall::Absent) | None => {}
    }
    Priority(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(flagged: bool, murmur: Option<MurmurCall>, grade: Option<u8>, c: f32) -> Priority {
        priority(&AnalysisSummary {
            flagged,
            murmur,
            grade,
            confidence: c,
        })
    }

    #[test]
    fn known_answers() {
        use MurmurCall::*;
        assert_eq!(summary(false, Some(Absent), None, 0.9), Priority(0));
        assert_eq!(summary(false, None, None, 0.9), Priority(0));
        assert_eq!(summary(false, Some(Unknown), None, 0.2), Priority(50));
        // 100 + grade 3 × 20 + round(0.81 × 50) = 100 + 60 + 41.
        assert_eq!(summary(false, Some(Present), Some(3), 0.81), Priority(201));
        assert_eq!(summary(true, Some(Present), Some(2), 1.0), Priority(1190));
        assert_eq!(summary(true, Some(Absent), None, 1.0), Priority(1000));
    }

    #[test]
    fn confidence_outside_zero_to_one_is_clamped() {
        use MurmurCall::Present;
        assert_eq!(summary(false, Some(Present), None, 7.0), Priority(150));
        assert_eq!(summary(false, Some(Present), None, -3.0), Priority(100));
        assert_eq!(summary(false, Some(Present), None, f32::NAN), Priority(100));
    }

    #[test]
    fn the_order_puts_flags_first_and_failures_between() {
        use MurmurCall::*;
        let loudest_unflagged = summary(false, Some(Present), Some(6), 1.0);
        let quietest_flagged = summary(true, Some(Absent), None, 0.0);
        let unjudgeable = summary(false, Some(Unknown), None, 0.0);
        let normal = summary(false, Some(Absent), None, 1.0);
        assert!(quietest_flagged > Priority::FAILED);
        assert!(Priority::FAILED > loudest_unflagged);
        assert!(loudest_unflagged > unjudgeable);
        assert!(unjudgeable > normal);
        // A grade is worth 20, full confidence 50.
        assert_eq!(
            summary(false, Some(Present), Some(2), 1.0).0
                - summary(false, Some(Present), Some(1), 1.0).0,
            20
        );
    }
}
