//! Phase mirroring of murmur evidence: the same recording's features with systole and diastole
//! exchanged.
//!
//! A murmur is sound that fills a phase between the heart sounds and repeats beat after beat;
//! whether that phase is systole or diastole decides the murmur's timing, not whether it is one.
//! The training databases are unbalanced in that respect: PASCAL's murmurs are almost all
//! systolic, so a model fitted without Yaseen never saw a diastolic rumble (mitral stenosis) and
//! missed 95 of Yaseen's 100 (RESULTS.md). Fitting the murmur model on every recording and on its
//! mirror (same truth) teaches it murmur evidence in either phase. Only the murmur model is
//! fitted on mirrors: timing and review read which phase it is.

use auscult_dsp::features::FEATURE_NAMES;

/// Feature pairs exchanged by the mirror (a systolic feature and its diastolic twin).
const SWAPPED: [(&str, &str); 22] = [
    ("sys_rel", "dia_rel"),
    ("sys_rel_low", "dia_rel_low"),
    ("sys_rel_mid", "dia_rel_mid"),
    ("sys_rel_high", "dia_rel_high"),
    ("sys_rel_spread", "dia_rel_spread"),
    ("ens_sys_rel", "ens_dia_rel"),
    ("ens_sys_flat", "ens_dia_flat"),
    ("sys_floor_all", "dia_floor_all"),
    ("sys_floor_low", "dia_floor_low"),
    ("sys_floor_mid", "dia_floor_mid"),
    ("sys_floor_high", "dia_floor_high"),
    ("sys_repeat", "dia_repeat"),
    ("sys_min_rel", "dia_min_rel"),
    ("sys_mfcc_1", "dia_mfcc_1"),
    ("sys_mfcc_2", "dia_mfcc_2"),
    ("sys_mfcc_3", "dia_mfcc_3"),
    ("sys_mfcc_4", "dia_mfcc_4"),
    ("sys_mfcc_5", "dia_mfcc_5"),
    ("sys_mfcc_6", "dia_mfcc_6"),
    ("sys_hsmm_lr", "dia_hsmm_lr"),
    ("sys_late_repeat", "dia_late_repeat"),
    ("sys_early_repeat", "dia_early_repeat"),
];

/// Features that are a systolic minus a diastolic quantity: the mirror negates them.
const NEGATED: [&str; 2] = ["sys_minus_dia", "sys_min_minus_dia_min"];

/// Features that describe one phase and have no twin (a phase's spectral balance against the
/// whole, device-dependent and left out of the models): unknown in a mirror.
const UNPAIRED: [&str; 2] = ["sys_high_frac", "dia_low_frac"];

fn index(name: &str) -> usize {
    FEATURE_NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("mirror names an unknown feature {name}"))
}

/// The model inputs `x` (features, then anything after them, copied) with the phases exchanged.
pub fn mirror(x: &[f64]) -> Vec<f64> {
    let mut m = x.to_vec();
    for (s, d) in SWAPPED {
        let (i, j) = (index(s), index(d));
        if i < m.len() && j < m.len() {
            m.swap(i, j);
        }
    }
    for n in NEGATED {
        if let Some(v) = m.get_mut(index(n)) {
            *v = -*v;
        }
    }
    for n in UNPAIRED {
        if let Some(v) = m.get_mut(index(n)) {
            *v = f64::NAN;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_dsp::features::NUM_FEATURES;

    #[test]
    fn every_phase_feature_has_its_twin_and_mirroring_twice_is_the_identity() {
        let x: Vec<f64> = (0..=NUM_FEATURES).map(|i| i as f64 + 0.5).collect();
        let m = mirror(&x);
        assert_eq!(m[index("sys_repeat")], x[index("dia_repeat")]);
        assert_eq!(m[index("dia_min_rel")], x[index("sys_min_rel")]);
        assert_eq!(m[index("sys_minus_dia")], -x[index("sys_minus_dia")]);
        assert!(m[index("sys_high_frac")].is_nan());
        assert_eq!(m[index("heart_rate")], x[index("heart_rate")]);
        assert_eq!(m[NUM_FEATURES], x[NUM_FEATURES]);
        let back = mirror(&m);
        for (i, (a, b)) in back.iter().zip(&x).enumerate() {
            if !UNPAIRED.iter().any(|n| index(n) == i) {
                assert_eq!(a, b, "{}", FEATURE_NAMES.get(i).unwrap_or(&"logit"));
            }
        }
        // Every feature named sys_* (but the unpaired) is exchanged with a dia_* one.
        for name in FEATURE_NAMES.iter().filter(|n| n.starts_with("sys_")) {
            let paired = SWAPPED.iter().any(|(s, _)| s == name)
                || NEGATED.contains(name)
                || UNPAIRED.contains(name);
            assert!(paired, "{name} has no mirror");
        }
    }
}
