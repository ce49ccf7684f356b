//! The console's words in English and Japanese: one table per language, chosen per request from
//! the `lang` cookie (set by the language switch) or else `Accept-Language`.
//!
//! The engine's findings are put in words here from the engine's own enums (matched
//! exhaustively, so a new finding does not compile until it has words in both languages).

use auscult_dsp::{FlagReason, MurmurCall, MurmurTiming};

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
