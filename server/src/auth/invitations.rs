//! Invitations: an inviter names a role and an address; the invitee is
//! created at once as an `invited` user (a volunteer with a random pseudonym
//! and their address in the personal-data table), and gets a single-use,
//! expiring link by mail. The link registers their first passkey; the role
//! comes from the invitation, never from the invitee.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Role, audit, new_id, new_pseudonym, new_token, refused, token_hash};
use crate::{
    config::Config,
    db::{
        Conn,
        identity::{self, InvitationRow},
        time::{from_micros, to_micros},
        users::{self, PersonalDataRow, UserRow},
    },
    error::ApiError,
    mail::{self, MailError, OutgoingMail},
};

/// `POST /api/invitations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub role: Role,
    pub email: String,
    /// Staff only: the name colleagues see. Volunteers are known by a
    /// pseudonym the server picks.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What the inviter learns: not the link (it goes to the invitee only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation_id: String,
    pub user_id: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

/// What the invitee's link shows before they register.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub role: Role,
    /// A staff member's name, or a volunteer's pseudonym.
    pub display_name: String,
    pub expires_at: DateTime<Utc>,
}

pub fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        return Err(ApiError::InvalidBody("email is not a mail address".into()));
    }
    Ok(email)
}

fn mail_error(e: MailError) -> ApiError {
    match e {
        MailError::BadAddress(_) => ApiError::InvalidBody("email is not a mail address".into()),
        MailError::Db(e) => ApiError::from(e),
    }
}

/// Creates the invited user and the invitation, and queues the mail, in
/// the caller's transaction. `inviter` is `None` for `admin create`.
/// Returns what the inviter may see and the link (for the CLI to print).
pub fn create(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    inviter: Option<(&str, Role)>,
    new: &NewInvitation,
) -> Result<(InvitationCreated, String), ApiError> {
    if let Some((_, role)) = inviter
        && !role.may_invite(new.role)
    {
        return Err(ApiError::Forbidden(format!(
            "a {role} may not invite a {}",
            new.role
        )));
    }
    let email = normalise_email(&new.email)?;
    if identity::user_by_any_email(conn, &email)?.is_some() {
        return Err(refused(
            "email_taken",
            409,
            "someone with this address is registered or invited already",
        ));
    }
    let now_us = to_micros(now);
    let user_id = new_id();
    let volunteer = new.role == Role::Volunteer;
    let display_name = if volunteer {
        new_pseudonym()
    } else {
        let name = new
            .display_name
            .as_deref()
            .unwrap_or(&email)
            .trim()
            .to_string();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ApiError::InvalidBody(
                "display_name must be 1 to 200 printable characters".into(),
            ));
        }
        name
    };
    users::insert(
        conn,
        &UserRow {
            id: user_id.clone(),
            role: new.role.as_str().into(),
            status: "invited".into(),
            pseudonym: volunteer.then(|| display_name.clone()),
            display_name: display_name.clone(),
            email: (!volunteer).then(|| email.clone()),
            created_at: now_us,
            updated_at: now_us,
        },
    )?;
    if volunteer {
        users::insert_personal_data(
            conn,
            &PersonalDataRow {
                user_id: user_id.clone(),
                legal_name: None,
                email: Some(email.clone()),
                phone: None,
                payout_details: None,
                created_at: now_us,
                updated_at: now_us,
            },
        )?;
    }
    let token = new_token();
    let expires_at = now + Duration::hours(config.invitation_hours as i64);
    let invitation_id = new_id();
    identity::insert_invitation(
        conn,
        &InvitationRow {
            id: invitation_id.clone(),
            token_hash: token_hash(&token),
            user_id: user_id.clone(),
            invited_by: inviter.map(|(id, _)| id.to_string()),
            expires_at: to_micros(expires_at),
            accepted_at: None,
            created_at: now_us,
        },
    )?;
    audit(
        conn,
        now_us,
        inviter.map(|(id, _)| id),
        "invitation.create",
        ("user", &user_id),
        serde_json::json!({ "role": new.role.as_str(), "invitation_id": invitation_id }),
    )?;
    let link = format!("{}/invitations/{token}", config.public_origin);
    mail::queue(
        conn,
        now,
        &OutgoingMail {
            to: email,
            subject: "Your invitation to Mystery Buyer".into(),
            body: format!(
                "You have been invited to the Mystery Buyer programme as {}.\n\n\
                 Open this link to register a passkey on your device:\n{link}\n\n\
                 The link works once and expires at {} UTC.\n",
                role_words(new.role),
                expires_at.format("%Y-%m-%d %H:%M"),
            ),
        },
    )
    .map_err(mail_error)?;
    Ok((
        InvitationCreated {
            invitation_id,
            user_id,
            role: new.role,
            expires_at,
        },
        link,
    ))
}

fn role_words(role: Role) -> &'static str {
    match role {
        Role::Volunteer => "a volunteer buyer",
        Role::Coordinator => "a coordinator",
        Role::RelayOperator => "a relay station operator",
        Role::LabInspector => "a lab inspector",
        Role::Administrator => "an administrator",
    }
}

/// The invitation behind a link, if it can still be used.
pub fn usable(
    conn: &mut Conn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<(InvitationRow, UserRow), ApiError> {
    let invitation = identity::invitation_by_hash(conn, &token_hash(token))?
        .ok_or_else(|| ApiError::Missing("no such invitation link".into()))?;
    if invitation.accepted_at.is_some() {
        return Err(refused(
            "link_used",
            410,
            "this invitation link was used already",
        ));
    }
    if invitation.expires_at <= to_micros(now) {
        return Err(refused(
            "link_expired",
            410,
            "this invitation link has expired; ask for a new one",
        ));
    }
    let user = users::find(conn, &invitation.user_id)?
        .filter(|u| u.status == "invited")
        .ok_or_else(|| refused("link_used", 410, "this invitation can no longer be used"))?;
    Ok((invitation, user))
}

pub fn view(invitation: &InvitationRow, user: &UserRow) -> Result<InvitationView, ApiError> {
    Ok(InvitationView {
        role: Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?,
        display_name: user.display_name.clone(),
        expires_at: from_micros(invitation.expires_at),
    })
}

/// Uses the invitation up and activates its user, or says why not.
pub fn redeem(
    conn: &mut Conn,
    now: DateTime<Utc>,
    invitation_id: &str,
) -> Result<UserRow, ApiError> {
    let now_us = to_micros(now);
    let invitation = identity::invitation(conn, invitation_id)?
        .ok_or_else(|| ApiError::Missing("no such invitation".into()))?;
    if identity::accept_invitation(conn, invitation_id, now_us)? == 0 {
        return Err(refused(
            "link_used",
            410,
            "this invitation was used already or has expired",
        ));
    }
    if identity::change_user_status(conn, &invitation.user_id, &["invited"], "active", now_us)? == 0
    {
        return Err(refused(
            "link_used",
            410,
            "this invitation can no longer be used",
        ));
    }
    audit(
        conn,
        now_us,
        Some(&invitation.user_id),
        "invitation.accept",
        ("user", &invitation.user_id),
        serde_json::json!({ "invitation_id": invitation_id }),
    )?;
    users::find(conn, &invitation.user_id)?
        .ok_or_else(|| ApiError::Internal("user vanished".into()))
}
