//! Point-of-care blood results of a check-up visit (the fingertip test: HbA1c, glucose, total
//! and HDL cholesterol, triglycerides): each analyte defined once, with its unit, LOINC code,
//! names, the bounds of a value a device can report, the adult reference range, and how an
//! out-of-range value weighs on the visit's outcome.
//!
//! Units follow Japanese practice: HbA1c in NGSP % and everything else in mg/dL (both are also
//! the UCUM codes). A value outside [`Analyte::plausible`] is refused as impossible, never
//! classified. Glucose and triglycerides depend on whether the sample was taken fasting (at
//! least 10 hours without food): the result records it and the range follows it.
//!
//! Sources of the ranges (adults, sex-independent decision limits rather than the laboratory
//! statistical intervals, which are sex-specific):
//! - HbA1c 4.6–6.2 %: the Japan Diabetes Society's (JDS) normal range in NGSP units; ≥ 6.5 % is
//!   the diabetes range (JDS 2010 diagnostic criteria; ADA Standards of Care).
//! - Glucose fasting 70–109 mg/dL (JDS: normal fasting < 110; diabetes range ≥ 126, JDS and
//!   ADA); non-fasting (casual) 70–139 mg/dL (the 2-hour OGTT normal limit, < 140; diabetes range
//!   ≥ 200, JDS and ADA). Below 70 mg/dL is hypoglycaemia (ADA level 1).
//! - Total cholesterol 120–219 mg/dL: ≥ 220 is the Japan Atherosclerosis Society's (JAS 2007)
//!   hypercholesterolaemia level; below 120 the usual hypocholesterolaemia cut-off (in older
//!   residents often a sign of undernutrition).
//! - HDL cholesterol ≥ 40 mg/dL: below 40 is low HDL (JAS Guidelines 2022, NCEP ATP III). A high
//!   HDL is not abnormal here, so its range has no upper limit.
//! - Triglycerides fasting ≤ 149 mg/dL, non-fasting ≤ 174 mg/dL: hypertriglyceridaemia is
//!   ≥ 150 fasting and ≥ 175 non-fasting (JAS Guidelines 2022). A low value is not abnormal.
//!
//! The outcome rule ([`LabResult::weight`]): HbA1c or glucose in the diabetes range refers;
//! any other value outside its reference range asks for follow-up.
//!
//! Pure: no I/O, no clock, no serialization types.

use std::fmt;

/// One analyte of the point-of-care blood test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Analyte {
    /// Glycated haemoglobin, NGSP %.
    HbA1c,
    /// Glucose in capillary blood, mg/dL (plasma-equivalent, as meters report it).
    Glucose,
    /// Total cholesterol, mg/dL.
    TotalCholesterol,
    /// HDL cholesterol, mg/dL.
    HdlCholesterol,
    /// Triglycerides, mg/dL.
    Triglycerides,
}

/// The unit an analyte is entered and reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabUnit {
    /// Percent (HbA1c, NGSP).
    Percent,
    /// Milligrams per decilitre.
    MgPerDl,
}

impl LabUnit {
    /// The unit as people write it and as its UCUM code (`%`, `mg/dL`).
    pub fn as_str(self) -> &'static str {
        match self {
            LabUnit::Percent => "%",
            LabUnit::MgPerDl => "mg/dL",
        }
    }
}

impl fmt::Display for LabUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Analyte {
    /// All five, in the order of the report and the forms.
    pub const ALL: [Analyte; 5] = [
        Analyte::HbA1c,
        Analyte::Glucose,
        Analyte::TotalCholesterol,
        Analyte::HdlCholesterol,
        Analyte::Triglycerides,
    ];

    /// The stable name (`hba1c`, `glucose`, `total_cholesterol`, `hdl_cholesterol`,
    /// `triglycerides`), as the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Analyte::HbA1c => "hba1c",
            Analyte::Glucose => "glucose",
            Analyte::TotalCholesterol => "total_cholesterol",
            Analyte::HdlCholesterol => "hdl_cholesterol",
            Analyte::Triglycerides => "triglycerides",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Analyte> {
        Analyte::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Its place in [`Analyte::ALL`].
    pub fn index(self) -> usize {
        match self {
            Analyte::HbA1c => 0,
            Analyte::Glucose => 1,
            Analyte::TotalCholesterol => 2,
            Analyte::HdlCholesterol => 3,
            Analyte::Triglycerides => 4,
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> LabUnit {
        match self {
            Analyte::HbA1c => LabUnit::Percent,
            _ => LabUnit::MgPerDl,
        }
    }

    /// The LOINC code.
    ///
    /// Glucose is coded 41653-7 (capillary blood by glucometer), not 2345-7 (serum or plasma):
    /// the sample is a fingertip drop on a point-of-care meter, and the code should say so.
    /// Meters report plasma-equivalent values, so the plasma decision limits apply. The lipid
    /// codes are the serum/plasma ones the point-of-care lipid analysers report equivalents of;
    /// HbA1c 4548-4 is measured in whole blood whatever the device.
    pub fn loinc(self) -> &'static str {
        match self {
            Analyte::HbA1c => "4548-4",
            Analyte::Glucose => "41653-7",
            Analyte::TotalCholesterol => "2093-3",
            Analyte::HdlCholesterol => "2085-9",
            Analyte::Triglycerides => "2571-8",
        }
    }

    /// The LOINC long common name.
    pub fn loinc_display(self) -> &'static str {
        match self {
            Analyte::HbA1c => "Hemoglobin A1c/Hemoglobin.total in Blood",
            Analyte::Glucose => "Glucose [Mass/volume] in Capillary blood by Glucometer",
            Analyte::TotalCholesterol => "Cholesterol [Mass/volume] in Serum or Plasma",
            Analyte::HdlCholesterol => "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
            Analyte::Triglycerides => "Triglyceride [Mass/volume] in Serum or Plasma",
        }
    }

    /// The name in English, as a clinician reads it.
    pub fn name_en(self) -> &'static str {
        match self {
            Analyte::HbA1c => "HbA1c",
            Analyte::Glucose => "Glucose",
            Analyte::TotalCholesterol => "Total cholesterol",
            Analyte::HdlCholesterol => "HDL cholesterol",
            Analyte::Triglycerides => "Triglycerides",
        }
    }

    /// The name in Japanese, as on a Japanese check-up form.
    pub fn name_ja(self) -> &'static str {
        match self {
            Analyte::HbA1c => "HbA1c",
            Analyte::Glucose => "血糖",
            Analyte::TotalCholesterol => "総コレステロール",
            Analyte::HdlCholesterol => "HDLコレステロール",
            Analyte::Triglycerides => "中性脂肪",
        }
    }

    /// The values a device can report, inclusive: anything outside is a typing or unit mistake
    /// (e.g. glucose in mmol/L) and is refused. Wider than the devices' measuring ranges, so a
    /// real extreme value is never refused.
    pub fn plausible(self) -> (f64, f64) {
        match self {
            Analyte::HbA1c => (2.0, 20.0),
            Analyte::Glucose => (10.0, 1000.0),
            Analyte::TotalCholesterol => (30.0, 1000.0),
            Analyte::HdlCholesterol => (5.0, 200.0),
            Analyte::Triglycerides => (10.0, 5000.0),
        }
    }

    /// The adult reference range (see the module documentation for the sources). Only glucose
    /// and triglycerides depend on `fasting`.
    pub fn reference_range(self, fasting: bool) -> ReferenceRange {
        let range = |low, high| ReferenceRange { low, high };
        match (self, fasting) {
            (Analyte::HbA1c, _) => range(Some(4.6), Some(6.2)),
            (Analyte::Glucose, true) => range(Some(70.0), Some(109.0)),
            (Analyte::Glucose, false) => range(Some(70.0), Some(139.0)),
            (Analyte::TotalCholesterol, _) => range(Some(120.0), Some(219.0)),
            (Analyte::HdlCholesterol, _) => range(Some(40.0), None),
            (Analyte::Triglycerides, true) => range(None, Some(149.0)),
            (Analyte::Triglycerides, false) => range(None, Some(174.0)),
        }
    }

    /// The value from which a result refers (the diabetes range of HbA1c and glucose), if the
    /// analyte has one.
    pub fn refer_from(self, fasting: bool) -> Option<f64> {
        match (self, fasting) {
            (Analyte::HbA1c, _) => Some(6.5),
            (Analyte::Glucose, true) => Some(126.0),
            (Analyte::Glucose, false) => Some(200.0),
            _ => None,
        }
    }

    /// Whether the fasting state changes this analyte's range.
    pub fn depends_on_fasting(self) -> bool {
        matches!(self, Analyte::Glucose | Analyte::Triglycerides)
    }
}

impl fmt::Display for Analyte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_en())
    }
}

/// A reference range, both ends inclusive; a missing end is no limit on that side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceRange {
    /// The lowest normal value.
    pub low: Option<f64>,
    /// The highest normal value.
    pub high: Option<f64>,
}

impl ReferenceRange {
    /// Where `value` falls.
    pub fn classify(&self, value: f64) -> Classification {
        if self.low.is_some_and(|low| value < low) {
            Classification::Low
        } else if self.high.is_some_and(|high| value > high) {
            Classification::High
        } else {
            Classification::Normal
        }
    }
}

impl fmt::Display for ReferenceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.low, self.high) {
            (Some(low), Some(high)) => write!(f, "{low}–{high}"),
            (Some(low), None) => write!(f, "≥ {low}"),
            (None, Some(high)) => write!(f, "≤ {high}"),
            (None, None) => f.write_str("any"),
        }
    }
}

/// Where a result falls against its reference range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// Below the range.
    Low,
    /// Within the range.
    Normal,
    /// Above the range.
    High,
}

impl Classification {
    /// The stable name (`low`, `normal`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Low => "low",
            Classification::Normal => "normal",
            Classification::High => "high",
        }
    }
}

/// How a result weighs on the visit's proposed outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabWeight {
    /// In range: nothing to act on.
    None,
    /// Out of range: follow up.
    FollowUp,
    /// In the diabetes range: refer.
    Refer,
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The analyte's stable name is not known.
    #[error(
        "unknown analyte {0:?}: expected hba1c, glucose, total_cholesterol, hdl_cholesterol or triglycerides"
    )]
    UnknownAnalyte(String),
    /// The value is NaN or infinite.
    #[error("{analyte} is not a number")]
    NotFinite {
        /// The analyte.
        analyte: Analyte,
    },
    /// The value is outside what a device can report.
    #[error("{analyte} {value} {unit} is impossible: expected {min} to {max} {unit}")]
    Implausible {
        /// The analyte.
        analyte: Analyte,
        /// The value given.
        value: f64,
        /// Its unit.
        unit: LabUnit,
        /// The lowest value accepted.
        min: f64,
        /// The highest value accepted.
        max: f64,
    },
    /// The unit given is not the analyte's.
    #[error("{analyte} is entered in {expected}, not {given:?}")]
    WrongUnit {
        /// The analyte.
        analyte: Analyte,
        /// Its unit.
        expected: LabUnit,
        /// The unit given.
        given: String,
    },
}

/// One checked point-of-care result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabResult {
    analyte: Analyte,
    value: f64,
    fasting: bool,
}

impl LabResult {
    /// A result, refused when the value is not finite or not plausible for the analyte.
    pub fn new(analyte: Analyte, value: f64, fasting: bool) -> Result<LabResult, LabError> {
        if !value.is_finite() {
            return Err(LabError::NotFinite { analyte });
        }
        let (min, max) = analyte.plausible();
        if !(min..=max).contains(&value) {
            return Err(LabError::Implausible {
                analyte,
                value,
                unit: analyte.unit(),
                min,
                max,
            });
        }
        Ok(LabResult {
            analyte,
            value,
            fasting,
        })
    }

    /// A result whose unit is given as typed (`%`, `mg/dL`; letter case does not matter):
    /// refused when it is not the analyte's unit.
    pub fn with_unit(
        analyte: Analyte,
        value: f64,
        unit: &str,
        fasting: bool,
    ) -> Result<LabResult, LabError> {
        let expected = analyte.unit();
        if !unit.trim().eq_ignore_ascii_case(expected.as_str()) {
            return Err(LabError::WrongUnit {
                analyte,
                expected,
                given: unit.chars().take(20).collect(),
            });
        }
        LabResult::new(analyte, value, fasting)
    }

    /// The analyte.
    pub fn analyte(&self) -> Analyte {
        self.analyte
    }

    /// The value, in the analyte's unit.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Whether the sample was taken fasting.
    pub fn fasting(&self) -> bool {
        self.fasting
    }

    /// The reference range that applies to this sample.
    pub fn reference_range(&self) -> ReferenceRange {
        self.analyte.reference_range(self.fasting)
    }

    /// Low, normal or high.
    pub fn classify(&self) -> Classification {
        self.reference_range().classify(self.value)
    }

    /// How it weighs on the visit's outcome: refer in the diabetes range, follow up when
    /// otherwise out of range.
    pub fn weight(&self) -> LabWeight {
        if self
            .analyte
            .refer_from(self.fasting)
            .is_some_and(|from| self.value >= from)
        {
            LabWeight::Refer
        } else if self.classify() == Classification::Normal {
            LabWeight::None
        } else {
            LabWeight::FollowUp
        }
    }

    /// Why it weighs, in words a clinician reads, e.g. "HbA1c 7.1 % (≥ 6.5)" or
    /// "Triglycerides 180 mg/dL (> 149, fasting)"; `None` when it does not.
    pub fn reason(&self) -> Option<String> {
        let limit = match self.weight() {
            LabWeight::None => return None,
            LabWeight::Refer => format!("≥ {}", self.analyte.refer_from(self.fasting)?),
            LabWeight::FollowUp => {
                let range = self.reference_range();
                match self.classify() {
                    Classification::Low => format!("< {}", range.low?),
                    Classification::High => format!("> {}", range.high?),
                    Classification::Normal => return None,
                }
            }
        };
        let fasting = match (self.analyte.depends_on_fasting(), self.fasting) {
            (false, _) => "",
            (true, true) => ", fasting",
            (true, false) => ", non-fasting",
        };
        Some(format!(
            "{} {} {} ({limit}{fasting})",
            self.analyte.name_en(),
            self.value,
            self.analyte.unit()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(a: Analyte, v: f64, fasting: bool) -> LabResult {
        LabResult::new(a, v, fasting).expect("a plausible value")
    }

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        for (i, a) in Analyte::ALL.into_iter().enumerate() {
            assert_eq!(Analyte::parse(a.as_str()), Some(a));
            assert_eq!(a.index(), i);
        }
        assert_eq!(Analyte::parse("ldl_cholesterol"), None);
        assert_eq!(Analyte::parse("HbA1c"), None);
    }

    #[test]
    fn codes_and_units_are_the_standard_ones() {
        let codes: Vec<_> = Analyte::ALL.iter().map(|a| a.loinc()).collect();
        assert_eq!(codes, ["4548-4", "41653-7", "2093-3", "2085-9", "2571-8"]);
        assert_eq!(Analyte::HbA1c.unit().as_str(), "%");
        for a in &Analyte::ALL[1..] {
            assert_eq!(a.unit().as_str(), "mg/dL");
        }
        assert_eq!(Analyte::Triglycerides.name_ja(), "中性脂肪");
    }

    #[test]
    fn hba1c_refers_from_the_diabetes_range() {
        assert_eq!(r(Analyte::HbA1c, 5.4, false).weight(), LabWeight::None);
        assert_eq!(
            r(Analyte::HbA1c, 6.2, false).classify(),
            Classification::Normal
        );
        let pre = r(Analyte::HbA1c, 6.3, false);
        assert_eq!(pre.classify(), Classification::High);
        assert_eq!(pre.weight(), LabWeight::FollowUp);
        assert_eq!(pre.reason().as_deref(), Some("HbA1c 6.3 % (> 6.2)"));
        let diabetes = r(Analyte::HbA1c, 7.1, true);
        assert_eq!(diabetes.weight(), LabWeight::Refer);
        assert_eq!(diabetes.reason().as_deref(), Some("HbA1c 7.1 % (≥ 6.5)"));
        assert_eq!(r(Analyte::HbA1c, 6.5, false).weight(), LabWeight::Refer);
        assert_eq!(
            r(Analyte::HbA1c, 4.4, false).classify(),
            Classification::Low
        );
    }

    #[test]
    fn glucose_ranges_follow_the_fasting_state() {
        // 130 mg/dL: the diabetes range fasting, merely high after a meal.
        let fasting = r(Analyte::Glucose, 130.0, true);
        assert_eq!(fasting.weight(), LabWeight::Refer);
        assert_eq!(
            fasting.reason().as_deref(),
            Some("Glucose 130 mg/dL (≥ 126, fasting)")
        );
        let casual = r(Analyte::Glucose, 130.0, false);
        assert_eq!(casual.classify(), Classification::Normal);
        assert_eq!(casual.weight(), LabWeight::None);
        assert_eq!(
            r(Analyte::Glucose, 150.0, false).weight(),
            LabWeight::FollowUp
        );
        assert_eq!(r(Analyte::Glucose, 200.0, false).weight(), LabWeight::Refer);
        assert_eq!(
            r(Analyte::Glucose, 115.0, true).weight(),
            LabWeight::FollowUp
        );
        let hypo = r(Analyte::Glucose, 62.0, true);
        assert_eq!(hypo.classify(), Classification::Low);
        assert_eq!(
            hypo.reason().as_deref(),
            Some("Glucose 62 mg/dL (< 70, fasting)")
        );
    }

    #[test]
    fn lipids_flag_the_abnormal_side_only() {
        assert_eq!(
            r(Analyte::TotalCholesterol, 240.0, true).classify(),
            Classification::High
        );
        assert_eq!(
            r(Analyte::TotalCholesterol, 110.0, true).classify(),
            Classification::Low
        );
        let low_hdl = r(Analyte::HdlCholesterol, 35.0, false);
        assert_eq!(low_hdl.weight(), LabWeight::FollowUp);
        assert_eq!(
            low_hdl.reason().as_deref(),
            Some("HDL cholesterol 35 mg/dL (< 40)")
        );
        assert_eq!(
            r(Analyte::HdlCholesterol, 120.0, false).classify(),
            Classification::Normal
        );
        // 160 mg/dL is hypertriglyceridaemia fasting, normal after a meal.
        assert_eq!(
            r(Analyte::Triglycerides, 160.0, true).classify(),
            Classification::High
        );
        assert_eq!(
            r(Analyte::Triglycerides, 160.0, false).classify(),
            Classification::Normal
        );
        assert_eq!(
            r(Analyte::Triglycerides, 12.0, true).classify(),
            Classification::Normal
        );
        assert_eq!(
            r(Analyte::Triglycerides, 400.0, true).weight(),
            LabWeight::FollowUp
        );
    }

    #[test]
    fn impossible_values_and_wrong_units_are_refused() {
        assert_eq!(
            LabResult::new(Analyte::HbA1c, f64::NAN, false),
            Err(LabError::NotFinite {
                analyte: Analyte::HbA1c
            })
        );
        assert!(LabResult::new(Analyte::Glucose, f64::INFINITY, false).is_err());
        assert!(LabResult::new(Analyte::Glucose, -5.0, false).is_err());
        assert!(LabResult::new(Analyte::HbA1c, 71.0, false).is_err());
        // Glucose typed in mmol/L.
        let e = LabResult::new(Analyte::Glucose, 7.2, true).expect_err("too low for mg/dL");
        assert_eq!(
            e.to_string(),
            "Glucose 7.2 mg/dL is impossible: expected 10 to 1000 mg/dL"
        );
        let e =
            LabResult::with_unit(Analyte::Glucose, 7.2, "mmol/L", true).expect_err("wrong unit");
        assert_eq!(e.to_string(), "Glucose is entered in mg/dL, not \"mmol/L\"");
        assert!(LabResult::with_unit(Analyte::HbA1c, 6.0, "mmol/mol", false).is_err());
        assert!(LabResult::with_unit(Analyte::HbA1c, 6.0, "", false).is_err());
        assert!(LabResult::with_unit(Analyte::Glucose, 95.0, "mg/dl", true).is_ok());
        assert!(LabResult::with_unit(Analyte::HbA1c, 5.6, " % ", true).is_ok());
    }

    #[test]
    fn ranges_print_as_people_write_them() {
        assert_eq!(Analyte::HbA1c.reference_range(true).to_string(), "4.6–6.2");
        assert_eq!(
            Analyte::HdlCholesterol.reference_range(true).to_string(),
            "≥ 40"
        );
        assert_eq!(
            Analyte::Triglycerides.reference_range(false).to_string(),
            "≤ 174"
        );
    }

    fn analyte() -> impl Strategy<Value = Analyte> {
        prop::sample::select(Analyte::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_plausible_value_classifies_consistently(
            a in analyte(),
            fraction in 0.0f64..=1.0,
            fasting: bool,
        ) {
            let (min, max) = a.plausible();
            let value = min + (max - min) * fraction;
            let result = LabResult::new(a, value, fasting).expect("inside the plausible bounds");
            let range = result.reference_range();
            let class = result.classify();
            prop_assert_eq!(class == Classification::Low, range.low.is_some_and(|l| value < l));
            prop_assert_eq!(class == Classification::High, range.high.is_some_and(|h| value > h));
            // Normal never weighs unless it is in a referral range (it cannot be: referral
            // limits sit above the ranges), and out of range always does.
            prop_assert_eq!(result.weight() == LabWeight::None, class == Classification::Normal);
            prop_assert_eq!(result.reason().is_some(), class != Classification::Normal);
            if let Some(from) = a.refer_from(fasting) {
                prop_assert!(from > range.high.unwrap_or(f64::INFINITY));
            }
        }

        #[test]
        fn values_outside_the_bounds_are_refused(a in analyte(), v in any::<f64>(), fasting: bool) {
            let (min, max) = a.plausible();
            let accepted = LabResult::new(a, v, fasting).is_ok();
            prop_assert_eq!(accepted, v.is_finite() && v >= min && v <= max);
        }
    }
}
