//! Residents' questionnaire links (web 問診): staff make a link for one visit; the resident, or a
//! family member helping, opens it on a phone without an account, answers (kept as a draft as
//! they go, so they can resume) and submits once.
//!
//! The link's token is the whole capability: 244 random bits in the URL, stored only as its
//! SHA-256, usable until it expires, is used or is replaced by a newer link for the same visit,
//! and dead as soon as the resident withdraws consent. What is submitted is checked by the same
//! rules as `SubmitQuestionnaireResponse` ([`questionnaire::response`]). Opening a live link
//! reads the resident's answers so far and is audited (`questionnaire_link.open`, the link as
//! the actor); submitting is audited by the store in the same transaction.

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::audit::Actor;
use auscult_store::now_ms;
use auscult_store::programs::ResidentRow;
use auscult_store::questionnaire_links::{
    LINK_ROLE, LinkState, NewQuestionnaireLink, QuestionnaireLink,
};
use prost::Message;

use super::fields::invalid;
use super::{ProgramApi, STAFF, questionnaire, subject_of};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::passwords::{random_secret, sha256_hex, well_formed_secret};

/// How long a link works unless staff say otherwise, s.
pub const DEFAULT_LIFETIME_S: u32 = 72 * 3600;
/// The longest a link may work, s.
pub const MAX_LIFETIME_S: u32 = 30 * 24 * 3600;

/// A link as its resident sees it.
#[derive(Debug, Clone)]
pub enum Opened {
    /// It works: the questionnaire and the answers so far.
    Live(Box<LiveLink>),
    /// It does not any more, and why.
    Closed(LinkState),
}

/// A live link's questionnaire and draft.
#[derive(Debug, Clone)]
pub struct LiveLink {
    /// The link.
    pub link: QuestionnaireLink,
    /// The questionnaire it shows.
    pub questionnaire: pb::Questionnaire,
    /// The answers saved so far.
    pub draft: Vec<pb::Answer>,
    /// Unix ms.
    pub expires_at_ms: i64,
    /// The visit's programme.
    pub program_id: String,
    /// The visit's resident.
    pub resident: ResidentRow,
}

impl ProgramApi {
    pub(crate) async fn create_link_inner(
        &self,
        caller: &Caller,
        req: pb::CreateQuestionnaireLinkRequest,
    ) -> Result<pb::QuestionnaireLink> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let lifetime_s = match req.lifetime_seconds {
            0 => DEFAULT_LIFETIME_S,
            s if s > MAX_LIFETIME_S => {
                return Err(invalid("lifetime_seconds is at most 30 days"));
            }
            s => s,
        };
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        if !resident.consenting() {
            return Err(ServerError::FailedPrecondition(
                "the resident has withdrawn consent: no questionnaire link".into(),
            ));
        }
        let version = (req.questionnaire_version != 0).then_some(req.questionnaire_version);
        let q = self
            .state
            .store
            .get_questionnaire(tenant_id, &visit.program_id, version)
            .await?
            .ok_or_else(|| {
                ServerError::FailedPrecondition("the programme has no such questionnaire".into())
            })?;
        let token = random_secret();
        let now = now_ms();
        let expires_at_ms = now + i64::from(lifetime_s) * 1000;
        self.state
            .store
            .create_questionnaire_link(
                &caller.actor(),
                NewQuestionnaireLink {
                    tenant_id,
                    visit_id: &visit.id,
                    subject_id: &subject_of(&resident),
                    token_sha256: &sha256_hex(&token),
                    questionnaire_version: q.version,
                    expires_at_ms,
                },
                now,
            )
            .await?;
        tracing::info!(visit_id = %visit.id, principal_id = %caller.principal_id, "questionnaire link made");
        Ok(pb::QuestionnaireLink {
            path: format!("/q/{token}"),
            expires_at: Some(convert::timestamp(expires_at_ms)),
            questionnaire_version: q.version,
        })
    }

    /// The link whose token is `token`, in any state; not found for a token that is malformed
    /// or unknown (never told apart).
    async fn link(&self, token: &str) -> Result<QuestionnaireLink> {
        if !well_formed_secret(token) {
            return Err(ServerError::NotFound("questionnaire link"));
        }
        self.state
            .store
            .questionnaire_link_by_token(&sha256_hex(token))
            .await?
            .ok_or(ServerError::NotFound("questionnaire link"))
    }

    /// What `token` opens, read once: the live link with its questionnaire, visit and draft, or
    /// why it no longer works (used, expired, replaced, or the resident withdrew consent). Not
    /// audited: [`ProgramApi::open_link`] is what shows it to a person.
    pub async fn find_link(&self, token: &str) -> Result<Opened> {
        let link = self.link(token).await?;
        let (visit, resident) = self.visit(&link.tenant_id, &link.visit_id).await?;
        let state = match link.state(now_ms()) {
            LinkState::Live if !resident.consenting() => LinkState::Revoked,
            s => s,
        };
        if state != LinkState::Live {
            return Ok(Opened::Closed(state));
        }
        let stored = self
            .state
            .store
            .get_questionnaire(
                &link.tenant_id,
                &visit.program_id,
                Some(link.questionnaire_version),
            )
            .await?
            .ok_or(ServerError::NotFound("questionnaire"))?;
        let questionnaire = pb::Questionnaire::decode(stored.definition.as_slice())
            .map_err(|_| ServerError::Corrupt("stored questionnaire does not decode"))?;
        let draft = match &link.draft {
            Some(bytes) => {
                pb::QuestionnaireResponse::decode(bytes.as_slice())
                    .map_err(|_| ServerError::Corrupt("stored draft does not decode"))?
                    .answers
            }
            None => Vec::new(),
        };
        Ok(Opened::Live(Box::new(LiveLink {
            expires_at_ms: link.expires_at_ms,
            link,
            questionnaire,
            draft,
            program_id: visit.program_id,
            resident,
        })))
    }

    /// Opens a link for its resident: [`ProgramApi::find_link`], audited
    /// (`questionnaire_link.open`) when it shows the questionnaire and the answers so far.
    pub async fn open_link(&self, token: &str) -> Result<Opened> {
        let opened = self.find_link(token).await?;
        if let Opened::Live(live) = &opened {
            let actor_id = live.link.actor_id();
            self.state
                .store
                .audit_subject(
                    &Actor {
                        tenant_id: Some(live.link.tenant_id.as_str()),
                        principal_id: &actor_id,
                        role: LINK_ROLE,
                    },
                    "questionnaire_link.open",
                    &subject_of(&live.resident),
                    now_ms(),
                )
                .await?;
        }
        Ok(opened)
    }

    /// Keeps the answers so far (any subset, not yet checked as a whole). False when the link
    /// stopped working since it was found (the store checks again).
    pub async fn save_link_draft(&self, live: &LiveLink, answers: Vec<pb::Answer>) -> Result<bool> {
        let draft = pb::QuestionnaireResponse {
            questionnaire_version: live.link.questionnaire_version,
            answers,
            authored_at: None,
        };
        Ok(self
            .state
            .store
            .save_questionnaire_draft(&live.link.id, &draft.encode_to_vec(), now_ms())
            .await?)
    }

    /// Submits the resident's answers through a link found live, checked by the questionnaire's
    /// rules, and uses the link up. `Ok(false)` when the link stopped working meanwhile (nothing
    /// stored; the store checks in the same transaction); an invalid response is
    /// `InvalidArgument` and leaves the link live.
    pub async fn submit_by_link(&self, live: &LiveLink, answers: Vec<pb::Answer>) -> Result<bool> {
        let now = now_ms();
        let (link, resident) = (&live.link, &live.resident);
        let def = questionnaire::definition(
            &live.program_id,
            link.questionnaire_version,
            &live.questionnaire,
        )?;
        let response = pb::QuestionnaireResponse {
            questionnaire_version: link.questionnaire_version,
            answers,
            authored_at: Some(convert::timestamp(now)),
        };
        questionnaire::response(
            &def,
            &format!("{}-qr", link.visit_id),
            &resident.id,
            &response,
        )?;
        let done = self
            .state
            .store
            .submit_questionnaire_by_link(
                link,
                &subject_of(resident),
                &response.encode_to_vec(),
                now,
            )
            .await?;
        if done {
            tracing::info!(visit_id = %link.visit_id, link_id = %link.id, "questionnaire submitted through a link");
        }
        Ok(done)
    }
}
