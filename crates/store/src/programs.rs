//! Municipal check-up programmes: programmes, sites, versioned questionnaires, residents with
//! their consent, visits, and the recordings linked to a visit's auscultation sites.
//!
//! Architecture invariants: every query names the tenant, so another tenant's rows are invisible
//! (the caller reports them as missing); changes to a resident's data write an audit event in the
//! same transaction, and [`Store::audit_subjects`] records reads. Questionnaire definitions,
//! responses and spot vitals are opaque bytes here: this module never interprets clinical content
//! and never decides outcomes (the server does).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::db::new_id;
use crate::error::{Result, StoreError};
use crate::ids::{CaseId, SubjectId, TenantId};

/// A programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRow {
    /// Identifier.
    pub id: String,
    /// Name, unique within the tenant.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When created, Unix ms.
    pub created_at_ms: i64,
    /// The latest questionnaire version, 0 without one.
    pub questionnaire_version: u32,
}

/// A place where check-ups are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    /// Identifier.
    pub id: String,
    /// The programme.
    pub program_id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
}

/// One version of a programme's questionnaire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionnaireRow {
    /// The programme.
    pub program_id: String,
    /// 1, 2, ...
    pub version: u32,
    /// The encoded definition.
    pub definition: Vec<u8>,
    /// When stored, Unix ms.
    pub created_at_ms: i64,
}

/// A resident's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was given, Unix ms.
    pub given_at_ms: i64,
    /// The consent document's version.
    pub version: String,
    /// What was consented to.
    pub scope: String,
}

/// What enrolment stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResident {
    /// The programme.
    pub program_id: String,
    /// Pseudonymous subject id (as devices put on recordings).
    pub subject_id: String,
    /// Family name (may be empty).
    pub family_name: String,
    /// Given name (may be empty).
    pub given_name: String,
    /// `male`, `female`, `other`, `unknown`.
    pub gender: String,
    /// `YYYY-MM-DD` or empty.
    pub birth_date: String,
    /// The municipality's number or empty.
    pub resident_number: String,
    /// Postal address as one line, or empty.
    pub address: String,
    /// Phone number as written (digits, spaces, `+`, `-`, parentheses), or empty.
    pub phone: String,
    /// The consent.
    pub consent: ConsentRecord,
}

/// An enrolled resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRow {
    /// Identifier.
    pub id: String,
    /// What was enrolled.
    pub resident: NewResident,
    /// When consent was withdrawn.
    pub consent_withdrawn_at_ms: Option<i64>,
    /// When enrolled, Unix ms.
    pub enrolled_at_ms: i64,
}

impl ResidentRow {
    /// Consent is in force.
    pub fn consenting(&self) -> bool {
        self.consent_withdrawn_at_ms.is_none()
    }
}

/// A check-up visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    /// Identifier.
    pub id: String,
    /// The programme.
    pub program_id: String,
    /// The resident.
    pub resident_id: String,
    /// The programme site.
    pub site_id: String,
    /// When, Unix ms.
    pub visited_at_ms: i64,
    /// The questionnaire version answered.
    pub response_version: Option<u32>,
    /// The encoded response.
    pub response: Option<Vec<u8>>,
    /// The encoded spot vitals.
    pub vitals: Option<Vec<u8>>,
    /// `normal`, `refer`, `re_record`, `follow_up` once confirmed.
    pub confirmed_outcome: Option<String>,
    /// The confirming clinician.
    pub confirmed_by: Option<String>,
    /// When confirmed, Unix ms.
    pub confirmed_at_ms: Option<i64>,
    /// The clinician's note.
    pub confirmation_note: String,
}

/// A recording linked to a visit, with the state of its analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// The visit.
    pub visit_id: String,
    /// `aortic`, `pulmonic`, `tricuspid`, `mitral`.
    pub site: String,
    /// The recording (case).
    pub recording_id: String,
    /// The recording's analysis state (`none`, `pending`, `done`, `failed`).
    pub analysis_state: String,
    /// `present`, `absent`, `unknown` once analysed.
    pub murmur_status: Option<String>,
    /// The engine's flag.
    pub flagged: bool,
}

/// Why a recording could not be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Linked.
    Linked,
    /// No such visit in the tenant.
    NoVisit,
    /// The recording is already linked elsewhere (another visit or another site).
    LinkedElsewhere,
}

/// A questionnaire response to store on a visit.
#[derive(Debug, Clone, Copy)]
pub struct VisitResponse<'a> {
    /// The visit.
    pub visit_id: &'a str,
    /// The resident's subject id, for the audit event.
    pub subject_id: &'a SubjectId,
    /// The questionnaire version answered.
    pub version: u32,
    /// The encoded response.
    pub response: &'a [u8],
}

/// A recording to link to one of a visit's auscultation sites.
#[derive(Debug, Clone, Copy)]
pub struct VisitLink<'a> {
    /// The visit.
    pub visit_id: &'a str,
    /// `aortic`, `pulmonic`, `tricuspid`, `mitral`.
    pub site: &'a str,
    /// The recording (case).
    pub recording_id: &'a CaseId,
    /// The resident's subject id, for the audit event.
    pub subject_id: &'a SubjectId,
}

/// A clinician's decision on a visit.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeDecision<'a> {
    /// The visit.
    pub visit_id: &'a str,
    /// The resident's subject id, for the audit event.
    pub subject_id: &'a SubjectId,
    /// `normal`, `refer`, `re_record`, `follow_up`.
    pub outcome: &'a str,
    /// The clinician's note.
    pub note: &'a str,
}

const VISIT_COLUMNS: &str = "id, program_id, resident_id, site_id, visited_at_ms, response_version, response, \
     vitals, confirmed_outcome, confirmed_by, confirmed_at_ms, confirmation_note";
const RESIDENT_COLUMNS: &str = "id, program_id, subject_id, family_name, given_name, gender, birth_date, \
     resident_number, consent_recorded_by, consent_given_at_ms, consent_version, consent_scope, \
     consent_withdrawn_at_ms, enrolled_at_ms, address, phone";

fn version_col(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt("questionnaire version out of range".into()))
}

fn resident_from_row(row: &AnyRow) -> Result<ResidentRow> {
    Ok(ResidentRow {
        id: row.try_get("id")?,
        resident: NewResident {
            program_id: row.try_get("program_id")?,
            subject_id: row.try_get("subject_id")?,
            family_name: row.try_get("family_name")?,
            given_name: row.try_get("given_name")?,
            gender: row.try_get("gender")?,
            birth_date: row.try_get("birth_date")?,
            resident_number: row.try_get("resident_number")?,
            address: row.try_get("address")?,
            phone: row.try_get("phone")?,
            consent: ConsentRecord {
                recorded_by: row.try_get("consent_recorded_by")?,
                given_at_ms: row.try_get("consent_given_at_ms")?,
                version: row.try_get("consent_version")?,
                scope: row.try_get("consent_scope")?,
            },
        },
        consent_withdrawn_at_ms: row.try_get("consent_withdrawn_at_ms")?,
        enrolled_at_ms: row.try_get("enrolled_at_ms")?,
    })
}

fn visit_from_row(row: &AnyRow) -> Result<VisitRow> {
    let response_version: Option<i64> = row.try_get("response_version")?;
    Ok(VisitRow {
        id: row.try_get("id")?,
        program_id: row.try_get("program_id")?,
        resident_id: row.try_get("resident_id")?,
        site_id: row.try_get("site_id")?,
        visited_at_ms: row.try_get("visited_at_ms")?,
        response_version: response_version.map(version_col).transpose()?,
        response: row.try_get("response")?,
        vitals: row.try_get("vitals")?,
        confirmed_outcome: row.try_get("confirmed_outcome")?,
        confirmed_by: row.try_get("confirmed_by")?,
        confirmed_at_ms: row.try_get("confirmed_at_ms")?,
        confirmation_note: row.try_get("confirmation_note")?,
    })
}

fn link_from_row(row: &AnyRow) -> Result<LinkRow> {
    let flagged: i64 = row.try_get("flagged")?;
    Ok(LinkRow {
        visit_id: row.try_get("visit_id")?,
        site: row.try_get("auscultation_site")?,
        recording_id: row.try_get("recording_id")?,
        analysis_state: row.try_get("analysis_state")?,
        murmur_status: row.try_get("murmur_status")?,
        flagged: flagged != 0,
    })
}

impl Store {
    /// Creates a programme ([`StoreError::AlreadyExists`] when the tenant has one of that name).
    pub async fn create_program(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        name: &str,
        description: &str,
        now_ms: i64,
    ) -> Result<ProgramRow> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO programs (id, tenant_id, name, description, created_by, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(tenant_id.as_str())
        .bind(name)
        .bind(description)
        .bind(actor.principal_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique_as(e, "program name"))?;
        Ok(ProgramRow {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            created_at_ms: now_ms,
            questionnaire_version: 0,
        })
    }

    /// The programmes of a tenant, oldest first.
    pub async fn list_programs(&self, tenant_id: &TenantId) -> Result<Vec<ProgramRow>> {
        let rows = sqlx::query(
            "SELECT p.id, p.name, p.description, p.created_at_ms, \
             (SELECT COALESCE(MAX(q.version), 0) FROM program_questionnaires q \
              WHERE q.tenant_id = p.tenant_id AND q.program_id = p.id) AS qv \
             FROM programs p WHERE p.tenant_id = $1 ORDER BY p.created_at_ms, p.id",
        )
        .bind(tenant_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(program_from_row).collect()
    }

    /// One programme of a tenant.
    pub async fn get_program(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
    ) -> Result<Option<ProgramRow>> {
        let row = sqlx::query(
            "SELECT p.id, p.name, p.description, p.created_at_ms, \
             (SELECT COALESCE(MAX(q.version), 0) FROM program_questionnaires q \
              WHERE q.tenant_id = p.tenant_id AND q.program_id = p.id) AS qv \
             FROM programs p WHERE p.tenant_id = $1 AND p.id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(program_from_row).transpose()
    }

    /// Adds a site to a programme of the tenant (`None` when there is no such programme).
    pub async fn add_site(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        name: &str,
        address: &str,
        now_ms: i64,
    ) -> Result<Option<SiteRow>> {
        if self.get_program(tenant_id, program_id).await?.is_none() {
            return Ok(None);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO program_sites (id, tenant_id, program_id, name, address, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(tenant_id.as_str())
        .bind(program_id)
        .bind(name)
        .bind(address)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(Some(SiteRow {
            id,
            program_id: program_id.to_owned(),
            name: name.to_owned(),
            address: address.to_owned(),
        }))
    }

    /// The sites of a programme of the tenant, oldest first.
    pub async fn list_sites(&self, tenant_id: &TenantId, program_id: &str) -> Result<Vec<SiteRow>> {
        let rows = sqlx::query(
            "SELECT id, program_id, name, address FROM program_sites \
             WHERE tenant_id = $1 AND program_id = $2 ORDER BY created_at_ms, name, id",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SiteRow {
                    id: row.try_get("id")?,
                    program_id: row.try_get("program_id")?,
                    name: row.try_get("name")?,
                    address: row.try_get("address")?,
                })
            })
            .collect()
    }

    /// Stores the next version of a programme's questionnaire (`None` when there is no such
    /// programme). Two concurrent writers cannot get the same version: the loser gets
    /// [`StoreError::Conflict`].
    pub async fn put_questionnaire(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        program_id: &str,
        definition: &[u8],
        now_ms: i64,
    ) -> Result<Option<QuestionnaireRow>> {
        let Some(program) = self.get_program(tenant_id, program_id).await? else {
            return Ok(None);
        };
        let version = program.questionnaire_version.saturating_add(1);
        sqlx::query(
            "INSERT INTO program_questionnaires (tenant_id, program_id, version, definition, created_by, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .bind(i64::from(version))
        .bind(definition.to_vec())
        .bind(actor.principal_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::unique_as(e, "questionnaire version") {
            StoreError::AlreadyExists(_) => StoreError::Conflict("questionnaire version taken"),
            other => other,
        })?;
        Ok(Some(QuestionnaireRow {
            program_id: program_id.to_owned(),
            version,
            definition: definition.to_vec(),
            created_at_ms: now_ms,
        }))
    }

    /// One version of a programme's questionnaire, or the latest when `version` is `None`.
    pub async fn get_questionnaire(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        version: Option<u32>,
    ) -> Result<Option<QuestionnaireRow>> {
        let row = sqlx::query(
            "SELECT program_id, version, definition, created_at_ms FROM program_questionnaires \
             WHERE tenant_id = $1 AND program_id = $2 AND ($3 IS NULL OR version = $3) \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .bind(version.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(QuestionnaireRow {
                program_id: row.try_get("program_id")?,
                version: version_col(row.try_get("version")?)?,
                definition: row.try_get("definition")?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .transpose()
    }

    /// Enrolls a resident in a programme of the tenant, audited as `resident.enroll`
    /// ([`StoreError::AlreadyExists`] when the subject is already enrolled in it).
    pub async fn enroll_resident(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        r: &NewResident,
        now_ms: i64,
    ) -> Result<ResidentRow> {
        let mut tx = self.pool.begin().await?;
        let row = insert_resident(&mut tx, tenant_id, actor, r, now_ms).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Enrols `residents` in one transaction, each audited as `resident.enroll`, skipping those
    /// `already` finds among the programme's residents (read inside the transaction). Returns
    /// the rows enrolled and, for each skipped one, its index in `residents` and the resident
    /// already enrolled. All or nothing: a failure stores none.
    pub async fn enroll_residents(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        program_id: &str,
        residents: &[NewResident],
        already: impl Fn(&NewResident, &[ResidentRow]) -> Option<usize>,
        now_ms: i64,
    ) -> Result<(Vec<ResidentRow>, Vec<(usize, ResidentRow)>)> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT {RESIDENT_COLUMNS} FROM program_residents WHERE tenant_id = $1 AND program_id = $2 \
             ORDER BY enrolled_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(program_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut existing = rows
            .iter()
            .map(resident_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut enrolled = Vec::new();
        let mut skipped = Vec::new();
        for (i, r) in residents.iter().enumerate() {
            if r.program_id != program_id {
                return Err(StoreError::Corrupt(
                    "a resident of another programme".into(),
                ));
            }
            if let Some(k) = already(r, &existing) {
                skipped.push((i, existing[k].clone()));
                continue;
            }
            let row = insert_resident(&mut tx, tenant_id, actor, r, now_ms).await?;
            existing.push(row.clone());
            enrolled.push(row);
        }
        tx.commit().await?;
        Ok((enrolled, skipped))
    }

    /// Records a withdrawal of consent, audited as `resident.withdraw` (`None` when there is no
    /// such resident in the programme). Withdrawing twice keeps the first time.
    pub async fn withdraw_consent(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        program_id: &str,
        resident_id: &str,
        now_ms: i64,
    ) -> Result<Option<ResidentRow>> {
        let Some(resident) = self
            .get_resident(tenant_id, program_id, resident_id)
            .await?
        else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE program_residents SET consent_withdrawn_at_ms = $1 \
             WHERE tenant_id = $2 AND id = $3 AND consent_withdrawn_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(resident_id)
        .execute(&mut *tx)
        .await?;
        insert_audit(
            &mut tx,
            actor,
            "resident.withdraw",
            None,
            Some(&resident.resident.subject_id),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.get_resident(tenant_id, program_id, resident_id).await
    }

    /// One resident of a programme of the tenant (not audited: the caller audits what it returns).
    pub async fn get_resident(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        resident_id: &str,
    ) -> Result<Option<ResidentRow>> {
        let sql = format!(
            "SELECT {RESIDENT_COLUMNS} FROM program_residents WHERE tenant_id = $1 AND program_id = $2 AND id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(program_id)
            .bind(resident_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(resident_from_row).transpose()
    }

    /// The residents of a programme of the tenant, in enrolment order (not audited: the caller
    /// audits what it returns).
    pub async fn list_residents(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
    ) -> Result<Vec<ResidentRow>> {
        let sql = format!(
            "SELECT {RESIDENT_COLUMNS} FROM program_residents WHERE tenant_id = $1 AND program_id = $2 \
             ORDER BY enrolled_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(program_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(resident_from_row).collect()
    }

    /// Writes one audit event per subject (or one without a subject when `subjects` is empty),
    /// atomically: the record of a read of residents' data.
    pub async fn audit_subjects(
        &self,
        actor: &Actor<'_>,
        action: &str,
        subjects: &[SubjectId],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if subjects.is_empty() {
            insert_audit(&mut tx, actor, action, None, None, now_ms).await?;
        }
        for subject in subjects {
            insert_audit(&mut tx, actor, action, None, Some(subject.as_str()), now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Opens a visit, audited as `visit.create`. The caller has checked that the programme, the
    /// resident (with consent) and the site exist in the tenant; the insert checks the consent
    /// again so a withdrawal in between wins (`None`).
    pub async fn create_visit(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        resident: &ResidentRow,
        site_id: &str,
        visited_at_ms: i64,
        now_ms: i64,
    ) -> Result<Option<VisitRow>> {
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO program_visits (id, tenant_id, program_id, resident_id, site_id, visited_at_ms, created_by, created_at_ms) \
             SELECT $1, $2, r.program_id, r.id, s.id, $3, $4, $5 FROM program_residents r \
             JOIN program_sites s ON s.tenant_id = r.tenant_id AND s.program_id = r.program_id \
             WHERE r.tenant_id = $2 AND r.id = $6 AND r.consent_withdrawn_at_ms IS NULL AND s.id = $7",
        )
        .bind(&id)
        .bind(tenant_id.as_str())
        .bind(visited_at_ms)
        .bind(actor.principal_id)
        .bind(now_ms)
        .bind(&resident.id)
        .bind(site_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        insert_audit(
            &mut tx,
            actor,
            "visit.create",
            None,
            Some(&resident.resident.subject_id),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.get_visit(tenant_id, &id).await
    }

    /// One visit of the tenant (not audited: the caller audits what it returns).
    pub async fn get_visit(
        &self,
        tenant_id: &TenantId,
        visit_id: &str,
    ) -> Result<Option<VisitRow>> {
        let sql =
            format!("SELECT {VISIT_COLUMNS} FROM program_visits WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(visit_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(visit_from_row).transpose()
    }

    /// The visits of a programme of the tenant, optionally of one resident, oldest first.
    pub async fn list_visits(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        resident_id: Option<&str>,
    ) -> Result<Vec<VisitRow>> {
        let sql = format!(
            "SELECT {VISIT_COLUMNS} FROM program_visits WHERE tenant_id = $1 AND program_id = $2 \
             AND ($3 IS NULL OR resident_id = $3) ORDER BY visited_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(program_id)
            .bind(resident_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(visit_from_row).collect()
    }

    /// Stores a visit's questionnaire response (replacing any earlier one), audited as
    /// `visit.response` for its subject. False when there is no such visit.
    pub async fn set_visit_response(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        response: &VisitResponse<'_>,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if !write_visit_response(&mut tx, tenant_id, actor, response, now_ms).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a visit's spot vitals (replacing earlier ones), audited as `visit.vitals`. False
    /// when there is no such visit.
    pub async fn set_visit_vitals(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        visit_id: &str,
        subject_id: &SubjectId,
        vitals: &[u8],
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE program_visits SET vitals = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(vitals.to_vec())
                .bind(tenant_id.as_str())
                .bind(visit_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(
            &mut tx,
            actor,
            "visit.vitals",
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Links a recording (already checked by the caller to be a complete recording of the same
    /// tenant, subject and site) to a site of a visit, replacing an earlier link of that site.
    /// Audited as `visit.link` with the recording and subject.
    pub async fn link_recording(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        link: &VisitLink<'_>,
        now_ms: i64,
    ) -> Result<LinkOutcome> {
        let VisitLink {
            visit_id,
            site,
            recording_id,
            subject_id,
        } = *link;
        // Reads first, outside the transaction: on SQLite a transaction that reads and then
        // writes fails at once when another writer committed in between, so the transaction
        // below starts with its write; the unique recording column catches a racing link.
        let visit = sqlx::query("SELECT id FROM program_visits WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_str())
            .bind(visit_id)
            .fetch_optional(&self.pool)
            .await?;
        if visit.is_none() {
            return Ok(LinkOutcome::NoVisit);
        }
        let existing = sqlx::query(
            "SELECT visit_id, auscultation_site FROM program_visit_recordings WHERE tenant_id = $1 AND recording_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(recording_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = existing {
            let (v, s): (String, String) =
                (row.try_get("visit_id")?, row.try_get("auscultation_site")?);
            if v == visit_id && s == site {
                return Ok(LinkOutcome::Linked);
            }
            return Ok(LinkOutcome::LinkedElsewhere);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM program_visit_recordings WHERE tenant_id = $1 AND visit_id = $2 AND auscultation_site = $3",
        )
        .bind(tenant_id.as_str())
        .bind(visit_id)
        .bind(site)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO program_visit_recordings (visit_id, tenant_id, auscultation_site, recording_id, linked_by, linked_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(visit_id)
        .bind(tenant_id.as_str())
        .bind(site)
        .bind(recording_id.as_str())
        .bind(actor.principal_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::unique_as(e, "recording link") {
            StoreError::AlreadyExists(_) => StoreError::Conflict("recording linked concurrently"),
            other => other,
        })?;
        insert_audit(
            &mut tx,
            actor,
            "visit.link",
            Some(recording_id.as_str()),
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(LinkOutcome::Linked)
    }

    /// The recordings linked to the visits of a programme (or to one visit), with their
    /// analysis state, ordered by visit and site.
    pub async fn list_links(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        visit_id: Option<&str>,
    ) -> Result<Vec<LinkRow>> {
        let rows = sqlx::query(
            "SELECT l.visit_id, l.auscultation_site, l.recording_id, r.analysis_state, r.murmur_status, r.flagged \
             FROM program_visit_recordings l \
             JOIN program_visits v ON v.tenant_id = l.tenant_id AND v.id = l.visit_id \
             JOIN recordings r ON r.tenant_id = l.tenant_id AND r.id = l.recording_id \
             WHERE l.tenant_id = $1 AND v.program_id = $2 AND ($3 IS NULL OR l.visit_id = $3) \
             ORDER BY l.visit_id, l.auscultation_site",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .bind(visit_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(link_from_row).collect()
    }

    /// The ids of the tenant's recordings with a device upload id (several devices may have used
    /// the same one).
    pub async fn recording_ids_by_upload(
        &self,
        tenant_id: &TenantId,
        upload_id: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM recordings WHERE tenant_id = $1 AND upload_id = $2 ORDER BY id LIMIT 2",
        )
        .bind(tenant_id.as_str())
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Stores a clinician's decision on a visit, audited as `visit.confirm`. False when there is
    /// no such visit.
    pub async fn confirm_outcome(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        decision: &OutcomeDecision<'_>,
        now_ms: i64,
    ) -> Result<bool> {
        let OutcomeDecision {
            visit_id,
            subject_id,
            outcome,
            note,
        } = *decision;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE program_visits SET confirmed_outcome = $1, confirmed_by = $2, confirmed_at_ms = $3, \
             confirmation_note = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(outcome)
        .bind(actor.principal_id)
        .bind(now_ms)
        .bind(note)
        .bind(tenant_id.as_str())
        .bind(visit_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(
            &mut tx,
            actor,
            "visit.confirm",
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

fn program_from_row(row: &AnyRow) -> Result<ProgramRow> {
    Ok(ProgramRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at_ms: row.try_get("created_at_ms")?,
        questionnaire_version: version_col(row.try_get("qv")?)?,
    })
}

/// Stores a visit's questionnaire response in `tx`, audited as `visit.response`. False when
/// there is no such visit.
pub(crate) async fn write_visit_response(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &TenantId,
    actor: &Actor<'_>,
    r: &VisitResponse<'_>,
    now_ms: i64,
) -> Result<bool> {
    let VisitResponse {
        visit_id,
        subject_id,
        version,
        response,
    } = *r;
    let done = sqlx::query(
        "UPDATE program_visits SET response_version = $1, response = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(i64::from(version))
    .bind(response.to_vec())
    .bind(tenant_id.as_str())
    .bind(visit_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_audit(
        tx,
        actor,
        "visit.response",
        None,
        Some(subject_id.as_str()),
        now_ms,
    )
    .await?;
    Ok(true)
}

/// Inserts one resident in `tx`, audited as `resident.enroll`.
async fn insert_resident(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &TenantId,
    actor: &Actor<'_>,
    r: &NewResident,
    now_ms: i64,
) -> Result<ResidentRow> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO program_residents (id, tenant_id, program_id, subject_id, family_name, given_name, \
         gender, birth_date, resident_number, consent_recorded_by, consent_given_at_ms, consent_version, \
         consent_scope, enrolled_by, enrolled_at_ms, address, phone) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&id)
    .bind(tenant_id.as_str())
    .bind(&r.program_id)
    .bind(&r.subject_id)
    .bind(&r.family_name)
    .bind(&r.given_name)
    .bind(&r.gender)
    .bind(&r.birth_date)
    .bind(&r.resident_number)
    .bind(&r.consent.recorded_by)
    .bind(r.consent.given_at_ms)
    .bind(&r.consent.version)
    .bind(&r.consent.scope)
    .bind(actor.principal_id)
    .bind(now_ms)
    .bind(&r.address)
    .bind(&r.phone)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::unique_as(e, "resident already enrolled"))?;
    insert_audit(
        tx,
        actor,
        "resident.enroll",
        None,
        Some(&r.subject_id),
        now_ms,
    )
    .await?;
    Ok(ResidentRow {
        id,
        resident: r.clone(),
        consent_withdrawn_at_ms: None,
        enrolled_at_ms: now_ms,
    })
}
