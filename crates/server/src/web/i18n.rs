//! The console's words in English and Japanese: one table per language, chosen per request from
//! the `lang` cookie (set by the language switch) or else `Accept-Language`.
//!
//! The engine's findings are put in words here from the engine's own enums (matched
//! exhaustively, so a new finding does not compile until it has words in both languages).

use auscult_dsp::{EcgSetAside, FlagReason, MurmurCall, MurmurTiming, UnknownKind};
use auscult_vitals::{
    AlertEventKind, AlertStatus, ConditionClass, FamilyStatus, Parameter, Severity,
};

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Japanese.
    Ja,
}

impl Lang {
    /// The BCP 47 tag (for `<html lang>` and the cookie).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// The language a tag names, if the console speaks it.
    pub fn parse(tag: &str) -> Option<Lang> {
        match tag.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The language of a request: the cookie's choice, else the first language of
    /// `Accept-Language` the console speaks (by the listed order, weights are not re-sorted:
    /// browsers send them in order), else English.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        accept_language
            .unwrap_or("")
            .split(',')
            .filter_map(|item| {
                let tag = item.split(';').next().unwrap_or("").trim();
                Lang::parse(tag.split('-').next().unwrap_or(""))
            })
            .next()
            .unwrap_or(Lang::En)
    }

    /// The words of this language.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }

    /// The other language (for the switch).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ja,
            Lang::Ja => Lang::En,
        }
    }

    /// The name of this language in itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ja => "日本語",
        }
    }

    /// A flag reason in words.
    pub fn flag_reason(self, reason: FlagReason) -> &'static str {
        match (self, reason) {
            (Lang::En, FlagReason::Murmur) => "murmur",
            (Lang::En, FlagReason::IrregularRhythm) => "irregular rhythm",
            (Lang::En, FlagReason::ExtraSound) => "extra heart sound",
            (Lang::En, FlagReason::CannotJudge) => "could not be judged",
            (Lang::En, FlagReason::AbnormalScore) => "abnormal score",
            (Lang::Ja, FlagReason::Murmur) => "心雑音",
            (Lang::Ja, FlagReason::IrregularRhythm) => "不整なリズム",
            (Lang::Ja, FlagReason::ExtraSound) => "過剰心音",
            (Lang::Ja, FlagReason::CannotJudge) => "判定不能",
            (Lang::Ja, FlagReason::AbnormalScore) => "異常スコア",
        }
    }

    /// Why the ECG sent with a recording was set aside, and what the cycles came from instead.
    pub fn ecg_set_aside(self, why: EcgSetAside) -> &'static str {
        match (self, why) {
            (Lang::En, EcgSetAside::NoBeats) => {
                "ECG set aside (no heartbeats found in it): cycles from the heart sounds alone"
            }
            (Lang::En, EcgSetAside::Unsteady) => {
                "ECG set aside (its beats keep no steady rate): cycles from the heart sounds alone"
            }
            (Lang::En, EcgSetAside::FewBeats) => {
                "ECG set aside (too few of its beats found): cycles from the heart sounds alone"
            }
            (Lang::En, EcgSetAside::NotFollowed) => {
                "ECG set aside (the heart sounds do not follow its beats): cycles from the heart sounds alone"
            }
            (Lang::Ja, EcgSetAside::NoBeats) => {
                "心電図は不使用 (心拍を検出できない): 心周期は心音のみから求めた"
            }
            (Lang::Ja, EcgSetAside::Unsteady) => {
                "心電図は不使用 (心拍の間隔が一定しない): 心周期は心音のみから求めた"
            }
            (Lang::Ja, EcgSetAside::FewBeats) => {
                "心電図は不使用 (検出できた心拍が少なすぎる): 心周期は心音のみから求めた"
            }
            (Lang::Ja, EcgSetAside::NotFollowed) => {
                "心電図は不使用 (心音が心電図の拍動に一致しない): 心周期は心音のみから求めた"
            }
        }
    }

    /// A murmur timing in words.
    pub fn timing(self, timing: MurmurTiming) -> &'static str {
        match (self, timing) {
            (Lang::En, MurmurTiming::Systolic) => "systolic",
            (Lang::En, MurmurTiming::Diastolic) => "diastolic",
            (Lang::En, MurmurTiming::Both) => "systolic and diastolic",
            (Lang::Ja, MurmurTiming::Systolic) => "収縮期",
            (Lang::Ja, MurmurTiming::Diastolic) => "拡張期",
            (Lang::Ja, MurmurTiming::Both) => "収縮期・拡張期",
        }
    }

    /// A murmur call in words.
    pub fn murmur(self, call: MurmurCall) -> &'static str {
        match (self, call) {
            (Lang::En, MurmurCall::Present) => "murmur present",
            (Lang::En, MurmurCall::Absent) => "no murmur",
            (Lang::En, MurmurCall::Unknown) => "murmur unknown",
            (Lang::Ja, MurmurCall::Present) => "心雑音あり",
            (Lang::Ja, MurmurCall::Absent) => "心雑音なし",
            (Lang::Ja, MurmurCall::Unknown) => "心雑音 判定不能",
        }
    }

    /// What an absent murmur call could not have heard: `None` where a grade 1 murmur would
    /// have shown (the engine's `softest_grade`; English as the engine spells it).
    pub fn softest_grade(self, grade: u8) -> Option<String> {
        match self {
            Lang::En => auscult_dsp::vocab::softest_grade_words(grade),
            Lang::Ja => (grade > 1)
                .then(|| format!("この録音の雑音では {grade}/6 度より弱い心雑音は聞き取れません")),
        }
    }

    /// Why a murmur could not be judged, from its kind and number
    /// (`dsp::UnknownReason::kind`, `value`), in this language; `None` for English, whose
    /// words the engine stores itself.
    pub fn unknown_reason(self, kind: UnknownKind, value: Option<f64>) -> Option<String> {
        if self == Lang::En {
            return None;
        }
        let v = value.unwrap_or(f64::NAN);
        Some(match kind {
            UnknownKind::TooShort => format!("録音が短すぎます（{v:.2} 秒）"),
            UnknownKind::NoHeartSounds => "心音が見つかりません".into(),
            UnknownKind::Clipped => {
                format!("音が振り切れています（サンプルの {:.0}% が上限）", v * 100.0)
            }
            UnknownKind::TooNoisy => format!("雑音が多すぎます（信号品質 {v:.2}）"),
            UnknownKind::TooFewCycles => format!("きれいな心周期が少なすぎます（採用 {v:.0} 拍）"),
            UnknownKind::NonFinite => "サンプルに NaN または無限大が含まれます".into(),
            UnknownKind::UnlikeTraining => {
                format!("学習したどの録音とも似ていません：録り直すか聴診してください（距離 {v:.1}）")
            }
            UnknownKind::NoMeasurableCycle => "収縮期と拡張期の両方を測れる心周期がなく、心雑音と雑音を区別できません：録り直すか聴診してください".into(),
            UnknownKind::OneSoundPerCycle => format!(
                "1 周期に音が 1 つしかなく、I 音と II 音がそろいません（もう一方は周期の最も静かな部分より {v:.1} dB 上）：心音でない、チェストピースが心臓から外れている、または連続性雑音に埋もれた音：録り直すか聴診してください"
            ),
            UnknownKind::IndistinctSounds => format!(
                "心音がはっきりしません（25–80 Hz で周期の他の部分より {v:.1} dB 上、心臓ならおよそ 4 dB 以上）：呼吸音、雑音、チェストピースが心臓から外れている、または心音と同じ大きさの低い雑音：録り直すか聴診してください"
            ),
            UnknownKind::LittleInCleanCycles => format!(
                "きれいな心周期が録音の {:.0}% にしかありません（よく録れた心音なら大半を占めます）：残りは話し声、こすれ、雑音か、下に心臓がありません：録り直すか聴診してください",
                v * 100.0
            ),
            UnknownKind::MurmurMaskedByNoise => format!(
                "雑音のため心雑音を否定できません：この録音の雑音では {v:.0}/6 度より弱い心雑音は聞き取れません：静かな場所で録り直すか聴診してください"
            ),
        })
    }

    /// An alert severity in words.
    pub fn severity(self, s: Severity) -> &'static str {
        match (self, s) {
            (Lang::En, Severity::Technical) => "technical",
            (Lang::En, Severity::Low) => "low",
            (Lang::En, Severity::LowMedium) => "low–medium",
            (Lang::En, Severity::Medium) => "medium",
            (Lang::En, Severity::High) => "high",
            (Lang::En, Severity::Critical) => "critical",
            (Lang::Ja, Severity::Technical) => "技術的",
            (Lang::Ja, Severity::Low) => "低",
            (Lang::Ja, Severity::LowMedium) => "低〜中",
            (Lang::Ja, Severity::Medium) => "中",
            (Lang::Ja, Severity::High) => "高",
            (Lang::Ja, Severity::Critical) => "緊急",
        }
    }

    /// An alert's state in words.
    pub fn alert_status(self, s: AlertStatus) -> &'static str {
        match (self, s) {
            (Lang::En, AlertStatus::Open) => "open",
            (Lang::En, AlertStatus::Acknowledged) => "acknowledged",
            (Lang::En, AlertStatus::Resolved) => "resolved",
            (Lang::Ja, AlertStatus::Open) => "未確認",
            (Lang::Ja, AlertStatus::Acknowledged) => "確認済み",
            (Lang::Ja, AlertStatus::Resolved) => "解決済み",
        }
    }

    /// What happened to an alert, in words.
    pub fn alert_change(self, c: AlertEventKind) -> &'static str {
        match (self, c) {
            (Lang::En, AlertEventKind::Raised) => "raised",
            (Lang::En, AlertEventKind::SeverityRaised) => "got worse",
            (Lang::En, AlertEventKind::Escalated) => "escalated",
            (Lang::En, AlertEventKind::Acknowledged) => "acknowledged",
            (Lang::En, AlertEventKind::Snoozed) => "snoozed",
            (Lang::En, AlertEventKind::SnoozeEnded) => "snooze ended",
            (Lang::En, AlertEventKind::ConditionAdded) => "another finding",
            (Lang::En, AlertEventKind::ConditionCleared) => "condition cleared",
            (Lang::En, AlertEventKind::Resolved) => "resolved",
            (Lang::En, AlertEventKind::Resumed) => "continued after a restart",
            (Lang::Ja, AlertEventKind::Raised) => "発生",
            (Lang::Ja, AlertEventKind::SeverityRaised) => "悪化",
            (Lang::Ja, AlertEventKind::Escalated) => "エスカレート",
            (Lang::Ja, AlertEventKind::Acknowledged) => "確認",
            (Lang::Ja, AlertEventKind::Snoozed) => "保留",
            (Lang::Ja, AlertEventKind::SnoozeEnded) => "保留終了",
            (Lang::Ja, AlertEventKind::ConditionAdded) => "所見追加",
            (Lang::Ja, AlertEventKind::ConditionCleared) => "条件解消",
            (Lang::Ja, AlertEventKind::Resolved) => "解決",
            (Lang::Ja, AlertEventKind::Resumed) => "再起動後に継続",
        }
    }

    /// A finding of an alert in words.
    pub fn condition(self, c: ConditionClass) -> &'static str {
        match (self, c) {
            (Lang::En, ConditionClass::News2) => "NEWS2",
            (Lang::En, ConditionClass::SuddenChange) => "sudden change",
            (Lang::En, ConditionClass::NoPulse) => "no pulse",
            (Lang::En, ConditionClass::NoBreathing) => "no breathing",
            (Lang::En, ConditionClass::SensorSilent) => "sensor silent",
            (Lang::Ja, ConditionClass::News2) => "NEWS2",
            (Lang::Ja, ConditionClass::SuddenChange) => "急変",
            (Lang::Ja, ConditionClass::NoPulse) => "脈拍なし",
            (Lang::Ja, ConditionClass::NoBreathing) => "呼吸なし",
            (Lang::Ja, ConditionClass::SensorSilent) => "センサー途絶",
        }
    }

    /// A vital parameter in words.
    pub fn parameter(self, p: Parameter) -> &'static str {
        match (self, p) {
            (Lang::En, Parameter::HeartRate) => "heart rate /min",
            (Lang::En, Parameter::RespiratoryRate) => "respiratory rate /min",
            (Lang::En, Parameter::SpO2) => "SpO2 %",
            (Lang::En, Parameter::Temperature) => "temperature °C",
            (Lang::En, Parameter::BloodPressure) => "systolic BP mmHg",
            (Lang::En, Parameter::Consciousness) => "consciousness",
            (Lang::En, Parameter::OxygenSupport) => "oxygen",
            (Lang::Ja, Parameter::HeartRate) => "心拍数 /分",
            (Lang::Ja, Parameter::RespiratoryRate) => "呼吸数 /分",
            (Lang::Ja, Parameter::SpO2) => "SpO2 %",
            (Lang::Ja, Parameter::Temperature) => "体温 °C",
            (Lang::Ja, Parameter::BloodPressure) => "収縮期血圧 mmHg",
            (Lang::Ja, Parameter::Consciousness) => "意識レベル",
            (Lang::Ja, Parameter::OxygenSupport) => "酸素",
        }
    }

    /// What happened to an alert, as a family is told it (`None`: nothing a family needs to
    /// hear about, such as a condition added to an open alert).
    pub fn family_change(self, c: AlertEventKind) -> Option<&'static str> {
        Some(match (self, c) {
            (Lang::En, AlertEventKind::Raised) => "An alert was raised",
            (Lang::En, AlertEventKind::SeverityRaised) => "The alert became more urgent",
            (Lang::En, AlertEventKind::Escalated) => "More staff were called",
            (Lang::En, AlertEventKind::Acknowledged) => "A nurse is looking at it",
            (Lang::En, AlertEventKind::Snoozed) => "A nurse will check again shortly",
            (Lang::En, AlertEventKind::Resolved) => "Resolved by a nurse",
            (Lang::Ja, AlertEventKind::Raised) => "アラートが出ました",
            (Lang::Ja, AlertEventKind::SeverityRaised) => "緊急度が上がりました",
            (Lang::Ja, AlertEventKind::Escalated) => "ほかの職員も呼ばれました",
            (Lang::Ja, AlertEventKind::Acknowledged) => "看護師が対応しています",
            (Lang::Ja, AlertEventKind::Snoozed) => "看護師がまもなく再確認します",
            (Lang::Ja, AlertEventKind::Resolved) => "看護師が対応を終えました",
            (
                _,
                AlertEventKind::SnoozeEnded
                | AlertEventKind::ConditionAdded
                | AlertEventKind::ConditionCleared
                | AlertEventKind::Resumed,
            ) => return None,
        })
    }

    /// A family's status in words (a silent sensor's words end before its time).
    pub fn family_status(self, s: FamilyStatus) -> &'static str {
        let w = self.words();
        match s {
            FamilyStatus::AllUsual => w.status_all_usual,
            FamilyStatus::AlertWaiting => w.status_alert_waiting,
            FamilyStatus::NurseLooking => w.status_nurse_looking,
            FamilyStatus::SensorSilent { .. } => w.status_sensor_silent,
        }
    }

    /// An auscultation site (as stored) in words.
    pub fn site(self, site: &str) -> &'static str {
        match (self, site) {
            (Lang::En, "aortic") => "aortic",
            (Lang::En, "pulmonic") => "pulmonic",
            (Lang::En, "tricuspid") => "tricuspid",
            (Lang::En, "mitral") => "mitral",
            (Lang::Ja, "aortic") => "大動脈弁領域",
            (Lang::Ja, "pulmonic") => "肺動脈弁領域",
            (Lang::Ja, "tricuspid") => "三尖弁領域",
            (Lang::Ja, "mitral") => "僧帽弁領域",
            (Lang::En, _) => "other",
            (Lang::Ja, _) => "その他",
        }
    }
}

/// Every fixed text of the console, in one language.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Words {
    pub title: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in_failed: &'static str,
    pub locked: &'static str,
    pub worklist: &'static str,
    pub flagged_only: &'static str,
    pub unreviewed_only: &'static str,
    pub all_sites: &'static str,
    pub site: &'static str,
    pub apply: &'static str,
    pub subject: &'static str,
    pub recorded: &'static str,
    pub why: &'static str,
    pub quality: &'static str,
    pub status: &'static str,
    pub flagged: &'static str,
    pub reviewed: &'static str,
    pub unreviewed: &'static str,
    pub pending: &'static str,
    pub failed: &'static str,
    pub next_page: &'static str,
    pub no_cases: &'static str,
    pub new_cases: &'static str,
    pub grade: &'static str,
    pub usable: &'static str,
    pub not_usable: &'static str,
    pub heart_rate: &'static str,
    pub waveform: &'static str,
    pub play: &'static str,
    pub loop_cycle: &'static str,
    pub half_speed: &'static str,
    pub audio: &'static str,
    pub original: &'static str,
    pub cleaned: &'static str,
    pub filter: &'static str,
    pub bell: &'static str,
    pub diaphragm: &'static str,
    pub wide: &'static str,
    pub earlier: &'static str,
    pub none: &'static str,
    pub review: &'static str,
    pub verdict: &'static str,
    pub agree: &'static str,
    pub disagree: &'static str,
    pub findings: &'static str,
    pub refer: &'static str,
    pub rerecord: &'static str,
    pub submit: &'static str,
    pub reviews: &'static str,
    pub audit_trail: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub action: &'static str,
    pub shortcuts: &'static str,
    pub account: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub password_changed: &'static str,
    pub password_rules: &'static str,
    pub wrong_password: &'static str,
    pub not_found: &'static str,
    pub bad_request: &'static str,
    pub forbidden: &'static str,
    pub unavailable: &'static str,
    pub back: &'static str,
    pub legend_s1: &'static str,
    pub legend_s2: &'static str,
    pub legend_murmur: &'static str,
    pub legend_ecg: &'static str,
    pub ensemble: &'static str,
    pub ensemble_hint: &'static str,
    pub cycles_averaged: &'static str,
    pub review_saved: &'static str,
    pub live: &'static str,
    pub live_sessions: &'static str,
    pub no_live: &'static str,
    pub listen: &'static str,
    pub listening: &'static str,
    pub live_started: &'static str,
    pub session_ended: &'static str,
    pub open_case: &'static str,
    pub instruct: &'static str,
    pub next_site: &'static str,
    pub hold_still: &'static str,
    pub instruction_sent: &'static str,
    pub no_instructions: &'static str,
    pub station: &'static str,
    pub live_alerts: &'static str,
    pub no_alerts: &'static str,
    pub silent_sensors: &'static str,
    pub no_silent: &'static str,
    pub resident: &'static str,
    pub severity: &'static str,
    pub alert_kind: &'static str,
    pub raised: &'static str,
    pub level: &'static str,
    pub actions: &'static str,
    pub acknowledge: &'static str,
    pub snooze: &'static str,
    pub resolve: &'static str,
    pub escalate: &'static str,
    pub alarm_on: &'static str,
    pub alarm_off: &'static str,
    pub enable_sound: &'static str,
    pub connected: &'static str,
    pub reconnecting: &'static str,
    pub trends: &'static str,
    pub last_24h: &'static str,
    pub last_7d: &'static str,
    pub zoom_hint: &'static str,
    pub sensors: &'static str,
    pub sensor: &'static str,
    pub parameter: &'static str,
    pub last_sample: &'static str,
    pub resident_alerts: &'static str,
    pub back_station: &'static str,
    pub conflict: &'static str,
    pub news2: &'static str,
    pub no_data: &'static str,
    pub family_home: &'static str,
    pub family_relative: &'static str,
    pub family_now: &'static str,
    pub status_all_usual: &'static str,
    pub status_alert_waiting: &'static str,
    pub status_nurse_looking: &'static str,
    pub status_sensor_silent: &'static str,
    pub family_week: &'static str,
    pub family_history: &'static str,
    pub family_no_history: &'static str,
    pub notify_me: &'static str,
    pub notify_on: &'static str,
    pub notify_blocked: &'static str,
    pub notify_raised: &'static str,
    pub notify_resolved: &'static str,
    pub family_consent: &'static str,
    pub recordings_shared: &'static str,
    pub recordings_not_shared: &'static str,
    pub family_none: &'static str,
    pub family_access: &'static str,
    pub invite_family: &'static str,
    pub relative_name: &'static str,
    pub relationship: &'static str,
    pub consent_recorded_by: &'static str,
    pub consent_version: &'static str,
    pub share_recordings: &'static str,
    pub create_invitation: &'static str,
    pub invitation_made: &'static str,
    pub access_invited: &'static str,
    pub access_active: &'static str,
    pub access_expired: &'static str,
    pub access_revoked: &'static str,
    pub revoke_access: &'static str,
    pub no_family: &'static str,
    pub invitation_title: &'static str,
    pub invitation_intro: &'static str,
    pub choose_login: &'static str,
    pub username_rules: &'static str,
    pub password_again: &'static str,
    pub accept_invitation: &'static str,
    pub add_to_account: &'static str,
    pub username_taken: &'static str,
    pub passwords_differ: &'static str,
    pub login_invalid: &'static str,
}

static EN: Words = Words {
    title: "auscult console",
    sign_in: "Sign in",
    sign_out: "Sign out",
    username: "Username",
    password: "Password",
    sign_in_failed: "The username or password is wrong.",
    locked: "Too many failed attempts: this account is locked for 15 minutes.",
    worklist: "Worklist",
    flagged_only: "Flagged only",
    unreviewed_only: "Unreviewed only",
    all_sites: "All sites",
    site: "Site",
    apply: "Apply",
    subject: "Subject",
    recorded: "Recorded",
    why: "Why",
    quality: "Quality",
    status: "Status",
    flagged: "flagged",
    reviewed: "reviewed",
    unreviewed: "unreviewed",
    pending: "analysing",
    failed: "analysis failed",
    next_page: "Next page",
    no_cases: "No cases.",
    new_cases: "New cases arrived; the list is up to date.",
    grade: "grade",
    usable: "good",
    not_usable: "poor",
    heart_rate: "Heart rate",
    waveform: "Heart sounds (PCG)",
    play: "Play / pause",
    loop_cycle: "Loop one cycle",
    half_speed: "Half speed",
    audio: "Audio",
    original: "Original",
    cleaned: "Cleaned (heartbeat-locked)",
    filter: "Listening filter",
    bell: "Bell 20–200 Hz",
    diaphragm: "Diaphragm 100–500 Hz",
    wide: "Wide",
    earlier: "Earlier recordings at this site",
    none: "None.",
    review: "Review",
    verdict: "Verdict",
    agree: "Agree with the engine",
    disagree: "Disagree",
    findings: "Findings",
    refer: "Refer",
    rerecord: "Ask for a new recording",
    submit: "Submit review",
    reviews: "Reviews",
    audit_trail: "Audit trail of this case",
    when: "When",
    who: "Who",
    action: "Action",
    shortcuts: "Keys: Space play/pause · L loop · H half speed · A agree · D disagree · R refer",
    account: "Account",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password",
    password_changed: "Your password was changed.",
    password_rules: "At least 12 characters.",
    wrong_password: "The current password is wrong, or the new one is too short.",
    not_found: "Not found.",
    bad_request: "The request was not understood.",
    forbidden: "This form has expired or was not sent by this console. Reload the page and try again.",
    unavailable: "Temporarily unavailable; try again.",
    back: "Back to the worklist",
    legend_s1: "S1",
    legend_s2: "S2",
    legend_murmur: "murmur",
    legend_ecg: "ECG beneath (R peaks as lines when only those were sent)",
    ensemble: "Ensemble-averaged cycle",
    ensemble_hint: "The accepted cycles averaged, aligned on S1 and S2: what repeats every beat stays, noise fades. The line is the averaged intensity.",
    cycles_averaged: "cycles averaged",
    review_saved: "Review saved.",
    live: "Live",
    live_sessions: "Live auscultation",
    no_live: "No device is streaming live now.",
    listen: "Listen",
    listening: "Listening",
    live_started: "Started",
    session_ended: "The session has ended; the recording is analysed as a case.",
    open_case: "Open the case",
    instruct: "Ask the person holding the stethoscope",
    next_site: "Next site",
    hold_still: "Hold still",
    instruction_sent: "Sent to the device.",
    no_instructions: "This device streams without acknowledgements and cannot receive requests.",
    station: "Nurses' station",
    live_alerts: "Live alerts",
    no_alerts: "No alerts.",
    silent_sensors: "Silent sensors",
    no_silent: "Every sensor is reporting.",
    resident: "Resident",
    severity: "Severity",
    alert_kind: "Alert",
    raised: "Raised",
    level: "Level",
    actions: "Actions",
    acknowledge: "Acknowledge",
    snooze: "Snooze 15 min",
    resolve: "Resolve",
    escalate: "Escalate",
    alarm_on: "Alarm sounding: acknowledge to silence",
    alarm_off: "No alarm",
    enable_sound: "Enable sound",
    connected: "Live",
    reconnecting: "Reconnecting…",
    trends: "Trends",
    last_24h: "24 hours",
    last_7d: "7 days",
    zoom_hint: "Drag across a chart to zoom in; double-click to zoom out.",
    sensors: "Sensors",
    sensor: "Sensor",
    parameter: "Parameter",
    last_sample: "Last sample",
    resident_alerts: "Alerts of this resident",
    back_station: "Back to the station",
    conflict: "This cannot be done in the alert's present state.",
    news2: "NEWS2",
    no_data: "No data in this range.",
    family_home: "Your relatives",
    family_relative: "Your relative",
    family_now: "Now",
    status_all_usual: "All as usual.",
    status_alert_waiting: "An alert is waiting for a nurse.",
    status_nurse_looking: "A nurse is looking at an alert.",
    status_sensor_silent: "The sensor has been silent since",
    family_week: "Pulse and breathing, last 7 days",
    family_history: "Alerts and what the nurses did",
    family_no_history: "No alerts in the last 7 days.",
    notify_me: "Notify me",
    notify_on: "You will be notified while this page is open.",
    notify_blocked: "This browser does not allow notifications from this page.",
    notify_raised: "An alert for your relative",
    notify_resolved: "The alert for your relative is resolved",
    family_consent: "Consent",
    recordings_shared: "The resident agreed to share recordings with you: ask the care team to play them for you.",
    recordings_not_shared: "Recordings are not shared.",
    family_none: "There is no relative to show. Ask the care team for a new invitation.",
    family_access: "Family access",
    invite_family: "Invite a family member",
    relative_name: "Family member's name",
    relationship: "Relationship to the resident",
    consent_recorded_by: "Resident's consent recorded by",
    consent_version: "Consent document version",
    share_recordings: "The resident agrees to share recordings",
    create_invitation: "Create invitation",
    invitation_made: "Give this link to the family member. It works once, until",
    access_invited: "invited",
    access_active: "has access",
    access_expired: "expired",
    access_revoked: "withdrawn",
    revoke_access: "Withdraw access",
    no_family: "No family member has been invited.",
    invitation_title: "Follow your relative",
    invitation_intro: "The care team invites you to follow resident",
    choose_login: "Choose a username and a password; you will sign in with them next time.",
    username_rules: "3 to 64 characters: a–z, 0–9, '.', '_' and '-'.",
    password_again: "Password again",
    accept_invitation: "Accept and sign in",
    add_to_account: "Add to my account",
    username_taken: "This username is taken: choose another.",
    passwords_differ: "The two passwords are not the same.",
    login_invalid: "Check the username and the password against the rules below them.",
};

static JA: Words = Words {
    title: "auscult コンソール",
    sign_in: "サインイン",
    sign_out: "サインアウト",
    username: "ユーザー名",
    password: "パスワード",
    sign_in_failed: "ユーザー名またはパスワードが違います。",
    locked: "失敗が続いたため、このアカウントは15分間ロックされています。",
    worklist: "ワークリスト",
    flagged_only: "フラグ付きのみ",
    unreviewed_only: "未レビューのみ",
    all_sites: "すべての部位",
    site: "部位",
    apply: "適用",
    subject: "対象者",
    recorded: "記録日時",
    why: "理由",
    quality: "品質",
    status: "状態",
    flagged: "フラグ",
    reviewed: "レビュー済み",
    unreviewed: "未レビュー",
    pending: "解析中",
    failed: "解析失敗",
    next_page: "次のページ",
    no_cases: "症例はありません。",
    new_cases: "新しい症例が届きました。一覧は最新です。",
    grade: "グレード",
    usable: "良好",
    not_usable: "不良",
    heart_rate: "心拍数",
    waveform: "心音図 (PCG)",
    play: "再生 / 一時停止",
    loop_cycle: "1心周期をループ",
    half_speed: "半速",
    audio: "音声",
    original: "原音",
    cleaned: "ノイズ除去 (心拍同期)",
    filter: "聴診フィルター",
    bell: "ベル 20–200 Hz",
    diaphragm: "膜型 100–500 Hz",
    wide: "ワイド",
    earlier: "同じ部位の過去の記録",
    none: "なし。",
    review: "レビュー",
    verdict: "判定",
    agree: "解析に同意",
    disagree: "同意しない",
    findings: "所見",
    refer: "紹介する",
    rerecord: "再記録を依頼",
    submit: "レビューを送信",
    reviews: "レビュー",
    audit_trail: "この症例の監査記録",
    when: "日時",
    who: "実行者",
    action: "操作",
    shortcuts: "キー: Space 再生/停止 · L ループ · H 半速 · A 同意 · D 不同意 · R 紹介",
    account: "アカウント",
    change_password: "パスワードの変更",
    current_password: "現在のパスワード",
    new_password: "新しいパスワード",
    password_changed: "パスワードを変更しました。",
    password_rules: "12文字以上。",
    wrong_password: "現在のパスワードが違うか、新しいパスワードが短すぎます。",
    not_found: "見つかりません。",
    bad_request: "リクエストを理解できませんでした。",
    forbidden: "このフォームは期限切れか、このコンソールから送信されたものではありません。再読み込みしてやり直してください。",
    unavailable: "一時的に利用できません。もう一度お試しください。",
    back: "ワークリストに戻る",
    legend_s1: "S1",
    legend_s2: "S2",
    legend_murmur: "心雑音",
    legend_ecg: "下段は心電図 (R波の時刻のみの場合は縦線)",
    ensemble: "加算平均心周期",
    ensemble_hint: "採用した心周期をI音・II音にそろえて加算平均したもの。毎拍くり返す音は残り、雑音は薄れます。線は平均した強さです。",
    cycles_averaged: "心周期を平均",
    review_saved: "レビューを保存しました。",
    live: "ライブ",
    live_sessions: "ライブ聴診",
    no_live: "現在ライブ配信中の機器はありません。",
    listen: "聴く",
    listening: "聴診中",
    live_started: "開始",
    session_ended: "セッションは終了しました。記録は症例として解析されます。",
    open_case: "症例を開く",
    instruct: "聴診器を持つ人への依頼",
    next_site: "次の部位",
    hold_still: "動かさないで",
    instruction_sent: "機器に送信しました。",
    no_instructions: "この機器は確認応答なしで送信しているため、依頼を受け取れません。",
    station: "ナースステーション",
    live_alerts: "アラート (リアルタイム)",
    no_alerts: "アラートはありません。",
    silent_sensors: "途絶えたセンサー",
    no_silent: "すべてのセンサーが送信中です。",
    resident: "入居者",
    severity: "重症度",
    alert_kind: "アラート",
    raised: "発生",
    level: "段階",
    actions: "操作",
    acknowledge: "確認",
    snooze: "15分保留",
    resolve: "解決",
    escalate: "エスカレート",
    alarm_on: "アラーム鳴動中: 確認で停止",
    alarm_off: "アラームなし",
    enable_sound: "音を有効にする",
    connected: "接続中",
    reconnecting: "再接続中…",
    trends: "トレンド",
    last_24h: "24時間",
    last_7d: "7日間",
    zoom_hint: "グラフをドラッグで拡大、ダブルクリックで元に戻します。",
    sensors: "センサー",
    sensor: "センサー",
    parameter: "項目",
    last_sample: "最終受信",
    resident_alerts: "この入居者のアラート",
    back_station: "ステーションに戻る",
    conflict: "このアラートの現在の状態ではできません。",
    news2: "NEWS2",
    no_data: "この期間のデータはありません。",
    family_home: "ご家族",
    family_relative: "ご家族の様子",
    family_now: "現在の様子",
    status_all_usual: "いつも通りです。",
    status_alert_waiting: "アラートが出ており、看護師の対応を待っています。",
    status_nurse_looking: "看護師がアラートに対応しています。",
    status_sensor_silent: "センサーからの受信が途絶えています。最終受信:",
    family_week: "脈拍と呼吸（過去7日間）",
    family_history: "アラートと看護師の対応",
    family_no_history: "過去7日間にアラートはありません。",
    notify_me: "通知を受け取る",
    notify_on: "このページを開いている間、通知します。",
    notify_blocked: "このブラウザではこのページからの通知が許可されていません。",
    notify_raised: "ご家族にアラートが出ました",
    notify_resolved: "ご家族のアラートは解決しました",
    family_consent: "同意",
    recordings_shared: "入居者は録音の共有に同意しています。再生はケアチームにご依頼ください。",
    recordings_not_shared: "録音は共有されません。",
    family_none: "表示できるご家族がいません。ケアチームに新しい招待を依頼してください。",
    family_access: "ご家族のアクセス",
    invite_family: "ご家族を招待",
    relative_name: "ご家族のお名前",
    relationship: "入居者との続柄",
    consent_recorded_by: "入居者の同意を記録した人",
    consent_version: "同意書の版",
    share_recordings: "入居者は録音の共有に同意しています",
    create_invitation: "招待を作成",
    invitation_made: "このリンクをご家族に渡してください。1回だけ、次の日時まで使えます:",
    access_invited: "招待中",
    access_active: "アクセス中",
    access_expired: "期限切れ",
    access_revoked: "取り消し済み",
    revoke_access: "アクセスを取り消す",
    no_family: "招待したご家族はいません。",
    invitation_title: "ご家族の見守り",
    invitation_intro: "ケアチームから、次の入居者の見守りに招待されています:",
    choose_login: "ユーザー名とパスワードを決めてください。次回からこれでサインインします。",
    username_rules: "3〜64文字（a–z、0–9、「.」「_」「-」）。",
    password_again: "パスワード（確認）",
    accept_invitation: "承諾してサインイン",
    add_to_account: "自分のアカウントに追加",
    username_taken: "このユーザー名は使われています。別の名前を選んでください。",
    passwords_differ: "2つのパスワードが一致しません。",
    login_invalid: "ユーザー名とパスワードを、下の決まりに合わせてください。",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_then_accept_language_then_english() {
        assert_eq!(Lang::choose(Some("ja"), Some("en-US")), Lang::Ja);
        assert_eq!(
            Lang::choose(None, Some("ja-JP,ja;q=0.9,en;q=0.8")),
            Lang::Ja
        );
        assert_eq!(
            Lang::choose(None, Some("fr-FR, en;q=0.5, ja;q=0.1")),
            Lang::En
        );
        assert_eq!(Lang::choose(Some("xx"), Some("de")), Lang::En);
        assert_eq!(Lang::choose(None, None), Lang::En);
    }
}
