//! The server's side of visit outcomes and the programme report: maps stored rows to the
//! triage rules (`auscult-triage`, where the proposal rule and the counting live) and writes the
//! report as CSV.
//!
//! This module is pure: no I/O, no protobuf, no store calls; the service feeds it rows.

use std::collections::{HashMap, HashSet};

use auscult_store::labs::LabRow;
use auscult_store::programs::{LinkRow, ResidentRow, SiteRow, VisitRow};
use auscult_triage::{
    AnalysisState, Analyte, Classification, LabResult, Site, SiteAnalysis, VisitFacts,
};

pub use auscult_triage::{Counts, LabCounts, Outcome, Proposal};

/// The programme report with its sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Programme-wide counts.
    pub totals: Counts,
    /// Per site, in the order given: (site, counts).
    pub sites: Vec<(SiteRow, Counts)>,
}

/// A stored link as the proposal rule sees it. A state the rule does not know counts as failed
/// (neither awaited nor analysed), as the store writes only the four it knows.
fn site_analysis(l: &LinkRow) -> SiteAnalysis {
    SiteAnalysis {
        site: Site::parse(&l.site),
        state: AnalysisState::parse(&l.analysis_state).unwrap_or(AnalysisState::Failed),
        murmur: l.murmur_status.as_deref().and_then(|m| m.parse().ok()),
        flagged: l.flagged,
    }
}

/// The proposal for one visit from its links and its checked blood results (outcome `None`
/// while analyses are pending).
pub fn propose<'a>(links: impl IntoIterator<Item = &'a LinkRow>, labs: &[LabResult]) -> Proposal {
    let links: Vec<SiteAnalysis> = links.into_iter().map(site_analysis).collect();
    auscult_triage::propose_visit(&links, labs)
}

/// Counts residents, visits, links and blood results into the report. A stored result the rules
/// refuse (none can be stored) counts as in range.
pub fn report(
    residents: &[ResidentRow],
    sites: &[SiteRow],
    visits: &[VisitRow],
    links: &[LinkRow],
    labs: &[LabRow],
) -> Report {
    let mut out_of_range: HashMap<&str, Vec<Analyte>> = HashMap::new();
    for l in labs {
        let off = LabResult::new(l.analyte, l.value, l.fasting)
            .is_ok_and(|r| r.classify() != Classification::Normal);
        if off {
            out_of_range
                .entry(l.visit_id.as_str())
                .or_default()
                .push(l.analyte);
        }
    }
    let flagged_visits: HashSet<&str> = links
        .iter()
        .filter(|l| l.flagged)
        .map(|l| l.visit_id.as_str())
        .collect();
    let facts: Vec<VisitFacts<'_>> = visits
        .iter()
        .map(|v| VisitFacts {
            visit_id: &v.id,
            resident_id: &v.resident_id,
            site_id: &v.site_id,
            confirmed: v.confirmed_outcome.as_deref().and_then(Outcome::parse),
            labs_out_of_range: out_of_range
                .get(v.id.as_str())
                .map_or(&[][..], Vec::as_slice),
        })
        .collect();
    let site_ids: Vec<&str> = sites.iter().map(|s| s.id.as_str()).collect();
    let enrolled = residents.iter().filter(|r| r.consenting()).count() as u64;
    let counted = auscult_triage::report(enrolled, &site_ids, &facts, &flagged_visits);
    Report {
        totals: counted.totals,
        sites: sites.iter().cloned().zip(counted.sites).collect(),
    }
}

/// The report as RFC 4180 CSV: a header row, a `program` row, then one `site` row per site
/// (whose `enrolled` is empty: residents enrol in the programme, not at a site); the last
/// columns count visits with a blood result out of range, one per analyte
/// (`hba1c_out_of_range`, ...).
pub fn report_csv(
    program_id: &str,
    program_name: &str,
    report: &Report,
) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    let mut header: Vec<String> = [
        "scope",
        "id",
        "name",
        "enrolled",
        "attended",
        "flagged",
        "referred",
        "awaiting_review",
        "visits",
    ]
    .map(str::to_owned)
    .to_vec();
    header.extend(
        Analyte::ALL
            .iter()
            .map(|a| format!("{}_out_of_range", a.as_str())),
    );
    w.write_record(&header)?;
    let row = |scope: &str, id: &str, name: &str, enrolled: String, c: &Counts| {
        let mut r = vec![
            scope.to_owned(),
            id.to_owned(),
            name.to_owned(),
            enrolled,
            c.attended.to_string(),
            c.flagged.to_string(),
            c.referred.to_string(),
            c.awaiting_review.to_string(),
            c.visits.to_string(),
        ];
        r.extend(c.labs_out_of_range.iter().map(|(_, n)| n.to_string()));
        r
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

    #[test]
    fn stored_links_map_onto_the_rule() {
        let mut links: Vec<LinkRow> = ["aortic", "pulmonic", "tricuspid", "mitral"]
            .iter()
            .map(|s| link(s, "done", Some("absent"), false))
            .collect();
        let outcome = |links: &[LinkRow]| propose(links, &[]).outcome;
        assert_eq!(outcome(&links), Some(Outcome::Normal));
        let high_tg = [LabResult::new(Analyte::Triglycerides, 200.0, true).expect("plausible")];
        assert_eq!(propose(&links, &high_tg).outcome, Some(Outcome::FollowUp));
        links[0].analysis_state = "pending".into();
        assert_eq!(outcome(&links), None);
        links[0].analysis_state = "none".into();
        assert_eq!(outcome(&links), None);
        // A state the rule does not know is not awaited and completes nothing.
        links[0].analysis_state = "archived".into();
        assert_eq!(outcome(&links), Some(Outcome::ReRecord));
        links[0] = link("apex", "done", Some("absent"), false);
        assert_eq!(outcome(&links), Some(Outcome::ReRecord));
        links[1] = link("pulmonic", "done", Some("present"), true);
        assert_eq!(outcome(&links), Some(Outcome::Refer));
        links[1].murmur_status = Some("unknown".into());
        assert_eq!(outcome(&links), Some(Outcome::ReRecord));
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
                labs_out_of_range: LabCounts::default(),
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
            "scope,id,name,enrolled,attended,flagged,referred,awaiting_review,visits,\
             hba1c_out_of_range,glucose_out_of_range,total_cholesterol_out_of_range,\
             hdl_cholesterol_out_of_range,triglycerides_out_of_range\r\n\
             program,p,\"町 check-up,\n2026\",3,2,1,1,0,2,0,0,0,0,0\r\n\
             site,s1,\"Hall \"\"East\"\", 2F\",,2,0,0,0,2,0,0,0,0,0\r\n"
        );
    }
}
