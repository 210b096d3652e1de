//! SQL of users and of volunteers' personal data. Personal data has its own
//! finder so that reading it is always a deliberate, separate call.

use diesel::{dsl::count_star, prelude::*};

use super::{
    Conn,
    schema::{users, volunteer_personal_data},
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub role: String,
    pub status: String,
    pub pseudonym: Option<String>,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = volunteer_personal_data)]
pub struct PersonalDataRow {
    pub user_id: String,
    pub legal_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub payout_details: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

pub fn insert(conn: &mut Conn, user: &UserRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(users::table).values(user).execute(c))?;
    Ok(())
}

pub fn find(conn: &mut Conn, id: &str) -> QueryResult<Option<UserRow>> {
    with_conn!(conn, c => users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

pub fn count_with_role(conn: &mut Conn, role: &str) -> QueryResult<i64> {
    with_conn!(conn, c => users::table
        .filter(users::role.eq(role))
        .select(count_star())
        .first(c))
}

pub fn insert_personal_data(conn: &mut Conn, data: &PersonalDataRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(volunteer_personal_data::table)
        .values(data)
        .execute(c))?;
    Ok(())
}

/// A volunteer's real identity. Callers must be administrators and must audit.
pub fn find_personal_data(conn: &mut Conn, user_id: &str) -> QueryResult<Option<PersonalDataRow>> {
    with_conn!(conn, c => volunteer_personal_data::table
        .find(user_id)
        .select(PersonalDataRow::as_select())
        .first(c)
        .optional())
}

/// Fills in what a volunteer told us about themselves at registration;
/// fields left `None` keep their value.
pub fn update_personal_data(
    conn: &mut Conn,
    user_id: &str,
    legal_name: Option<&str>,
    phone: Option<&str>,
    payout_details: Option<&str>,
    now: Micros,
) -> QueryResult<usize> {
    let pd = volunteer_personal_data::table.find(user_id);
    let mut changed = 0;
    if let Some(v) = legal_name {
        changed += with_conn!(conn, c => diesel::update(pd).set(volunteer_personal_data::legal_name.eq(v)).execute(c))?;
    }
    if let Some(v) = phone {
        changed += with_conn!(conn, c => diesel::update(pd).set(volunteer_personal_data::phone.eq(v)).execute(c))?;
    }
    if let Some(v) = payout_details {
        changed += with_conn!(conn, c => diesel::update(pd).set(volunteer_personal_data::payout_details.eq(v)).execute(c))?;
    }
    with_conn!(conn, c => diesel::update(pd).set(volunteer_personal_data::updated_at.eq(now)).execute(c))?;
    Ok(changed)
}
