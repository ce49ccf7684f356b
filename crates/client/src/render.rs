//! What the operators' commands print: readable text for people, and one JSON object per case for
//! scripts. Times are ISO 8601 with the zone, in the zone the caller passes.
//!
//! Must never print a token other than the one a command just created, and never invent a finding:
//! everything here is a wording of what the server sent.

use std::fmt::Display;
use std::fmt::Write as _;

use chrono::TimeZone;
use serde::Serialize;

use crate::contract::ContractResult;
use crate::findings::{Findings, extra_sound_words, murmur_words, why};
use crate::pb;
use crate::time::iso8601;

/// A site in words.
pub fn site_words(site: pb::AuscultationSite) -> &'static str {
    match site {
        pb::AuscultationSite::Aortic => "aortic",
        pb::AuscultationSite::Pulmonic => "pulmonic",
        pb::AuscultationSite::Tricuspid => "tricuspid",
        pb::AuscultationSite::Mitral => "mitral",
        pb::AuscultationSite::Other => "other site",
        pb::AuscultationSite::Unspecified => "site not given",
    }
}

/// A body position in words.
pub fn position_words(p: pb::BodyPosition) -> &'static str {
    match p {
        pb::BodyPosition::Supine => "supine",
        pb::BodyPosition::Sitting => "sitting",
        pb::BodyPosition::Standing => "standing",
        pb::BodyPosition::LeftLateral => "left lateral",
        pb::BodyPosition::Other => "other position",
        pb::BodyPosition::Unspecified => "position not given",
    }
}

/// A role in words.
pub fn role_words(r: pb::Role) -> &'static str {
    match r {
        pb::Role::Admin => "admin",
        pb::Role::Clinician => "clinician",
        pb::Role::Nurse => "nurse",
        pb::Role::ProgramStaff => "program staff",
        pb::Role::Device => "device",
        pb::Role::Family => "family",
        pb::Role::Unspecified => "no role",
    }
}

fn tenant_kind_words(k: pb::TenantKind) -> &'static str {
    match k {
        pb::TenantKind::Municipality => "municipality",
        pb::TenantKind::Clinic => "clinic",
        pb::TenantKind::Other => "other",
        pb::TenantKind::Unspecified => "kind not given",
    }
}

fn verdict_words(v: pb::Verdict) -> &'static str {
    match v {
        pb::Verdict::Agree => "agrees with the engine",
        pb::Verdict::Disagree => "disagrees with the engine",
        pb::Verdict::Unspecified => "no verdict",
    }
}

fn format_words(f: pb::SampleFormat) -> &'static str {
    match f {
        pb::SampleFormat::S16le => "16-bit",
        pb::SampleFormat::F32le => "32-bit float",
        pb::SampleFormat::Unspecified => "format not given",
    }
}

/// The review state of a worklist line, e.g. `not reviewed`, `reviewed (agree)`.
pub fn review_state(s: &pb::CaseSummary) -> String {
    let last = match s.last_verdict() {
        pb::Verdict::Agree => "agree",
        pb::Verdict::Disagree => "disagree",
        pb::Verdict::Unspecified => "",
    };
    match (s.review_count, last) {
        (0, _) => "not reviewed".to_owned(),
        (1, "") => "reviewed".to_owned(),
        (1, v) => format!("reviewed ({v})"),
        (n, "") => format!("reviewed {n} times"),
        (n, v) => format!("reviewed {n} times (last: {v})"),
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The worklist, in the server's order (most urgent first), each case with why it is there.
pub fn case_list<Tz>(cases: &[pb::CaseSummary], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if cases.is_empty() {
        return "no cases\n".to_owned();
    }
    let mut rows = vec![
        ["recorded", "case", "subject", "site", "review", "why"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in cases {
        let w = why(&Findings::of_summary(c));
        let flag = if c.flagged { "FLAGGED: " } else { "" };
        rows.push(vec![
            iso8601(c.recorded_at.as_ref(), tz),
            c.case_id.clone(),
            c.subject_id.clone(),
            site_words(c.site()).to_owned(),
            review_state(c),
            format!("{flag}{}", w.line()),
        ]);
    }
    table(&rows)
}

/// One case for a clinician: who, where, when, what the engine found and why it is flagged, and
/// the reviews.
pub fn case_text<Tz>(case: &pb::Case, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let default_summary = pb::CaseSummary::default();
    let s = case.summary.as_ref().unwrap_or(&default_summary);
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "  {name:<13}{value}");
    };
    let mut head = vec![format!("Case {}", s.case_id)];
    let w = why(&Findings::of_case(case));
    let state = match s.analysis_state() {
        pb::AnalysisState::Pending => "awaiting analysis".to_owned(),
        pb::AnalysisState::Failed => "analysis failed".to_owned(),
        pb::AnalysisState::Done => {
            let analysed = case.analysis.as_ref().and_then(|a| a.analysed_at.as_ref());
            format!("analysed {}", iso8601(analysed, tz))
        }
        pb::AnalysisState::Unspecified => "analysis state unknown".to_owned(),
    };
    field("subject", &s.subject_id);
    field(
        "site",
        &format!("{}, {}", site_words(s.site()), position_words(s.position())),
    );
    field(
        "recorded",
        &format!(
            "{} ({:.1} s)",
            iso8601(s.recorded_at.as_ref(), tz),
            s.duration_s
        ),
    );
    field("received", &iso8601(s.received_at.as_ref(), tz));
    if let Some(r) = &case.recording {
        field(
            "device",
            &format!("{} (principal {})", r.device_serial, s.device_id),
        );
    }
    field("state", &state);
    let flagged = if s.analysis_state() != pb::AnalysisState::Done {
        "not yet known".to_owned()
    } else if w.reasons.is_empty() {
        "no".to_owned()
    } else {
        format!("YES: {}", w.line())
    };
    field("flagged", &flagged);
    field("review", &review_state(s));
    head.push(out);
    let mut out = head.join("\n");

    if !case.analysis_error.is_empty() {
        let _ = writeln!(out, "\nAnalysis failed\n  {}", case.analysis_error);
    }
    if let Some(a) = &case.analysis {
        out.push_str("\nFindings\n");
        out.push_str(&findings_text(a));
    }
    if let Some(r) = &case.recording {
        out.push_str("\nRecording\n");
        let _ = writeln!(
            out,
            "  {:<13}{} Hz, {}, {} samples",
            "PCG",
            r.pcg_rate_hz,
            format_words(r.pcg_format()),
            r.pcg_samples
        );
        let ecg = if r.ecg_rate_hz > 0 {
            format!(
                "{} Hz, {}, {} samples",
                r.ecg_rate_hz,
                format_words(r.ecg_format()),
                r.ecg_samples
            )
        } else if r.r_peaks > 0 {
            format!("{} R peaks from the device", r.r_peaks)
        } else {
            "none".to_owned()
        };
        let _ = writeln!(out, "  {:<13}{ecg}", "ECG");
        let _ = writeln!(out, "  {:<13}{}", "upload", r.upload_id);
        if !r.payload_sha256.is_empty() {
            let hex: String = r
                .payload_sha256
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(out, "  {:<13}{hex}", "sha-256");
        }
    }
    out.push_str("\nReviews\n");
    if case.reviews.is_empty() {
        out.push_str("  none yet\n");
    }
    for r in &case.reviews {
        let mut actions = Vec::new();
        if r.refer {
            actions.push("refer");
        }
        if r.request_rerecording {
            actions.push("re-record");
        }
        let _ = writeln!(
            out,
            "  {}  {} {}{}",
            iso8601(r.created_at.as_ref(), tz),
            r.reviewer_id,
            verdict_words(r.verdict()),
            if actions.is_empty() {
                String::new()
            } else {
                format!("; {}", actions.join(", "))
            }
        );
        if !r.findings.is_empty() {
            let _ = writeln!(out, "    \"{}\"", r.findings);
        }
    }
    out
}

/// The engine's findings in words, one per line.
fn findings_text(a: &pb::Analysis) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<13}{value}");
    };
    let default_murmur = pb::Murmur::default();
    let m = a.murmur.as_ref().unwrap_or(&default_murmur);
    let mut murmur = murmur_words(m);
    match m.status() {
        pb::MurmurStatus::Present | pb::MurmurStatus::Absent => {
            murmur.push_str(&format!(", confidence {:.2}", m.confidence));
        }
        pb::MurmurStatus::Unknown if !m.unknown_reason.is_empty() => {
            murmur.push_str(&format!(": {}", m.unknown_reason));
        }
        _ => {}
    }
    field("murmur", murmur);
    let rate = a
        .heart_rate_bpm
        .map_or_else(|| "not measured".to_owned(), |h| format!("{h:.0} bpm"));
    let rhythm = match &a.rhythm {
        Some(r) if r.irregular => format!(
            ", irregular rhythm (RR interval SD {:.0} ms)",
            r.rr_sd_s * 1000.0
        ),
        Some(pb::Rhythm {
            intervals: Some(n), ..
        }) if !auscult_dsp::rhythm::judged(*n as usize) => format!(
            ", rhythm not judged ({n} beat intervals, {} needed)",
            auscult_dsp::rhythm::MIN_INTERVALS_TO_JUDGE
        ),
        Some(r) if r.phasic => format!(
            ", rhythm varying smoothly with breathing, a sinus arrhythmia pattern (RR interval SD {:.0} ms)",
            r.rr_sd_s * 1000.0
        ),
        Some(r) => format!(
            ", regular rhythm (RR interval SD {:.0} ms)",
            r.rr_sd_s * 1000.0
        ),
        None => String::new(),
    };
    field("heart rate", format!("{rate}{rhythm}"));
    let extras: Vec<String> = a
        .extra_sounds
        .iter()
        .map(|s| extra_sound_words(s))
        .collect();
    field(
        "extra sounds",
        if extras.is_empty() {
            "none".to_owned()
        } else {
            extras.join(", ")
        },
    );
    let q = a.quality.clone().unwrap_or_default();
    field(
        "quality",
        if q.usable {
            format!("usable, signal quality {:.2}", q.sqi)
        } else if q.reason.is_empty() {
            format!("not usable, signal quality {:.2}", q.sqi)
        } else {
            format!("not usable: {}", q.reason)
        },
    );
    let accepted = a.cycles.iter().filter(|c| c.accepted).count();
    field(
        "cycles",
        format!(
            "{} ({accepted} accepted), {}",
            a.cycles.iter().filter(|c| !c.partial).count(),
            match (
                a.ecg_used,
                a.ecg_set_aside.parse::<auscult_dsp::EcgSetAside>()
            ) {
                (true, _) => "timed on the ECG".to_string(),
                (false, Ok(why)) => format!(
                    "from the heart sounds alone (ECG set aside: {})",
                    why.describe()
                ),
                (false, Err(_)) => "from the heart sounds alone".to_string(),
            }
        ),
    );
    out
}

/// `case show --json`: one object; `analysis` is the result contract, times are ISO 8601.
#[derive(Debug, Serialize)]
pub struct CaseJson {
    /// Case id.
    pub case_id: String,
    /// Subject id.
    pub subject_id: String,
    /// Auscultation site.
    pub site: &'static str,
    /// Body position.
    pub position: &'static str,
    /// When the recording started.
    pub recorded_at: String,
    /// When the server had it all.
    pub received_at: String,
    /// The uploading device's principal.
    pub device_id: String,
    /// `pending`, `done`, `failed`.
    pub analysis_state: &'static str,
    /// Why the analysis failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_error: Option<String>,
    /// When the analysis was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysed_at: Option<String>,
    /// The result contract, when analysed.
    pub analysis: Option<ContractResult>,
    /// Why it is flagged (or its state), in words.
    pub why: Vec<String>,
    /// The reviews, oldest first.
    pub reviews: Vec<ReviewJson>,
}

/// One review in `case show --json`.
#[derive(Debug, Serialize)]
pub struct ReviewJson {
    /// Review id.
    pub review_id: String,
    /// The reviewer's principal.
    pub reviewer_id: String,
    /// `agree` or `disagree`.
    pub verdict: &'static str,
    /// Free text.
    pub findings: String,
    /// Refer the subject.
    pub refer: bool,
    /// Ask for a new recording.
    pub request_rerecording: bool,
    /// When.
    pub created_at: String,
}

/// The JSON object of `case show --json`.
pub fn case_json<Tz>(case: &pb::Case, tz: &Tz) -> CaseJson
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let default_summary = pb::CaseSummary::default();
    let s = case.summary.as_ref().unwrap_or(&default_summary);
    let state = match s.analysis_state() {
        pb::AnalysisState::Pending => "pending",
        pb::AnalysisState::Done => "done",
        pb::AnalysisState::Failed => "failed",
        pb::AnalysisState::Unspecified => "unknown",
    };
    CaseJson {
        case_id: s.case_id.clone(),
        subject_id: s.subject_id.clone(),
        site: site_words(s.site()),
        position: position_words(s.position()),
        recorded_at: iso8601(s.recorded_at.as_ref(), tz),
        received_at: iso8601(s.received_at.as_ref(), tz),
        device_id: s.device_id.clone(),
        analysis_state: state,
        analysis_error: (!case.analysis_error.is_empty()).then(|| case.analysis_error.clone()),
        analysed_at: case
            .analysis
            .as_ref()
            .and_then(|a| a.analysed_at.as_ref())
            .map(|t| iso8601(Some(t), tz)),
        analysis: case
            .analysis
            .as_ref()
            .map(|a| ContractResult::new(&s.case_id, a)),
        why: why(&Findings::of_case(case)).words,
        reviews: case
            .reviews
            .iter()
            .map(|r| ReviewJson {
                review_id: r.review_id.clone(),
                reviewer_id: r.reviewer_id.clone(),
                verdict: match r.verdict() {
                    pb::Verdict::Agree => "agree",
                    pb::Verdict::Disagree => "disagree",
                    pb::Verdict::Unspecified => "unspecified",
                },
                findings: r.findings.clone(),
                refer: r.refer,
                request_rerecording: r.request_rerecording,
                created_at: iso8601(r.created_at.as_ref(), tz),
            })
            .collect(),
    }
}

/// The audit trail, newest first as the server sends it.
pub fn audit<Tz>(events: &[pb::AuditEvent], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if events.is_empty() {
        return "no audit events\n".to_owned();
    }
    let mut rows = vec![
        ["at", "actor", "role", "action", "case", "subject"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for e in events {
        rows.push(vec![
            iso8601(e.at.as_ref(), tz),
            e.actor_id.clone(),
            role_words(e.actor_role()).to_owned(),
            e.action.clone(),
            if e.case_id.is_empty() {
                "-".into()
            } else {
                e.case_id.clone()
            },
            if e.subject_id.is_empty() {
                "-".into()
            } else {
                e.subject_id.clone()
            },
        ]);
    }
    table(&rows)
}

/// The tenants.
pub fn tenants<Tz>(tenants: &[pb::Tenant], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if tenants.is_empty() {
        return "no tenants\n".to_owned();
    }
    let mut rows = vec![
        ["tenant", "name", "kind", "created"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for t in tenants {
        rows.push(vec![
            t.tenant_id.clone(),
            t.name.clone(),
            tenant_kind_words(t.kind()).to_owned(),
            iso8601(t.created_at.as_ref(), tz),
        ]);
    }
    table(&rows)
}

/// Tokens as the server lists them (ids and dates, never a secret), newest first.
pub fn tokens<Tz>(tokens: &[pb::TokenInfo], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if tokens.is_empty() {
        return "no tokens\n".to_owned();
    }
    let mut rows = vec![
        [
            "token",
            "principal",
            "name",
            "role",
            "created",
            "expires",
            "revoked",
            "state",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for t in tokens {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.live {
            "live"
        } else {
            "expired"
        };
        rows.push(vec![
            t.token_id.clone(),
            t.principal_id.clone(),
            t.principal_name.clone(),
            role_words(t.role()).to_owned(),
            iso8601(t.created_at.as_ref(), tz),
            t.expires_at
                .as_ref()
                .map_or_else(|| "never".to_owned(), |at| iso8601(Some(at), tz)),
            t.revoked_at
                .as_ref()
                .map_or_else(|| "-".to_owned(), |at| iso8601(Some(at), tz)),
            state.to_owned(),
        ]);
    }
    table(&rows)
}

/// A webhook just created, with its signing secret (the only time a secret is printed).
pub fn webhook_created(w: &pb::CreateWebhookResponse) -> String {
    let mut out = String::new();
    if let Some(hook) = &w.webhook {
        let _ = writeln!(
            out,
            "webhook {} -> {} (tenant {})",
            hook.webhook_id, hook.url, hook.tenant_id
        );
    }
    let _ = writeln!(out, "signing secret (shown once): {}", w.secret);
    out
}

/// The tenant's webhooks (never a secret), oldest first.
pub fn webhooks<Tz>(hooks: &[pb::Webhook], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if hooks.is_empty() {
        return "no webhooks\n".to_owned();
    }
    let mut rows = vec![
        ["webhook", "url", "created", "by", "removed"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for w in hooks {
        rows.push(vec![
            w.webhook_id.clone(),
            w.url.clone(),
            iso8601(w.created_at.as_ref(), tz),
            w.created_by.clone(),
            w.removed_at
                .as_ref()
                .map_or_else(|| "-".to_owned(), |at| iso8601(Some(at), tz)),
        ]);
    }
    table(&rows)
}

/// Deliveries that failed every attempt, newest first.
pub fn dead_letters<Tz>(dead: &[pb::DeadLetter], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if dead.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let mut rows = vec![
        [
            "delivery",
            "webhook",
            "event",
            "alert",
            "attempts",
            "last error",
            "failed",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for d in dead {
        rows.push(vec![
            d.delivery_id.clone(),
            d.webhook_id.clone(),
            d.event_id.to_string(),
            d.alert_id.clone(),
            d.attempts.to_string(),
            d.last_error.clone(),
            iso8601(d.failed_at.as_ref(), tz),
        ]);
    }
    table(&rows)
}

/// A tenant just created.
pub fn tenant(t: &pb::Tenant) -> String {
    format!(
        "tenant {} {} ({})\n",
        t.tenant_id,
        t.name,
        tenant_kind_words(t.kind())
    )
}

/// A principal and the token just created for it (the only time a token is printed).
pub fn principal_with_token(p: &pb::PrincipalWithToken) -> String {
    let mut out = String::new();
    if let Some(principal) = &p.principal {
        let tenant = if principal.tenant_id.is_empty() {
            "no tenant".to_owned()
        } else {
            format!("tenant {}", principal.tenant_id)
        };
        let _ = writeln!(
            out,
            "principal {} {} ({}, {tenant})",
            principal.principal_id,
            principal.name,
            role_words(principal.role())
        );
    }
    let _ = writeln!(out, "token (shown once): {}", p.token);
    out
}

/// A programme report: the counts of the programme and of each site.
fn classification_words(c: pb::LabClassification) -> &'static str {
    match c {
        pb::LabClassification::Low => "LOW",
        pb::LabClassification::Normal => "normal",
        pb::LabClassification::High => "HIGH",
        pb::LabClassification::Unspecified => "?",
    }
}

fn outcome_words(o: pb::VisitOutcome) -> &'static str {
    match o {
        pb::VisitOutcome::Unspecified => "none yet (analyses pending)",
        pb::VisitOutcome::Normal => "normal",
        pb::VisitOutcome::Refer => "refer",
        pb::VisitOutcome::ReRecord => "record again",
        pb::VisitOutcome::FollowUp => "follow up",
    }
}

/// A visit's point-of-care blood results as the server classified them, then its proposed
/// outcome and why.
pub fn visit_labs<Tz>(v: &pb::Visit, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let mut rows = vec![
        ["", "value", "reference", "", "measured"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for l in &v.lab_results {
        rows.push(vec![
            l.name.clone(),
            format!("{} {}", l.value, l.unit),
            l.reference_range
                .as_ref()
                .map(|r| r.text.clone())
                .unwrap_or_default(),
            classification_words(l.classification()).to_owned(),
            iso8601(l.measured_at.as_ref(), tz),
        ]);
    }
    let mut out = format!("Visit {}: blood results\n{}", v.visit_id, table(&rows));
    let _ = writeln!(
        out,
        "proposed outcome: {}",
        outcome_words(v.proposed_outcome())
    );
    for reason in &v.proposal_reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    out
}

pub fn program_report<Tz>(r: &pb::ProgramReport, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let mut rows = vec![
        [
            "",
            "enrolled",
            "attended",
            "flagged",
            "referred",
            "awaiting review",
            "visits",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let row = |label: String, c: &pb::ReportCounts| {
        vec![
            label,
            c.enrolled.to_string(),
            c.attended.to_string(),
            c.flagged.to_string(),
            c.referred.to_string(),
            c.awaiting_review.to_string(),
            c.visits.to_string(),
        ]
    };
    if let Some(t) = &r.totals {
        rows.push(row("programme".to_owned(), t));
    }
    for s in &r.sites {
        if let Some(c) = &s.counts {
            rows.push(row(format!("site {}", s.name), c));
        }
    }
    format!(
        "Programme {} ({}), report of {}\n{}",
        r.name,
        r.program_id,
        iso8601(r.generated_at.as_ref(), tz),
        table(&rows)
    )
}

/// A roster import (or its dry run): one line per row, then the counts.
pub fn import_report(r: &pb::ImportResidentsResponse) -> String {
    let mut out = String::new();
    for row in &r.rows {
        let who = row
            .resident
            .as_ref()
            .map(|p| format!("{} {} ({})", p.family_name, p.given_name, p.birth_date))
            .unwrap_or_default();
        let what = match pb::ImportRowStatus::try_from(row.status) {
            Ok(pb::ImportRowStatus::New) if r.dry_run => "would enrol".to_owned(),
            Ok(pb::ImportRowStatus::New) => "enrolled".to_owned(),
            Ok(pb::ImportRowStatus::AlreadyEnrolled) => "already enrolled, left alone".to_owned(),
            _ => format!("refused: {}", row.detail),
        };
        let _ = writeln!(out, "line {:>4}  {what}  {who}", row.line);
    }
    let _ = writeln!(
        out,
        "{} {}, {} already enrolled, {} refused{}",
        r.new_residents,
        if r.dry_run { "to enrol" } else { "enrolled" },
        r.already_enrolled,
        r.refused,
        if r.dry_run {
            " (dry run: nothing stored)"
        } else {
            ""
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn case() -> pb::Case {
        pb::Case {
            summary: Some(pb::CaseSummary {
                case_id: "c-1".into(),
                subject_id: "subject-42".into(),
                site: pb::AuscultationSite::Aortic as i32,
                position: pb::BodyPosition::Supine as i32,
                recorded_at: at(1_780_000_000),
                received_at: at(1_780_000_030),
                device_id: "dev-1".into(),
                analysis_state: pb::AnalysisState::Done as i32,
                flagged: true,
                murmur_status: pb::MurmurStatus::Present as i32,
                heart_rate_bpm: Some(72.0),
                priority: 1234,
                review_count: 1,
                last_verdict: pb::Verdict::Agree as i32,
                duration_s: 20.0,
            }),
            recording: Some(pb::RecordingInfo {
                pcg_rate_hz: 4000,
                pcg_format: pb::SampleFormat::S16le as i32,
                pcg_samples: 80_000,
                device_serial: "SN-0001".into(),
                upload_id: "u-1".into(),
                payload_sha256: vec![0xab, 0x01],
                ..Default::default()
            }),
            analysis: Some(pb::Analysis {
                duration_s: 20.0,
                sample_rate_hz: 4000.0,
                heart_rate_bpm: Some(72.4),
                rhythm: Some(pb::Rhythm {
                    heart_rate_bpm: 72.4,
                    rr_sd_s: 0.021,
                    rmssd_s: 0.02,
                    intervals: Some(27),
                    irregular: false,
                    phasic: false,
                }),
                murmur: Some(pb::Murmur {
                    status: pb::MurmurStatus::Present as i32,
                    timing: pb::MurmurTiming::Systolic as i32,
                    shape: "crescendo-decrescendo".into(),
                    grade: 3,
                    confidence: 0.87,
                    ..Default::default()
                }),
                quality: Some(pb::Quality {
                    usable: true,
                    sqi: 0.8,
                    reason: String::new(),
                }),
                flagged: true,
                analysed_at: at(1_780_000_040),
                ..Default::default()
            }),
            analysis_error: String::new(),
            reviews: vec![pb::Review {
                review_id: "r-1".into(),
                case_id: "c-1".into(),
                reviewer_id: "dr-1".into(),
                verdict: pb::Verdict::Agree as i32,
                findings: "harsh ejection murmur".into(),
                refer: true,
                request_rerecording: false,
                created_at: at(1_780_000_100),
            }],
        }
    }

    #[test]
    fn a_rhythm_from_few_beats_reads_as_not_judged() {
        let mut c = case();
        rhythm_of(&mut c).intervals = Some(6);
        let text = case_text(&c, &Utc);
        assert!(
            text.contains("heart rate   72 bpm, rhythm not judged (6 beat intervals, 10 needed)"),
            "{text}"
        );
        // Analyses stored before the count was kept read as they did.
        rhythm_of(&mut c).intervals = None;
        assert!(case_text(&c, &Utc).contains("72 bpm, regular rhythm"));
    }

    #[test]
    fn a_rhythm_varying_with_breathing_is_named() {
        let mut c = case();
        rhythm_of(&mut c).phasic = true;
        let text = case_text(&c, &Utc);
        assert!(
            text.contains(
                "72 bpm, rhythm varying smoothly with breathing, a sinus arrhythmia pattern (RR interval SD 21 ms)"
            ),
            "{text}"
        );
        assert!(!text.contains("regular rhythm"), "{text}");
    }

    #[test]
    fn cycles_say_whether_the_ecg_timed_them_and_why_not() {
        let mut c = case();
        let text = case_text(&c, &Utc);
        assert!(
            text.contains("0 (0 accepted), from the heart sounds alone\n"),
            "{text}"
        );
        let a = c.analysis.as_mut().expect("analysis");
        a.ecg_set_aside = "not_followed".into();
        let text = case_text(&c, &Utc);
        assert!(
            text.contains(
                "from the heart sounds alone (ECG set aside: the heart sounds do not follow its beats"
            ),
            "{text}"
        );
        let a = c.analysis.as_mut().expect("analysis");
        a.ecg_used = true;
        a.ecg_set_aside.clear();
        assert!(case_text(&c, &Utc).contains("timed on the ECG"));
    }

    fn rhythm_of(c: &mut pb::Case) -> &mut pb::Rhythm {
        c.analysis
            .as_mut()
            .and_then(|a| a.rhythm.as_mut())
            .expect("rhythm")
    }

    #[test]
    fn a_case_reads_as_a_summary_with_iso_times_and_no_debug_output() {
        let text = case_text(&case(), &Utc);
        for expected in [
            "Case c-1",
            "subject      subject-42",
            "site         aortic, supine",
            "recorded     2026-05-28T20:26:40Z (20.0 s)",
            "state        analysed 2026-05-28T20:27:20Z",
            "flagged      YES: systolic murmur (crescendo-decrescendo), grade 3/6",
            "review       reviewed (agree)",
            "murmur       systolic murmur (crescendo-decrescendo), grade 3/6, confidence 0.87",
            "heart rate   72 bpm, regular rhythm (RR interval SD 21 ms)",
            "quality      usable, signal quality 0.80",
            "sha-256      ab01",
            "2026-05-28T20:28:20Z  dr-1 agrees with the engine; refer",
            "\"harsh ejection murmur\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        for debug in ["Some(", "seconds:", "priority", "1234"] {
            assert!(!text.contains(debug), "{debug:?} in\n{text}");
        }
    }

    #[test]
    fn the_worklist_says_why_not_a_priority() {
        let c = case();
        let mut routine = c.summary.clone().expect("summary");
        routine.case_id = "c-2".into();
        routine.flagged = false;
        routine.murmur_status = pb::MurmurStatus::Absent as i32;
        routine.review_count = 0;
        routine.last_verdict = 0;
        let text = case_list(&[c.summary.clone().expect("summary"), routine], &Utc);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("recorded"), "{text}");
        assert!(
            lines[1].starts_with("2026-05-28T20:26:40Z  c-1")
                && lines[1].ends_with("reviewed (agree)  FLAGGED: murmur present"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("not reviewed      not flagged: no murmur"),
            "{text}"
        );
        assert!(!text.contains("1234"), "{text}");
    }

    #[test]
    fn case_json_carries_the_contract_and_iso_times() {
        let v = serde_json::to_value(case_json(&case(), &Utc)).expect("json");
        assert_eq!(v["recorded_at"], "2026-05-28T20:26:40Z");
        assert_eq!(v["analysed_at"], "2026-05-28T20:27:20Z");
        assert_eq!(v["analysis"]["murmur"]["status"], "present");
        assert_eq!(v["analysis"]["flag_reasons"], serde_json::json!(["murmur"]));
        assert_eq!(v["reviews"][0]["created_at"], "2026-05-28T20:28:20Z");
        assert_eq!(v["reviews"][0]["verdict"], "agree");
    }

    #[test]
    fn audit_lines_have_iso_times() {
        let e = pb::AuditEvent {
            event_id: "e".into(),
            at: at(1_780_000_000),
            actor_id: "dr-1".into(),
            actor_role: pb::Role::Clinician as i32,
            action: "case.get".into(),
            case_id: "c-1".into(),
            subject_id: "subject-42".into(),
            target_id: String::new(),
        };
        let text = audit(&[e], &Utc);
        assert!(
            text.contains("2026-05-28T20:26:40Z  dr-1   clinician  case.get  c-1   subject-42"),
            "{text}"
        );
    }

    #[test]
    fn lab_results_print_with_their_classification_and_the_proposal() {
        let v = pb::Visit {
            visit_id: "v-1".into(),
            lab_results: vec![pb::LabResult {
                analyte: pb::LabAnalyte::Hba1c as i32,
                value: 7.1,
                unit: "%".into(),
                measured_at: at(1_780_000_000),
                fasting: true,
                classification: pb::LabClassification::High as i32,
                reference_range: Some(pb::LabReferenceRange {
                    low: Some(4.6),
                    high: Some(6.2),
                    text: "4.6–6.2 % (adult)".into(),
                }),
                name: "HbA1c".into(),
                reason: "HbA1c 7.1 % (≥ 6.5)".into(),
                refers: true,
                ..Default::default()
            }],
            proposed_outcome: pb::VisitOutcome::Refer as i32,
            proposal_reasons: vec!["HbA1c 7.1 % (≥ 6.5)".into()],
            ..Default::default()
        };
        let text = visit_labs(&v, &Utc);
        assert!(
            text.contains("HbA1c  7.1 %  4.6–6.2 % (adult)  HIGH  2026-05-28T20:26:40Z"),
            "{text}"
        );
        assert!(
            text.ends_with("proposed outcome: refer\n  - HbA1c 7.1 % (≥ 6.5)\n"),
            "{text}"
        );
    }
}
