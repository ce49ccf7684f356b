//! The counts of a screening programme's report, programme-wide and per site.
//!
//! A report counts what clinicians confirmed, never what the engine proposed: a visit without a
//! confirmed outcome is "awaiting review", and a resident is "referred" only by a confirmed
//! `refer`. "Flagged" counts residents with at least one recording the engine flagged.

use std::collections::{BTreeMap, HashSet};

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
        attended.insert(v.resident_id);
        if flagged_visits.contains(v.visit_id) {
            flagged.insert(v.resident_id);
        }
        match v.confirmed {
            Some(Outcome::Refer) => {
                referred.insert(v.resident_id);
            }
            Some(Outcome::Normal | Outcome::ReRecord) => {}
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
                },
                Counts {
                    enrolled: 0,
                    attended: 2,
                    flagged: 1,
                    referred: 0,
                    awaiting_review: 2,
                    visits: 2,
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
}
