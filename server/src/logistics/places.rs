//! Relay stations and labs as data: name, region, postal address, whether
//! they take parcels, and who works there (operators, inspectors). Only
//! administrators change them; coordinators read them to plan campaigns.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::Role,
    db::{
        self, Conn,
        logistics::{LabRow, StationRow},
        time::{Micros, from_micros},
    },
    error::ApiError,
    sync::Touched,
};

const MAX_NAME: usize = 200;
const MAX_ADDRESS_LINES: usize = 8;
const MAX_LINE: usize = 200;
const MAX_STAFF: usize = 200;

/// Which of the two a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Station,
    Lab,
}

impl PlaceKind {
    fn noun(self) -> &'static str {
        match self {
            PlaceKind::Station => "relay station",
            PlaceKind::Lab => "lab",
        }
    }

    /// The role its staff must have.
    fn staff_role(self) -> Role {
        match self {
            PlaceKind::Station => Role::RelayOperator,
            PlaceKind::Lab => Role::LabInspector,
        }
    }
}

/// A station or lab as stored: both tables have this shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub id: String,
    pub name: String,
    pub region: String,
    /// Postal address lines.
    pub address: Vec<String>,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl From<StationRow> for Place {
    fn from(r: StationRow) -> Self {
        Place {
            id: r.id,
            name: r.name,
            region: r.region,
            address: split_address(&r.address),
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<LabRow> for Place {
    fn from(r: LabRow) -> Self {
        Place {
            id: r.id,
            name: r.name,
            region: r.region,
            address: split_address(&r.address),
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Place {
    fn station_row(&self) -> StationRow {
        StationRow {
            id: self.id.clone(),
            name: self.name.clone(),
            region: self.region.clone(),
            address: self.address.join("\n"),
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn lab_row(&self) -> LabRow {
        LabRow {
            id: self.id.clone(),
            name: self.name.clone(),
            region: self.region.clone(),
            address: self.address.join("\n"),
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

fn split_address(stored: &str) -> Vec<String> {
    stored.lines().map(str::to_string).collect()
}

/// A new station or lab.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlace {
    pub name: String,
    /// For a station: the region whose volunteers send their parcels there.
    pub region: String,
    /// Postal address, one entry per line (at most 8 lines).
    pub address: Vec<String>,
    /// User ids of its operators (stations) or inspectors (labs).
    #[serde(default)]
    pub staff: Vec<String>,
}

/// Changes to a station or lab; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceEdit {
    pub name: Option<String>,
    pub region: Option<String>,
    pub address: Option<Vec<String>>,
    /// `false` takes it out of use: no new parcel is routed to it.
    pub active: Option<bool>,
    pub staff: Option<Vec<String>>,
}

/// A station or lab as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceView {
    pub id: String,
    pub name: String,
    pub region: String,
    pub address: Vec<String>,
    pub active: bool,
    /// Operators (stations) or inspectors (labs), by user id.
    pub staff: Vec<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidBody(message.into())
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(value.to_string())
}

fn address(lines: &[String]) -> Result<Vec<String>, ApiError> {
    if lines.is_empty() || lines.len() > MAX_ADDRESS_LINES {
        return Err(invalid(format!(
            "address must have 1 to {MAX_ADDRESS_LINES} lines"
        )));
    }
    lines
        .iter()
        .map(|l| text("each address line", l, MAX_LINE))
        .collect()
}

/// Checks that every id is a user of the role this place's staff need.
fn staff(conn: &mut Conn, kind: PlaceKind, ids: &[String]) -> Result<Vec<String>, ApiError> {
    if ids.len() > MAX_STAFF {
        return Err(invalid(format!("at most {MAX_STAFF} staff")));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let user = db::users::find(conn, id)?;
        let role = kind.staff_role();
        match user {
            Some(u) if u.role == role.as_str() => {}
            _ => {
                return Err(invalid(format!(
                    "staff {id:?} is not a user with the role {}",
                    role.as_str()
                )));
            }
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

fn find(conn: &mut Conn, kind: PlaceKind, id: &str) -> Result<Option<Place>, ApiError> {
    Ok(match kind {
        PlaceKind::Station => db::logistics::find_station(conn, id)?.map(Place::from),
        PlaceKind::Lab => db::logistics::find_lab(conn, id)?.map(Place::from),
    })
}

/// A station or lab by id; 404 when there is none.
pub fn get(conn: &mut Conn, kind: PlaceKind, id: &str) -> Result<Place, ApiError> {
    find(conn, kind, id)?.ok_or_else(|| ApiError::Missing(format!("no {} {id}", kind.noun())))
}

fn name_taken(conn: &mut Conn, kind: PlaceKind, name: &str) -> Result<Option<String>, ApiError> {
    Ok(match kind {
        PlaceKind::Station => db::logistics::station_by_name(conn, name)?.map(|r| r.id),
        PlaceKind::Lab => db::logistics::lab_by_name(conn, name)?.map(|r| r.id),
    })
}

fn staff_of(conn: &mut Conn, kind: PlaceKind, id: &str) -> Result<Vec<String>, ApiError> {
    Ok(match kind {
        PlaceKind::Station => db::logistics::operators(conn, id)?,
        PlaceKind::Lab => db::logistics::inspectors(conn, id)?,
    })
}

fn set_staff(conn: &mut Conn, kind: PlaceKind, id: &str, ids: &[String]) -> Result<(), ApiError> {
    match kind {
        PlaceKind::Station => db::logistics::set_operators(conn, id, ids)?,
        PlaceKind::Lab => db::logistics::set_inspectors(conn, id, ids)?,
    }
    Ok(())
}

fn view(conn: &mut Conn, kind: PlaceKind, place: Place) -> Result<PlaceView, ApiError> {
    let staff = staff_of(conn, kind, &place.id)?;
    Ok(PlaceView {
        id: place.id,
        name: place.name,
        region: place.region,
        address: place.address,
        active: place.active,
        staff,
        updated_at: from_micros(place.updated_at),
    })
}

fn duplicate(kind: PlaceKind, name: &str) -> ApiError {
    ApiError::Refused {
        code: "name_taken",
        status: actix_web::http::StatusCode::CONFLICT,
        detail: format!("a {} named {name:?} exists", kind.noun()),
    }
}

/// Adds a station or lab (administrators).
pub fn create(
    conn: &mut Conn,
    now: Micros,
    kind: PlaceKind,
    new: &NewPlace,
) -> Result<PlaceView, ApiError> {
    let place = Place {
        id: crate::auth::new_id(),
        name: text("name", &new.name, MAX_NAME)?,
        region: text("region", &new.region, MAX_NAME)?,
        address: address(&new.address)?,
        active: true,
        created_at: now,
        updated_at: now,
    };
    let staff = staff(conn, kind, &new.staff)?;
    if name_taken(conn, kind, &place.name)?.is_some() {
        return Err(duplicate(kind, &place.name));
    }
    match kind {
        PlaceKind::Station => db::logistics::insert_station(conn, &place.station_row())?,
        PlaceKind::Lab => db::logistics::insert_lab(conn, &place.lab_row())?,
    }
    set_staff(conn, kind, &place.id, &staff)?;
    view(conn, kind, place)
}

/// Changes a station or lab (administrators).
pub fn edit(
    conn: &mut Conn,
    now: Micros,
    kind: PlaceKind,
    id: &str,
    edit: &PlaceEdit,
) -> Result<PlaceView, ApiError> {
    let mut place = get(conn, kind, id)?;
    if let Some(name) = &edit.name {
        let name = text("name", name, MAX_NAME)?;
        if name_taken(conn, kind, &name)?.is_some_and(|other| other != place.id) {
            return Err(duplicate(kind, &name));
        }
        place.name = name;
    }
    if let Some(region) = &edit.region {
        place.region = text("region", region, MAX_NAME)?;
    }
    if let Some(lines) = &edit.address {
        place.address = address(lines)?;
    }
    if let Some(active) = edit.active {
        place.active = active;
    }
    if let Some(ids) = &edit.staff {
        let ids = staff(conn, kind, ids)?;
        set_staff(conn, kind, &place.id, &ids)?;
    }
    place.updated_at = now;
    // A lab's new name or address reaches the stations' scanners holding
    // parcels bound for it (poked by the poller, like another instance's
    // writes).
    let bound = match kind {
        PlaceKind::Lab if edit.name.is_some() || edit.address.is_some() => {
            super::station_sync::lock_bound_for(conn, &place.id)?
        }
        _ => Vec::new(),
    };
    match kind {
        PlaceKind::Station => db::logistics::update_station(conn, &place.station_row())?,
        PlaceKind::Lab => db::logistics::update_lab(conn, &place.lab_row())?,
    }
    super::station_sync::destination_changed(conn, now, &bound, &mut Touched::new())?;
    view(conn, kind, place)
}

/// Every station or lab, by name.
pub fn list(conn: &mut Conn, kind: PlaceKind) -> Result<Vec<PlaceView>, ApiError> {
    let places: Vec<Place> = match kind {
        PlaceKind::Station => db::logistics::all_stations(conn)?
            .into_iter()
            .map(Place::from)
            .collect(),
        PlaceKind::Lab => db::logistics::all_labs(conn)?
            .into_iter()
            .map(Place::from)
            .collect(),
    };
    places.into_iter().map(|p| view(conn, kind, p)).collect()
}

/// One station or lab.
pub fn show(conn: &mut Conn, kind: PlaceKind, id: &str) -> Result<PlaceView, ApiError> {
    let place = get(conn, kind, id)?;
    view(conn, kind, place)
}

/// A station or lab a person works at, as their own pages name it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Workplace {
    pub id: String,
    pub name: String,
    pub active: bool,
}

/// The stations a relay operator works at, or the labs an inspector
/// inspects for; nothing for other roles.
pub fn workplaces(conn: &mut Conn, user: &str, role: Role) -> Result<Vec<Workplace>, ApiError> {
    let (kind, ids) = match role {
        Role::RelayOperator => (PlaceKind::Station, db::logistics::stations_of(conn, user)?),
        Role::LabInspector => (PlaceKind::Lab, db::logistics::labs_of(conn, user)?),
        _ => return Ok(Vec::new()),
    };
    let mut places = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(place) = find(conn, kind, &id)? {
            places.push(Workplace {
                id: place.id,
                name: place.name,
                active: place.active,
            });
        }
    }
    places.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(places)
}

/// Checks that a campaign's stations and lab exist (a campaign names them
/// by id).
pub fn check_campaign_places(
    conn: &mut Conn,
    stations: &[String],
    lab: Option<&str>,
) -> Result<(), ApiError> {
    for id in stations {
        if find(conn, PlaceKind::Station, id)?.is_none() {
            return Err(invalid(format!("relay_stations: no relay station {id}")));
        }
    }
    if let Some(lab) = lab
        && find(conn, PlaceKind::Lab, lab)?.is_none()
    {
        return Err(invalid(format!("lab: no lab {lab}")));
    }
    Ok(())
}
