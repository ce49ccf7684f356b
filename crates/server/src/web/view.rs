//! What the pages show: askama templates (`crates/server/templates/`, HTML-escaped by default)
//! and the plain view values they are filled with, made from domain values here.

use askama::Template;
use auscult_store::analysis::StoredAnalysis;
use auscult_store::audit::AuditEvent;
use auscult_store::recordings::{RecordingRow, analysis_state};
use auscult_store::reviews::ReviewRow;
use axum::response::Html;

use super::i18n::{Lang, Words};
use auscult_dsp::MurmurCall;

/// Renders a template; a template that fails to render (a bug, never input) is logged and shown
/// as a bare error.
pub fn html<T: Template>(page: &T) -> Html<String> {
    match page.render() {
        Ok(body) => Html(body),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            Html("<!doctype html><title>error</title><p>internal error</p>".to_owned())
        }
    }
}

/// What every page shows around its content: language, words, who is signed in, the CSRF token
/// of its forms.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page language.
    pub lang: Lang,
    /// Its words.
    pub w: &'static Words,
    /// The signed-in person's display name.
    pub user_name: Option<String>,
    /// The token every form of the page carries.
    pub csrf: String,
    /// Whether the header links to the nurses' station (the person's role may use it).
    pub station: bool,
    /// Whether the header links to live auscultation (the person's role may listen).
    pub live: bool,
    /// Whether the header links to the check-up programmes (the person's role reads residents).
    pub programs: bool,
    /// Whether the person is a family member (the header links to their relatives' page, and
    /// the page is set in large type).
    pub family: bool,
}

impl Chrome {
    /// The language the switch offers.
    pub fn other(&self) -> Lang {
        self.lang.other()
    }
}

/// An ISO 8601 UTC time of Unix ms (the page's script shows it in the browser's time zone).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A case as a worklist row.
#[derive(Debug, Clone)]
pub struct CaseRow {
    /// Case id.
    pub id: String,
    /// Subject id.
    pub subject: String,
    /// Site in words.
    pub site: &'static str,
    /// Device start time, ISO 8601.
    pub recorded: String,
    /// Why the engine flagged it, in words (empty when not flagged).
    pub why: String,
    /// The murmur finding in words (call, timing, grade).
    pub murmur: String,
    /// Why the murmur could not be judged, in the page's language (the engine's English words
    /// for an analysis stored before its code was; empty when it was judged).
    pub murmur_reason: String,
    /// Quality in words with the signal-quality index.
    pub quality: String,
    /// `flagged`, `unreviewed`, `reviewed`, `pending`, `failed` (CSS class).
    pub status_class: &'static str,
    /// The status in words.
    pub status: &'static str,
}

impl CaseRow {
    /// The row of `row` in `lang`.
    pub fn of(row: &RecordingRow, lang: Lang) -> CaseRow {
        let w = lang.words();
        let analysis = row
            .analysis_json
            .as_deref()
            .filter(|_| row.analysis_state == analysis_state::DONE)
            .and_then(|json| StoredAnalysis::from_json(json).ok());
        let (why, murmur, quality) = match &analysis {
            Some(a) => describe(a, lang),
            None => (String::new(), String::new(), String::new()),
        };
        let murmur_reason = analysis
            .as_ref()
            .and_then(|a| {
                let m = &a.murmur;
                m.unknown_kind
                    .and_then(|kind| lang.unknown_reason(kind, m.unknown_value))
                    .or_else(|| m.unknown_reason.clone())
            })
            .unwrap_or_default();
        let (status_class, status) = match row.analysis_state.as_str() {
            analysis_state::PENDING | analysis_state::NONE => ("pending", w.pending),
            analysis_state::FAILED => ("failed", w.failed),
            _ if row.review_count > 0 => ("reviewed", w.reviewed),
            _ if row.flagged => ("flagged", w.flagged),
            _ => ("unreviewed", w.unreviewed),
        };
        CaseRow {
            id: row.id.clone(),
            subject: row.meta.subject_id.clone(),
            site: lang.site(&row.meta.site),
            recorded: iso(row.meta.started_at_ms),
            why,
            murmur,
            murmur_reason,
            quality,
            status_class,
            status,
        }
    }
}

/// (flag reasons, murmur, quality) of an analysis in words.
fn describe(a: &StoredAnalysis, lang: Lang) -> (String, String, String) {
    let w = lang.words();
    let why = a
        .flag_reasons
        .iter()
        .map(|r| lang.flag_reason(*r))
        .collect::<Vec<_>>()
        .join(", ");
    let mut murmur = lang.murmur(a.murmur.status).to_owned();
    if let Some(t) = a.murmur.timing {
        murmur.push_str(", ");
        murmur.push_str(lang.timing(t));
    }
    if let Some(g) = a.murmur.grade {
        murmur.push_str(&format!(", {} {g}/6", w.grade));
    }
    if a.murmur.status == MurmurCall::Absent
        && let Some(limit) = a.murmur.softest_grade.and_then(|g| lang.softest_grade(g))
    {
        murmur.push_str(&format!(" ({limit})"));
    }
    let quality = format!(
        "{} ({:.2})",
        if a.quality.usable {
            w.usable
        } else {
            w.not_usable
        },
        a.quality.sqi
    );
    (why, murmur, quality)
}

/// A review as shown.
#[derive(Debug, Clone)]
pub struct ReviewView {
    /// When, ISO 8601.
    pub at: String,
    /// The reviewer's principal id.
    pub reviewer: String,
    /// The verdict in words.
    pub verdict: &'static str,
    /// The findings text.
    pub findings: String,
    /// Referred.
    pub refer: bool,
}

impl ReviewView {
    /// The view of a stored review.
    pub fn of(r: &ReviewRow, w: &Words) -> ReviewView {
        ReviewView {
            at: iso(r.created_at_ms),
            reviewer: r.reviewer_id.clone(),
            verdict: if r.verdict == "agree" {
                w.agree
            } else {
                w.disagree
            },
            findings: r.findings.clone(),
            refer: r.refer,
        }
    }
}

/// An audit event as shown.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// When, ISO 8601.
    pub at: String,
    /// Who (principal id and role).
    pub who: String,
    /// The action's name (`case.get`, `case.review`, ...).
    pub action: String,
}

impl AuditView {
    /// The view of an event.
    pub fn of(e: &AuditEvent) -> AuditView {
        AuditView {
            at: iso(e.at_ms),
            who: format!("{} ({})", e.actor_id, e.actor_role),
            action: e.action.clone(),
        }
    }
}

/// A choice in a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The submitted value.
    pub value: &'static str,
    /// The label.
    pub label: &'static str,
    /// Whether it is selected.
    pub selected: bool,
}

/// An error page (both languages: it may come before any session).
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// HTTP status.
    pub status: u16,
    /// English text.
    pub en: &'static str,
    /// Japanese text.
    pub ja: &'static str,
}

/// The sign-in page.
#[derive(Debug, Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    /// Chrome.
    pub c: Chrome,
    /// Why the last attempt failed.
    pub error: Option<&'static str>,
}

/// The account (password change) page.
#[derive(Debug, Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Chrome.
    pub c: Chrome,
    /// The outcome of the last change.
    pub message: Option<&'static str>,
}

/// The worklist.
#[derive(Debug, Template)]
#[template(path = "worklist.html")]
pub struct WorklistPage {
    /// Chrome.
    pub c: Chrome,
    /// The rows of this page.
    pub rows: Vec<CaseRow>,
    /// The "flagged only" filter.
    pub flagged: bool,
    /// The "unreviewed only" filter.
    pub unreviewed: bool,
    /// Site choices.
    pub sites: Vec<Choice>,
    /// The next page's link, if any.
    pub next_href: Option<String>,
    /// Where the script polls for the first page's rows (only on the first page).
    pub poll_href: Option<String>,
    /// The worklist version these rows show (the poll sends it back as `since`).
    pub version: String,
    /// This page's path and query (for the language switch).
    pub here: String,
}

/// The worklist's rows alone (polled by the page's script).
#[derive(Debug, Template)]
#[template(path = "rows.html")]
pub struct RowsFragment {
    /// The rows.
    pub rows: Vec<CaseRow>,
}

/// A case.
#[derive(Debug, Template)]
#[template(path = "case.html")]
pub struct CasePage {
    /// Chrome.
    pub c: Chrome,
    /// The case as a row (why, murmur, quality, status).
    pub case: CaseRow,
    /// Heart rate in words.
    pub heart_rate: String,
    /// The waveform, an SVG element generated from numbers only.
    pub svg: String,
    /// Whether the waveform has an ECG strip.
    pub has_ecg: bool,
    /// Why the engine set the ECG aside, in words; empty when it used it or none was sent.
    pub ecg_set_aside: &'static str,
    /// The recording's duration, s.
    pub duration_s: f64,
    /// The engine's ensemble-averaged cycle, an SVG element generated from numbers only; empty
    /// without accepted cycles.
    pub ensemble_svg: String,
    /// How many cycles it averages.
    pub ensemble_cycles: usize,
    /// Whether a cleaned variant can be made (an analysis with cycles).
    pub can_clean: bool,
    /// The subject's earlier recordings at the same site.
    pub earlier: Vec<CaseRow>,
    /// Reviews, oldest first.
    pub reviews: Vec<ReviewView>,
    /// Whether the person may review.
    pub can_review: bool,
    /// The case's audit trail, when the person may read it.
    pub audit: Option<Vec<AuditView>>,
    /// A review was just saved.
    pub saved: bool,
    /// This page's path (for the language switch).
    pub here: String,
}

/// A live session as a row.
#[derive(Debug, Clone)]
pub struct LiveRow {
    /// Recording id.
    pub id: String,
    /// Subject id.
    pub subject: String,
    /// Site in words.
    pub site: &'static str,
    /// Device start time, ISO 8601.
    pub started: String,
}

impl LiveRow {
    /// The row of `s` in `lang`.
    pub fn of(s: &crate::live::LiveSession, lang: Lang) -> LiveRow {
        LiveRow {
            id: s.recording_id.clone(),
            subject: s.subject_id.clone(),
            site: lang.site(&s.site),
            started: iso(s.started_at_ms),
        }
    }
}

/// The nurses' station (its script fills it).
#[derive(Debug, Template)]
#[template(path = "station.html")]
pub struct StationPage {
    /// Around the page.
    pub c: Chrome,
}

/// One sensor and parameter of a resident, with its last sample.
#[derive(Debug, Clone)]
pub struct SensorRow {
    /// The sensor as its device names it.
    pub sensor: String,
    /// The parameter in words.
    pub parameter: String,
    /// Its last sample time, ISO 8601.
    pub last: String,
    /// Whether an unresolved silent-sensor alert names it.
    pub silent: bool,
}

/// An alert as a row of a resident's page.
#[derive(Debug, Clone)]
pub struct AlertRow {
    /// Severity (CSS class, as spelled by the vocabulary).
    pub severity: String,
    /// Severity in words.
    pub severity_label: &'static str,
    /// State in words.
    pub state_label: &'static str,
    /// Its findings in words.
    pub findings: String,
    /// When it was raised, ISO 8601.
    pub raised: String,
    /// Escalation level.
    pub level: u32,
}

impl AlertRow {
    /// The row of `a` in `lang`.
    pub fn of(a: &auscult_proto::v1::Alert, lang: Lang) -> AlertRow {
        use crate::vitals::wire;
        let j = super::station::alert_json(a, lang);
        let text = |k: &str| j[k].as_str().unwrap_or("").to_owned();
        AlertRow {
            severity: text("severity"),
            severity_label: wire::severity_of(a.severity).map_or("", |s| lang.severity(s)),
            state_label: wire::alert_state_of(a.state).map_or("", |s| lang.alert_status(s)),
            findings: text("findings"),
            raised: a
                .raised_at
                .as_ref()
                .map(|t| iso(crate::convert::millis(t)))
                .unwrap_or_default(),
            level: a.escalation_level,
        }
    }
}

/// The live sessions of the tenant.
#[derive(Debug, Template)]
#[template(path = "live_list.html")]
pub struct LiveListPage {
    /// Chrome.
    pub c: Chrome,
    /// The sessions, oldest first.
    pub sessions: Vec<LiveRow>,
}

/// One live session: the scrolling waveform with S1/S2, the player, the requests to the device.
#[derive(Debug, Template)]
#[template(path = "live.html")]
pub struct LivePage {
    /// Chrome.
    pub c: Chrome,
    /// The session.
    pub session: LiveRow,
    /// PCG sample rate.
    pub rate: u32,
    /// The sites the device may be sent to.
    pub sites: Vec<Choice>,
    /// Whether the person may send requests (a clinician).
    pub can_instruct: bool,
    /// Whether the device can receive them.
    pub takes_instructions: bool,
    /// A request was just sent (the form without script).
    pub sent: bool,
    /// This page's path (for the language switch).
    pub here: String,
}

/// A resident's page: sensors, alerts, trend charts (filled by the script).
#[derive(Debug, Template)]
#[template(path = "resident.html")]
pub struct ResidentPage {
    /// Around the page.
    pub c: Chrome,
    /// The resident's (pseudonymous) subject id.
    pub subject: String,
    /// Sensors with their last samples.
    pub sensors: Vec<SensorRow>,
    /// The resident's latest alerts.
    pub alerts: Vec<AlertRow>,
    /// The resident's family invitations and grants, for those who may invite (else `None`).
    pub family: Option<Vec<FamilyRow>>,
}

/// A family invitation or grant as a row of a resident's page (for the nurses).
#[derive(Debug, Clone)]
pub struct FamilyRow {
    /// Its id (for the withdraw form).
    pub id: String,
    /// The relative's name.
    pub relative_name: String,
    /// Their relationship to the resident.
    pub relationship: String,
    /// `invited`, `active`, `expired` or `revoked` (CSS class, test hook).
    pub state: &'static str,
    /// The state in words.
    pub state_label: &'static str,
    /// Who recorded the consent, and the document's version.
    pub consent: String,
    /// Whether recordings may be shared.
    pub share_recordings: bool,
    /// When it was made, ISO 8601.
    pub created: String,
    /// Whether it can still be withdrawn.
    pub revocable: bool,
}

impl FamilyRow {
    /// The row of `a` at `now_ms` in `lang`.
    pub fn of(a: &auscult_store::family::FamilyAccess, lang: Lang, now_ms: i64) -> FamilyRow {
        use auscult_store::family::AccessState;
        let w = lang.words();
        let (state, state_label) = match a.state(now_ms) {
            AccessState::Invited => ("invited", w.access_invited),
            AccessState::Active => ("active", w.access_active),
            AccessState::Expired => ("expired", w.access_expired),
            AccessState::Revoked => ("revoked", w.access_revoked),
        };
        FamilyRow {
            id: a.id.clone(),
            relative_name: a.relative_name.clone(),
            relationship: a.relationship.clone(),
            state,
            state_label,
            consent: format!("{} ({})", a.consent_recorded_by, a.consent_version),
            share_recordings: a.share_recordings,
            created: iso(a.created_at_ms),
            revocable: matches!(state, "invited" | "active"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_call_says_in_either_language_what_it_could_not_have_heard() {
        let stored = |softest: &str| {
            StoredAnalysis::from_json(&format!(
                r#"{{"duration_s": 10.0, "sample_rate_hz": 2000.0, "ecg_used": false,
                "cycles": [], "murmur": {{"status": "absent", "confidence": 0.9{softest}}},
                "extra_sounds": [], "quality": {{"usable": true, "sqi": 0.9}},
                "flagged": false}}"#
            ))
            .expect("stored analysis")
        };
        let noisy = stored(r#", "softest_grade": 3"#);
        assert_eq!(
            describe(&noisy, Lang::En).1,
            "no murmur (a murmur softer than grade 3/6 would stay under this recording's noise)"
        );
        assert!(
            describe(&noisy, Lang::Ja)
                .1
                .contains("3/6 度より弱い心雑音は聞き取れません")
        );
        assert_eq!(
            describe(&stored(r#", "softest_grade": 1"#), Lang::En).1,
            "no murmur"
        );
        assert_eq!(describe(&stored(""), Lang::En).1, "no murmur");
    }

    #[test]
    fn a_reason_is_worded_in_japanese_from_its_kind_and_number() {
        use auscult_dsp::{Term, UnknownKind};
        for &kind in UnknownKind::ALL {
            let ja = Lang::Ja
                .unknown_reason(kind, Some(2.0))
                .expect("Japanese words");
            assert!(!ja.is_ascii(), "{kind}: {ja}");
        }
        assert_eq!(
            Lang::Ja
                .unknown_reason(UnknownKind::TooFewCycles, Some(0.0))
                .as_deref(),
            Some("きれいな心周期が少なすぎます（採用 0 拍）")
        );
        // English keeps the engine's own words.
        assert_eq!(
            Lang::En.unknown_reason(UnknownKind::TooShort, Some(1.0)),
            None
        );
    }
}
