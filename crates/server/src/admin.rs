//! `AdminService`: tenants, devices, users and tokens.
//!
//! A system administrator (an admin bound to no tenant) manages everything; a tenant administrator
//! only its own tenant, and a principal of another tenant is NOT_FOUND to it. Any principal may
//! rotate, revoke or list its own tokens. Tokens are returned once, here, and stored only hashed;
//! each is minted with an expiry ([`crate::auth::token_expiry`]), and listing tokens shows their
//! ids, owners and dates, never a secret. Administrators also assign devices to the subjects they
//! report vital signs for, and manage their tenant's outbound webhooks ([`crate::webhooks`]): a
//! webhook's signing secret is returned once, by `CreateWebhook`, and by no other call.

use std::sync::Arc;

use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_server::AdminService;
use auscult_store::assignments::AssignmentFilter;
use auscult_store::identity::{NewPrincipal, Principal, Tenant, TokenInfo, TokenOwners};
use auscult_store::{DeviceId, PrincipalId, SubjectId, TenantId, now_ms};
use tonic::{Request, Response, Status};

use crate::auth::{Caller, Role, authenticate, mint_token, token_expiry};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Most subjects in one `AssignDevice` or `UnassignDevice` call.
pub const MAX_ASSIGN_SUBJECTS: usize = 1_000;

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminApi {
    state: Arc<AppState>,
}

impl AdminApi {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> AdminApi {
        AdminApi { state }
    }
}

fn tenant_pb(t: &Tenant) -> pb::Tenant {
    let kind = match t.kind.as_str() {
        "municipality" => pb::TenantKind::Municipality,
        "clinic" => pb::TenantKind::Clinic,
        _ => pb::TenantKind::Other,
    };
    pb::Tenant {
        tenant_id: t.id.to_string(),
        name: t.name.clone(),
        kind: kind as i32,
        created_at: Some(convert::timestamp(t.created_at_ms)),
    }
}

/// The protobuf form of a principal.
pub fn principal_pb(p: &Principal) -> pb::Principal {
    pb::Principal {
        principal_id: p.id.to_string(),
        tenant_id: p
            .tenant_id
            .as_ref()
            .map(TenantId::to_string)
            .unwrap_or_default(),
        name: p.name.clone(),
        role: Role::parse(&p.role).map_or(pb::Role::Unspecified, convert::role_to_pb) as i32,
        created_at: Some(convert::timestamp(p.created_at_ms)),
        live_tokens: p.live_tokens,
    }
}

fn token_pb(t: &TokenInfo, now_ms: i64) -> pb::TokenInfo {
    let expired = t.expires_at_ms.is_some_and(|at| at <= now_ms);
    pb::TokenInfo {
        token_id: t.id.clone(),
        principal_id: t.principal_id.to_string(),
        principal_name: t.principal_name.clone(),
        role: Role::parse(&t.role).map_or(pb::Role::Unspecified, convert::role_to_pb) as i32,
        created_at: Some(convert::timestamp(t.created_at_ms)),
        expires_at: t.expires_at_ms.map(convert::timestamp),
        revoked_at: t.revoked_at_ms.map(convert::timestamp),
        live: t.revoked_at_ms.is_none() && !expired,
    }
}

fn webhook_pb(w: &auscult_store::webhooks::WebhookInfo) -> pb::Webhook {
    pb::Webhook {
        webhook_id: w.id.clone(),
        tenant_id: w.tenant_id.to_string(),
        url: w.url.clone(),
        created_at: Some(convert::timestamp(w.created_at_ms)),
        created_by: w.created_by.clone(),
        removed_at: w.disabled_at_ms.map(convert::timestamp),
    }
}

fn dead_letter_pb(d: &auscult_store::webhooks::DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        delivery_id: d.id.clone(),
        webhook_id: d.webhook_id.clone(),
        event_id: u64::try_from(d.event_id).unwrap_or_default(),
        alert_id: d.alert_id.clone(),
        attempts: d.attempts,
        last_status: d
            .last_status
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or_default(),
        last_error: d.last_error.clone(),
        failed_at: Some(convert::timestamp(d.failed_at_ms)),
    }
}

/// Whether an id from a request can be one this server made (a bounded, printable string):
/// anything else is simply not found.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ServerError::InvalidArgument(
            "name must be 1-200 printable characters".into(),
        ));
    }
    Ok(())
}

fn is_system_admin(caller: &Caller) -> bool {
    caller.role == Role::Admin && caller.tenant_id.is_none()
}

impl AdminApi {
    async fn admin(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Caller> {
        let caller = authenticate(&self.state.store, metadata).await?;
        caller.require(&[Role::Admin])?;
        Ok(caller)
    }

    /// The tenant an admin acts on: its own, or (for a system admin) the named existing one.
    async fn target_tenant(&self, caller: &Caller, requested: &str) -> Result<TenantId> {
        match &caller.tenant_id {
            Some(own) if requested.is_empty() || requested == own.as_str() => Ok(own.clone()),
            Some(_) => Err(ServerError::NotFound("tenant")),
            None => {
                if requested.is_empty() {
                    return Err(ServerError::InvalidArgument("tenant_id is required".into()));
                }
                self.state
                    .store
                    .get_tenant(&TenantId::new(requested))
                    .await?
                    .map(|t| t.id)
                    .ok_or(ServerError::NotFound("tenant"))
            }
        }
    }

    async fn create_principal(
        &self,
        caller: &Caller,
        tenant_id: Option<&TenantId>,
        name: &str,
        role: Role,
        lifetime_seconds: Option<u64>,
    ) -> Result<pb::PrincipalWithToken> {
        self.create_principal_with_login(caller, tenant_id, name, role, lifetime_seconds, None)
            .await
    }

    /// Creates a principal with its token and, when `login` is given, its web console sign-in
    /// (username checked, password checked and hashed here), in one store transaction.
    async fn create_principal_with_login(
        &self,
        caller: &Caller,
        tenant_id: Option<&TenantId>,
        name: &str,
        role: Role,
        lifetime_seconds: Option<u64>,
        login: Option<&pb::WebLogin>,
    ) -> Result<pb::PrincipalWithToken> {
        let now = now_ms();
        let expires_at_ms = token_expiry(role, lifetime_seconds, now)?;
        let hashed = match login {
            None => None,
            Some(login) => {
                if tenant_id.is_none() {
                    return Err(ServerError::InvalidArgument(
                        "a web console sign-in needs a tenant".into(),
                    ));
                }
                crate::passwords::validate_username(&login.username)?;
                crate::passwords::validate_password(&login.password)?;
                let password = login.password.clone();
                let hash =
                    tokio::task::spawn_blocking(move || crate::passwords::hash_password(&password))
                        .await
                        .map_err(|_| {
                            ServerError::Internal("password hashing task failed".into())
                        })??;
                Some((login.username.as_str(), hash))
            }
        };
        let minted = mint_token();
        let principal = self
            .state
            .store
            .create_principal_with_login(
                &caller.actor(),
                NewPrincipal {
                    tenant_id,
                    name,
                    role: role.as_str(),
                },
                minted.stored(expires_at_ms),
                hashed
                    .as_ref()
                    .map(|(username, hash)| auscult_store::web_users::NewWebLogin {
                        username,
                        password_hash: hash,
                    }),
                now,
            )
            .await?;
        Ok(pb::PrincipalWithToken {
            principal: Some(principal_pb(&principal)),
            token: minted.token,
        })
    }

    /// The tenant and device an assignment call names: a device principal of a tenant the
    /// admin manages (anything else is NOT_FOUND).
    async fn assignment_target(
        &self,
        caller: &Caller,
        tenant_id: &str,
        device_id: &str,
    ) -> Result<(TenantId, DeviceId)> {
        let tenant_id = self.target_tenant(caller, tenant_id).await?;
        if device_id.is_empty() || device_id.len() > 64 {
            return Err(ServerError::NotFound("device"));
        }
        match self
            .state
            .store
            .get_principal(&PrincipalId::new(device_id), Some(&tenant_id))
            .await?
        {
            Some(p) if p.role == Role::Device.as_str() => {
                Ok((tenant_id, DeviceId::new(p.id.into_string())))
            }
            _ => Err(ServerError::NotFound("device")),
        }
    }

    async fn change_assignments(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        req: &pb::DeviceAssignmentRequest,
        assign: bool,
    ) -> Result<pb::DeviceAssignmentResponse> {
        let caller = self.admin(metadata).await?;
        let (tenant_id, device_id) = self
            .assignment_target(&caller, &req.tenant_id, &req.device_id)
            .await?;
        if req.subject_ids.is_empty() || req.subject_ids.len() > MAX_ASSIGN_SUBJECTS {
            return Err(ServerError::InvalidArgument(format!(
                "subject_ids must name 1 to {MAX_ASSIGN_SUBJECTS} subjects"
            )));
        }
        for s in &req.subject_ids {
            crate::vitals::check_subject_id(s)?;
        }
        let subjects: Vec<SubjectId> = req.subject_ids.iter().map(SubjectId::new).collect();
        let store = &self.state.store;
        let changed = if assign {
            store
                .assign_device(&caller.actor(), &tenant_id, &device_id, &subjects, now_ms())
                .await?
        } else {
            store
                .unassign_device(&caller.actor(), &tenant_id, &device_id, &subjects, now_ms())
                .await?
        };
        self.state
            .vitals
            .forget_assignments(tenant_id.as_str(), device_id.as_str());
        Ok(pb::DeviceAssignmentResponse {
            changed: u32::try_from(changed).unwrap_or(u32::MAX),
        })
    }

    async fn list_assignments(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        req: &pb::ListDeviceAssignmentsRequest,
    ) -> Result<pb::ListDeviceAssignmentsResponse> {
        let caller = self.admin(metadata).await?;
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        let limit = match req.limit {
            0 => 1_000,
            n => n.min(10_000),
        };
        let device = (!req.device_id.is_empty()).then(|| DeviceId::new(req.device_id.as_str()));
        let subject = (!req.subject_id.is_empty()).then(|| SubjectId::new(req.subject_id.as_str()));
        let rows = self
            .state
            .store
            .list_device_assignments(
                &caller.actor(),
                &tenant_id,
                AssignmentFilter {
                    device_id: device.as_ref(),
                    subject_id: subject.as_ref(),
                },
                i64::from(limit),
                now_ms(),
            )
            .await?;
        Ok(pb::ListDeviceAssignmentsResponse {
            assignments: rows
                .into_iter()
                .map(|a| pb::DeviceAssignment {
                    device_id: a.device_id,
                    subject_id: a.subject_id,
                    assigned_at: Some(convert::timestamp(a.assigned_at_ms)),
                    assigned_by: a.assigned_by,
                })
                .collect(),
        })
    }

    /// A principal the caller may manage: itself, or (as an admin) one in its scope.
    async fn managed_principal(&self, caller: &Caller, principal_id: &str) -> Result<Principal> {
        if principal_id.is_empty() || principal_id.len() > 64 {
            return Err(ServerError::NotFound("principal"));
        }
        let principal_id = PrincipalId::new(principal_id);
        let scope = if principal_id == caller.principal_id || is_system_admin(caller) {
            None
        } else if caller.role == Role::Admin {
            caller.tenant_id.as_ref()
        } else {
            return Err(ServerError::PermissionDenied(
                "only admins manage other principals",
            ));
        };
        self.state
            .store
            .get_principal(&principal_id, scope)
            .await?
            .ok_or(ServerError::NotFound("principal"))
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> std::result::Result<Response<pb::Tenant>, Status> {
        let caller = self.admin(request.metadata()).await?;
        if !is_system_admin(&caller) {
            return Err(ServerError::PermissionDenied(
                "only a system administrator creates tenants",
            )
            .into());
        }
        let req = request.get_ref();
        valid_name(&req.name)?;
        let kind = match pb::TenantKind::try_from(req.kind) {
            Ok(pb::TenantKind::Municipality) => "municipality",
            Ok(pb::TenantKind::Clinic) => "clinic",
            Ok(pb::TenantKind::Other | pb::TenantKind::Unspecified) => "other",
            Err(_) => return Err(Status::invalid_argument("unknown tenant kind")),
        };
        let tenant = self
            .state
            .store
            .create_tenant(&caller.actor(), req.name.trim(), kind, now_ms())
            .await
            .map_err(ServerError::from)?;
        Ok(Response::new(tenant_pb(&tenant)))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> std::result::Result<Response<pb::ListTenantsResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let tenants = self
            .state
            .store
            .list_tenants()
            .await
            .map_err(ServerError::from)?;
        let tenants = tenants
            .iter()
            .filter(|t| caller.tenant_id.as_ref().is_none_or(|own| *own == t.id))
            .map(tenant_pb)
            .collect();
        Ok(Response::new(pb::ListTenantsResponse { tenants }))
    }

    async fn register_device(
        &self,
        request: Request<pb::RegisterDeviceRequest>,
    ) -> std::result::Result<Response<pb::PrincipalWithToken>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        valid_name(&req.name)?;
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        Ok(Response::new(
            self.create_principal(
                &caller,
                Some(&tenant_id),
                req.name.trim(),
                Role::Device,
                req.lifetime_seconds,
            )
            .await?,
        ))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> std::result::Result<Response<pb::PrincipalWithToken>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        valid_name(&req.name)?;
        let role = convert::role_from_pb(req.role)
            .ok_or_else(|| Status::invalid_argument("role must be specified"))?;
        if role == Role::Device {
            return Err(Status::invalid_argument(
                "register devices with RegisterDevice",
            ));
        }
        if role == Role::Family {
            return Err(Status::invalid_argument(
                "family members are invited from the nurses' station, with the resident's consent",
            ));
        }
        let tenant_id =
            if is_system_admin(&caller) && req.tenant_id.is_empty() && role == Role::Admin {
                None
            } else {
                Some(self.target_tenant(&caller, &req.tenant_id).await?)
            };
        Ok(Response::new(
            self.create_principal_with_login(
                &caller,
                tenant_id.as_ref(),
                req.name.trim(),
                role,
                req.lifetime_seconds,
                req.web_login.as_ref(),
            )
            .await?,
        ))
    }

    async fn list_principals(
        &self,
        request: Request<pb::ListPrincipalsRequest>,
    ) -> std::result::Result<Response<pb::ListPrincipalsResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let tenant_id = self
            .target_tenant(&caller, &request.get_ref().tenant_id)
            .await?;
        let principals = self
            .state
            .store
            .list_principals(&tenant_id)
            .await
            .map_err(ServerError::from)?;
        Ok(Response::new(pb::ListPrincipalsResponse {
            principals: principals.iter().map(principal_pb).collect(),
        }))
    }

    async fn rotate_token(
        &self,
        request: Request<pb::RotateTokenRequest>,
    ) -> std::result::Result<Response<pb::PrincipalWithToken>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let req = request.get_ref();
        let principal = self.managed_principal(&caller, &req.principal_id).await?;
        let role =
            Role::parse(&principal.role).ok_or(ServerError::Corrupt("unknown stored role"))?;
        let now = now_ms();
        let expires_at_ms = token_expiry(role, req.lifetime_seconds, now)?;
        let minted = mint_token();
        self.state
            .store
            .rotate_token(
                &caller.actor(),
                &principal,
                minted.stored(expires_at_ms),
                now,
            )
            .await
            .map_err(ServerError::from)?;
        let principal = self
            .state
            .store
            .get_principal(&principal.id, None)
            .await
            .map_err(ServerError::from)?
            .ok_or_else(|| Status::not_found("principal"))?;
        Ok(Response::new(pb::PrincipalWithToken {
            principal: Some(principal_pb(&principal)),
            token: minted.token,
        }))
    }

    async fn revoke_tokens(
        &self,
        request: Request<pb::RevokeTokensRequest>,
    ) -> std::result::Result<Response<pb::RevokeTokensResponse>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let principal = self
            .managed_principal(&caller, &request.get_ref().principal_id)
            .await?;
        let revoked = self
            .state
            .store
            .revoke_tokens(&caller.actor(), &principal, now_ms())
            .await
            .map_err(ServerError::from)?;
        Ok(Response::new(pb::RevokeTokensResponse {
            revoked: u32::try_from(revoked).unwrap_or(u32::MAX),
        }))
    }

    async fn assign_device(
        &self,
        request: Request<pb::DeviceAssignmentRequest>,
    ) -> std::result::Result<Response<pb::DeviceAssignmentResponse>, Status> {
        Ok(Response::new(
            self.change_assignments(request.metadata(), request.get_ref(), true)
                .await?,
        ))
    }

    async fn unassign_device(
        &self,
        request: Request<pb::DeviceAssignmentRequest>,
    ) -> std::result::Result<Response<pb::DeviceAssignmentResponse>, Status> {
        Ok(Response::new(
            self.change_assignments(request.metadata(), request.get_ref(), false)
                .await?,
        ))
    }

    async fn list_device_assignments(
        &self,
        request: Request<pb::ListDeviceAssignmentsRequest>,
    ) -> std::result::Result<Response<pb::ListDeviceAssignmentsResponse>, Status> {
        Ok(Response::new(
            self.list_assignments(request.metadata(), request.get_ref())
                .await?,
        ))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> std::result::Result<Response<pb::ListTokensResponse>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let req = request.get_ref();
        let now = now_ms();
        let tokens = if req.principal_id.is_empty() {
            caller.require(&[Role::Admin])?;
            let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
            self.state
                .store
                .list_tokens(&caller.actor(), TokenOwners::Tenant(&tenant_id), now)
                .await
        } else {
            let principal = self.managed_principal(&caller, &req.principal_id).await?;
            self.state
                .store
                .list_tokens(&caller.actor(), TokenOwners::Principal(&principal), now)
                .await
        }
        .map_err(ServerError::from)?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(|t| token_pb(t, now)).collect(),
        }))
    }

    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> std::result::Result<Response<pb::CreateWebhookResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        let url = crate::webhooks::check_url(req.url.trim())?;
        let secret = crate::webhooks::new_secret()?;
        let webhook = self
            .state
            .store
            .create_webhook(&caller.actor(), &tenant_id, url.as_str(), &secret, now_ms())
            .await
            .map_err(ServerError::from)?;
        tracing::info!(webhook_id = %webhook.id, %tenant_id, "webhook created");
        Ok(Response::new(pb::CreateWebhookResponse {
            webhook: Some(webhook_pb(&webhook)),
            secret,
        }))
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> std::result::Result<Response<pb::ListWebhooksResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let tenant_id = self
            .target_tenant(&caller, &request.get_ref().tenant_id)
            .await?;
        let hooks = self
            .state
            .store
            .list_webhooks(&tenant_id)
            .await
            .map_err(ServerError::from)?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: hooks.iter().map(webhook_pb).collect(),
        }))
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> std::result::Result<Response<pb::DeleteWebhookResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        if !plausible_id(&req.webhook_id)
            || !self
                .state
                .store
                .disable_webhook(&caller.actor(), &tenant_id, &req.webhook_id, now_ms())
                .await
                .map_err(ServerError::from)?
        {
            return Err(ServerError::NotFound("webhook").into());
        }
        tracing::info!(webhook_id = %req.webhook_id, %tenant_id, "webhook removed");
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> std::result::Result<Response<pb::ListDeadLettersResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        let limit = match req.limit {
            0 => 100,
            n => n.min(1_000),
        };
        let dead = self
            .state
            .store
            .list_dead_letters(&caller.actor(), &tenant_id, i64::from(limit), now_ms())
            .await
            .map_err(ServerError::from)?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: dead.iter().map(dead_letter_pb).collect(),
        }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> std::result::Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let req = request.get_ref();
        let tenant_id = self.target_tenant(&caller, &req.tenant_id).await?;
        if !plausible_id(&req.delivery_id)
            || !self
                .state
                .store
                .replay_dead_letter(&caller.actor(), &tenant_id, &req.delivery_id, now_ms())
                .await
                .map_err(ServerError::from)?
        {
            return Err(ServerError::NotFound("dead letter").into());
        }
        tracing::info!(delivery_id = %req.delivery_id, %tenant_id, "dead letter replayed");
        self.state.webhooks_ready.notify_waiters();
        Ok(Response::new(pb::ReplayDeadLetterResponse {}))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> std::result::Result<Response<pb::Principal>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let principal = self
            .state
            .store
            .get_principal(&caller.principal_id, None)
            .await
            .map_err(ServerError::from)?
            .ok_or_else(|| Status::not_found("principal"))?;
        Ok(Response::new(principal_pb(&principal)))
    }
}
