//! The visit outcome proposed from the analyses, and the programme report's counts and CSV.
//!
//! Proposal rule (documented in `programs.proto` too), over the recordings linked to the four
//! standard auscultation sites of one visit:
//! 1. **refer** when any site's analysis is done, flagged by the engine, and its murmur status is
//!    not `unknown` (a murmur, an abnormal sound or an irregular rhythm in a judgeable recording);
//! 2. otherwise **none yet** while any linked recording's analysis is pending;
//! 3. otherwise **re-record** when any of the four sites has no recording, its analysis failed,
//!    or its murmur status is `unknown` (poor quality);
//! 4. otherwise (all four analysed, none flagged) **normal**.
//!
//! This module is pure: no I/O, no protobuf, no store calls; the service feeds it rows.

use std::collections::{BTreeMap, HashSet};

use auscult_store::programs::{LinkRow, ResidentRow, SiteRow, VisitRow};
use auscult_store::recordings::analysis_state;

/// The four standard auscultation sites, by stored name.
pub const STANDARD_SITES: [&str; 4] = ["aortic", "pulmonic", "tricuspid", "mitral"];

/// A visit's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Nothing to act on.
    Normal,
    /// Refer to a clinic.
    Refer,
    /// Record again.
    ReRecord,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Normal => "normal",
            Outcome::Refer => "refer",
            Outcome::ReRecord => "re_record",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "normal" => Outcome::Normal,
            "refer" => Outcome::Refer,
            "re_record" => Outcome::ReRecord,
            _ => return None,
        })
    }
}

/// The proposal for one visit from its links (`None` while analyses are pending).
pub fn propose<'a>(links: impl IntoIterator<Item = &'a LinkRow>) -> Option<Outcome> {
    let links: Vec<&LinkRow> = links.into_iter().collect();
    let judgeable_flag = links.iter().any(|l| {
        l.analysis_state == analysis_state::DONE
            && l.flagged
            && l.murmur_status.as_deref() != Some("unknown")
    });
    if judgeable_flag {
        return Some(Outcome::Refer);
    }
    if links.iter().any(|l| {
        l.analysis_state == analysis_state::PENDING || l.analysis_state == analysis_state::NONE
    }) {
        return None;
    }
    let complete = STANDARD_SITES.iter().all(|site| {
        links.iter().any(|l| {
            l.site == *site
                && l.analysis_state == analysis_state::DONE
                && l.murmur_status.as_deref() == Some("absent")
        })
    });
    Some(if complete {
        Outcome::Normal
    } else {
        Outcome::ReRecord
    })
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
    /// Per site, in the order given: (site, counts).
    pub sites: Vec<(SiteRow, Counts)>,
}

fn count_visits<'a>(
    visits: impl Iterator<Item = &'a VisitRow>,
    flagged_visits: &HashSet<&str>,
) -> Counts {
    let (mut attended, mut flagged, mut referred) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    let mut counts = Counts::default();
    for v in visits {
        counts.visits += 1;
        attended.insert(v.resident_id.as_str());
        if flagged_visits.contains(v.id.as_str()) {
            flagged.insert(v.resident_id.as_str());
        }
        match v.confirmed_outcome.as_deref().and_then(Outcome::parse) {
            Some(Outcome::Refer) => {
                referred.insert(v.resident_id.as_str());
            }
            Some(_) => {}
            None => counts.awaiting_review += 1,
        }
    }
    counts.attended = attended.len() as u64;
    counts.flagged = flagged.len() as u64;
    counts.referred = referred.len() as u64;
    counts
}

/// Counts residents, visits and links into the report.
pub fn report(
    residents: &[ResidentRow],
    sites: &[SiteRow],
    visits: &[VisitRow],
    links: &[LinkRow],
) -> Report {
    let flagged_visits: HashSet<&str> = links
        .iter()
        .filter(|l| l.flagged)
        .map(|l| l.visit_id.as_str())
        .collect();
    let mut totals = count_visits(visits.iter(), &flagged_visits);
    totals.enrolled = residents.iter().filter(|r| r.consenting()).count() as u64;
    let by_site: BTreeMap<&str, Vec<&VisitRow>> =
        visits.iter().fold(BTreeMap::new(), |mut m, v| {
            m.entry(v.site_id.as_str()).or_default().push(v);
            m
        });
    let sites = sites
        .iter()
        .map(|s| {
            let counts = by_site
                .get(s.id.as_str())
                .map_or_else(Counts::default, |vs| {
                    count_visits(vs.iter().copied(), &flagged_visits)
                });
            (s.clone(), counts)
        })
        .collect();
    Report { totals, sites }
}

/// The report as RFC 4180 CSV: a header row, a `program` row, then one `site` row per site
/// (whose `enrolled` is empty: residents enrol in the programme, not at a site).
pub fn report_csv(
    program_id: &str,
    program_name: &str,
    report: &Report,
) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    w.write_record([
        "scope",
        "id",
        "name",
        "enrolled",
        "attended",
        "flagged",
        "referred",
        "awaiting_review",
        "visits",
    ])?;
    let row = |scope: &str, id: &str, name: &str, enrolled: String, c: &Counts| {
        vec![
            scope.to_owned(),
            id.to_owned(),
            name.to_owned(),
            enrolled,
            c.attended.to_string(),
            c.flagged.to_string(),
            c.referred.to_string(),
            c.awaiting_review.to_string(),
            c.visits.to_string(),
        ]
    };
    w.write_record(row(
        "program",
        program_id,
        program_name,
        report.totals.enrolled.to_string(),
        &report.totals,
    ))?;
    for (site, c) in &report.sites {
        w.write_record(row("site", &site.id, &site.name, String::new(), c))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(site: &str, state: &str, murmur: Option<&str>, flagged: bool) -> LinkRow {
        LinkRow {
            visit_id: "v".into(),
            site: site.into(),
            recording_id: format!("r-{site}"),
            analysis_state: state.into(),
            murmur_status: murmur.map(str::to_owned),
            flagged,
        }
    }

    fn all_absent() -> Vec<LinkRow> {
        STANDARD_SITES
            .iter()
            .map(|s| link(s, "done", Some("absent"), false))
            .collect()
    }

    #[test]
    fn four_normal_sites_are_normal() {
        assert_eq!(propose(&all_absent()), Some(Outcome::Normal));
    }

    #[test]
    fn a_flagged_murmur_refers_even_with_sites_missing_or_pending() {
        let links = vec![
            link("mitral", "done", Some("present"), true),
            link("aortic", "pending", None, false),
        ];
        assert_eq!(propose(&links), Some(Outcome::Refer));
    }

    #[test]
    fn pending_analyses_propose_nothing_yet() {
        let mut links = all_absent();
        links[0].analysis_state = "pending".into();
        links[0].murmur_status = None;
        assert_eq!(propose(&links), None);
    }

    #[test]
    fn missing_unknown_or_failed_sites_re_record() {
        assert_eq!(propose(&all_absent()[..3]), Some(Outcome::ReRecord));
        let mut unknown = all_absent();
        unknown[2] = link("tricuspid", "done", Some("unknown"), true);
        assert_eq!(propose(&unknown), Some(Outcome::ReRecord));
        let mut failed = all_absent();
        failed[1] = link("pulmonic", "failed", None, false);
        assert_eq!(propose(&failed), Some(Outcome::ReRecord));
        assert_eq!(propose(&[]), Some(Outcome::ReRecord));
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let site = SiteRow {
            id: "s1".into(),
            program_id: "p".into(),
            name: "Hall \"East\", 2F".into(),
            address: String::new(),
        };
        let r = Report {
            totals: Counts {
                enrolled: 3,
                attended: 2,
                flagged: 1,
                referred: 1,
                awaiting_review: 0,
                visits: 2,
            },
            sites: vec![(
                site,
                Counts {
                    attended: 2,
                    visits: 2,
                    ..Counts::default()
                },
            )],
        };
        let csv = report_csv("p", "町 check-up,\n2026", &r).expect("CSV into memory");
        assert_eq!(
            csv,
            "scope,id,name,enrolled,attended,flagged,referred,awaiting_review,visits\r\n\
             program,p,\"町 check-up,\n2026\",3,2,1,1,0,2\r\n\
             site,s1,\"Hall \"\"East\"\", 2F\",,2,0,0,0,2\r\n"
        );
    }
}
