//! The counts of a screening programme's report, programme-wide and per site.
//!
//! A report counts what clinicians confirmed, never what the engine proposed: a visit without a
//! confirmed outcome is "awaiting review", and a resident is "referred" only by a confirmed
//! `refer`. "Flagged" counts residents with at least one recording the engine flagged. Blood
//! results count visits: per analyte, the visits with a result out of its reference range.

use std::collections::{BTreeMap, HashSet};

use crate::labs::Analyte;
use crate::outcome::Outcome;

/// What the report needs of one visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitFacts<'a> {
    /// The visit's id.
    pub visit_id: &'a str,
    /// The resident seen.
    pub resident_id: &'a str,
    /// The programme site where it happened.
    pub site_id: &'a str,
    /// The outcome a clinician confirmed, if any.
    pub confirmed: Option<Outcome>,
    /// The analytes of its point-of-care results that were out of their reference range.
    pub labs_out_of_range: &'a [Analyte],
}

/// Visits with a result out of its reference range, per analyte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabCounts([u64; Analyte::ALL.len()]);

impl LabCounts {
    /// The visits with `analyte` out of range.
    pub fn get(&self, analyte: Analyte) -> u64 {
        self.0[analyte.index()]
    }

    /// (analyte, visits) in the order of [`Analyte::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (Analyte, u64)> + '_ {
        Analyte::ALL.into_iter().map(|a| (a, self.get(a)))
    }

    fn count(&mut self, analytes: &[Analyte]) {
        let seen: HashSet<Analyte> = analytes.iter().copied().collect();
        for a in seen {
            self.0[a.index()] += 1;
        }
    }
}

/// The counts of a programme or of one of its sites.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Residents with consent in force (programme-wide only).
    pub enrolled: u64,
    /// Residents with at least one visit.
    pub attended: u64,
    /// Residents with at least one visit recording flagged by the engine.
    pub flagged: u64,
    /// Residents with at least one visit confirmed `refer`.
    pub referred: u64,
    /// Visits without a confirmed outcome.
    pub awaiting_review: u64,
    /// Visits.
    pub visits: u64,
    /// Visits with a point-of-care result out of range, per analyte.
    pub labs_out_of_range: LabCounts,
}

/// The programme report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Programme-wide counts.
    pub totals: Counts,
    /// Per site, in the order the sites were given.
    pub sites: Vec<Counts>,
}

fn count_visits<'a>(
    visits: impl Iterator<Item = &'a VisitFacts<'a>>,
    flagged_visits: &HashSet<&str>,
) -> Counts {
    let (mut attended, mut flagged, mut referred) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    let mut counts = Counts::default();
    for v in visits {
        counts.visits += 1;
        counts.labs_out_of_range.count(v.labs_out_of_range);
        attended.insert(v.resident_id);
        if flagged_visits.contains(v.visit_id) {
            flagged.insert(v.resident_id);
        }
        match v.confirmed {
            Some(Outcome::Refer) => {
                referred.insert(v.resident_id);
            }
            Some(Outcome::Normal | Outcome::ReRecord | Outcome::FollowUp) => {}
            None => counts.awaiting_review += 1,
        }
    }
    counts.attended = attended.len() as u64;
    counts.flagged = flagged.len() as u64;
    counts.referred = referred.len() as u64;
    counts
}

/// Counts a programme: `enrolled` residents with consent in force, its sites (by id, in report
/// order), its visits, and the ids of the visits with at least one flagged recording.
pub fn report<'a>(
    enrolled: u64,
    site_ids: &[&str],
    visits: &'a [VisitFacts<'a>],
    flagged_visits: &HashSet<&str>,
) -> Report {
    let mut totals = count_visits(visits.iter(), flagged_visits);
    totals.enrolled = enrolled;
    let by_site: BTreeMap<&str, Vec<&VisitFacts<'a>>> =
        visits.iter().fold(BTreeMap::new(), |mut m, v| {
            m.entry(v.site_id).or_default().push(v);
            m
        });
    let sites = site_ids
        .iter()
        .map(|s| {
            by_site.get(s).map_or_else(Counts::default, |vs| {
                count_visits(vs.iter().copied(), flagged_visits)
            })
        })
        .collect();
    Report { totals, sites }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit<'a>(
        id: &'a str,
        resident: &'a str,
        site: &'a str,
        o: Option<Outcome>,
    ) -> VisitFacts<'a> {
        VisitFacts {
            visit_id: id,
            resident_id: resident,
            site_id: site,
            confirmed: o,
            labs_out_of_range: &[],
        }
    }

    #[test]
    fn residents_are_counted_once_and_visits_each_time() {
        let visits = [
            // Alice: seen twice at the hall, flagged once, referred on the second visit.
            visit("v1", "alice", "hall", Some(Outcome::ReRecord)),
            visit("v2", "alice", "hall", Some(Outcome::Refer)),
            // Bob: seen at the clinic, flagged, not yet reviewed.
            visit("v3", "bob", "clinic", None),
            // Carol: seen at the hall and the clinic, normal, then awaiting review.
            visit("v4", "carol", "hall", Some(Outcome::Normal)),
            visit("v5", "carol", "clinic", None),
        ];
        let flagged: HashSet<&str> = ["v1", "v3"].into_iter().collect();
        let r = report(4, &["hall", "clinic", "empty"], &visits, &flagged);
        assert_eq!(
            r.totals,
            Counts {
                enrolled: 4,
                attended: 3,
                flagged: 2,
                referred: 1,
                awaiting_review: 2,
                visits: 5,
                labs_out_of_range: LabCounts::default(),
            }
        );
        assert_eq!(
            r.sites,
            vec![
                Counts {
                    enrolled: 0,
                    attended: 2,
                    flagged: 1,
                    referred: 1,
                    awaiting_review: 0,
                    visits: 3,
                    labs_out_of_range: LabCounts::default(),
                },
                Counts {
                    enrolled: 0,
                    attended: 2,
                    flagged: 1,
                    referred: 0,
                    awaiting_review: 2,
                    visits: 2,
                    labs_out_of_range: LabCounts::default(),
                },
                Counts::default(),
            ]
        );
    }

    #[test]
    fn an_empty_programme_counts_only_its_enrolment() {
        let r = report(7, &[], &[], &HashSet::new());
        assert_eq!(
            r,
            Report {
                totals: Counts {
                    enrolled: 7,
                    ..Counts::default()
                },
                sites: Vec::new(),
            }
        );
    }

    #[test]
    fn out_of_range_labs_count_visits_per_analyte_and_site() {
        let both = [Analyte::HbA1c, Analyte::Triglycerides];
        let visits = [
            VisitFacts {
                labs_out_of_range: &both,
                ..visit("v1", "alice", "hall", Some(Outcome::FollowUp))
            },
            VisitFacts {
                labs_out_of_range: &[Analyte::HbA1c, Analyte::HbA1c],
                ..visit("v2", "alice", "hall", None)
            },
            visit("v3", "bob", "clinic", None),
        ];
        let r = report(2, &["hall", "clinic"], &visits, &HashSet::new());
        assert_eq!(r.totals.labs_out_of_range.get(Analyte::HbA1c), 2);
        assert_eq!(r.totals.labs_out_of_range.get(Analyte::Triglycerides), 1);
        assert_eq!(r.totals.labs_out_of_range.get(Analyte::Glucose), 0);
        assert_eq!(
            r.totals.awaiting_review, 2,
            "follow up is a confirmed outcome"
        );
        assert_eq!(r.totals.referred, 0);
        assert_eq!(r.sites[0].labs_out_of_range, r.totals.labs_out_of_range);
        assert_eq!(r.sites[1].labs_out_of_range, LabCounts::default());
        let listed: Vec<_> = r.totals.labs_out_of_range.iter().collect();
        assert_eq!(listed[0], (Analyte::HbA1c, 2));
        assert_eq!(listed.len(), 5);
    }
}
