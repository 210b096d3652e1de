//! SQL of the mail outbox: rows written in the transaction that causes a mail,
//! marked sent by the job that delivers it.

use diesel::prelude::*;

use super::{Conn, schema::mail_outbox, time::Micros};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub state: String,
    pub created_at: Micros,
    pub sent_at: Option<Micros>,
}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const DEAD: &str = "dead";

pub fn insert(conn: &mut Conn, mail: &MailRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(mail_outbox::table).values(mail).execute(c))?;
    Ok(())
}

pub fn find(conn: &mut Conn, id: &str) -> QueryResult<Option<MailRow>> {
    with_conn!(conn, c => mail_outbox::table
        .find(id)
        .select(MailRow::as_select())
        .first(c)
        .optional())
}

/// Marks a pending mail sent; false if it was not pending.
pub fn mark(conn: &mut Conn, id: &str, state: &str, now: Micros) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
            mail_outbox::table
                .filter(mail_outbox::id.eq(id))
                .filter(mail_outbox::state.eq(PENDING)),
        )
        .set((mail_outbox::state.eq(state), mail_outbox::sent_at.eq(now)))
        .execute(c))?;
    Ok(n == 1)
}
