//! The client replica: what an app keeps on the device.
//!
//! It holds the records the server confirmed (as last pulled) and a queue of
//! the user's mutations not yet confirmed. What the user sees is the
//! confirmed records with the queue applied on top ([`Replica::view`]), so a
//! change shows at once, offline. Pushing sends the queue; pulling replaces
//! confirmed records and drops queued mutations the server reports as
//! processed and whose push answer the replica has seen (their effects are
//! then in the pulled records: the rebase). A reset from the server clears
//! the confirmed records only; the queue survives every reset, so no
//! unpushed mutation is ever dropped.
//!
//! The replica is serialisable: an app saves it after every step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    hlc::{Hlc, Stamp},
    mutations::{Mutation, Rejection},
    records::{Kind, Record},
    wire::{
        Change, DeviceRegistered, MutationEnvelope, Outcome, PullResponse, PushRequest,
        PushResponse, Stop,
    },
};

/// A mutation waiting for the server to confirm it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub seq: u64,
    pub stamp: Stamp,
    pub mutation: Mutation,
}

/// A mutation the server refused or held for review: the app shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub seq: u64,
    pub mutation: Mutation,
    /// `true` when kept for a coordinator's review rather than refused.
    pub held: bool,
    pub reason: Rejection,
}

/// The key of a record in a replica.
pub type Key = (Kind, String);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    device_id: String,
    hlc: Hlc,
    /// The last sequence number given to a mutation.
    last_seq: u64,
    /// The highest number whose push answer this replica has seen.
    acked: u64,
    // Saved as a list: JSON keys must be strings, and a tuple key made
    // `serde_json::to_string(&replica)` fail as soon as a record was pulled.
    #[serde(with = "records_as_list")]
    confirmed: BTreeMap<Key, Record>,
    pending: Vec<Pending>,
    cursor: Option<String>,
    refused: Vec<Refused>,
    /// `confirmed` with `pending` applied: kept up to date rather than
    /// recomputed, so queueing a mutation costs one apply, not one per
    /// mutation already queued.
    #[serde(default, with = "records_as_list")]
    view: BTreeMap<Key, Record>,
}

impl Replica {
    /// A replica for a device the server just registered (or a re-install
    /// that registered again).
    pub fn new(device: &DeviceRegistered) -> Self {
        Self {
            device_id: device.device_id.clone(),
            hlc: Hlc::new(device.node.clone()),
            last_seq: device.last_processed,
            acked: device.last_processed,
            confirmed: BTreeMap::new(),
            pending: Vec::new(),
            cursor: None,
            refused: Vec::new(),
            view: BTreeMap::new(),
        }
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Records a user's change: checked, stamped with the device clock
    /// (`now_us`), queued and shown at once. Refused here, without queueing,
    /// when its arguments are malformed or it cannot apply to what the user
    /// sees.
    pub fn mutate(&mut self, now_us: i64, mutation: Mutation) -> Result<u64, Rejection> {
        // Through the wire form and back, so the replica normalises and
        // checks exactly as the server will (ids and hashes in lower case).
        let (name, args) = mutation.encode();
        let mutation = Mutation::decode(&name, &args)?;
        let stamp = self.hlc.tick(now_us);
        let applied = mutation.apply(find_target(&self.view, &mutation), &stamp)?;
        if let Some(kind) = applied.record.kind() {
            self.view
                .insert((kind, applied.record.id().to_owned()), applied.record);
        }
        self.last_seq += 1;
        self.pending.push(Pending {
            seq: self.last_seq,
            stamp,
            mutation,
        });
        Ok(self.last_seq)
    }

    /// What the user sees: confirmed records with every queued mutation
    /// applied on top, in order. A queued mutation that no longer applies
    /// (its record left the scope) is skipped; the server will answer it.
    pub fn view(&self) -> &BTreeMap<Key, Record> {
        &self.view
    }

    /// Recomputes the view after the confirmed records or the queue changed
    /// other than by [`Replica::mutate`] (the rebase).
    fn rebase(&mut self) {
        let mut view = self.confirmed.clone();
        for p in &self.pending {
            let applied = p.mutation.apply(find_target(&view, &p.mutation), &p.stamp);
            if let Some((kind, applied)) = applied.ok().and_then(|a| Some((a.record.kind()?, a))) {
                view.insert((kind, applied.record.id().to_owned()), applied.record);
            }
        }
        self.view = view;
    }

    /// The records the server confirmed.
    pub fn confirmed(&self) -> &BTreeMap<Key, Record> {
        &self.confirmed
    }

    /// Mutations not yet confirmed by a pull, oldest first.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// Mutations the server refused or held; the app shows them.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// The next batch to push: at most `max` mutations the server has not
    /// processed yet, or `None` when there are none. `now_us` is the device
    /// clock, from which the server measures its offset.
    pub fn push_request(&self, now_us: i64, max: usize) -> Option<PushRequest> {
        let mutations: Vec<MutationEnvelope> = self
            .pending
            .iter()
            .filter(|p| p.seq > self.acked)
            .take(max)
            .map(|p| {
                let (name, args) = p.mutation.encode();
                MutationEnvelope {
                    seq: p.seq,
                    stamp: p.stamp.clone(),
                    name,
                    args,
                }
            })
            .collect();
        (!mutations.is_empty()).then(|| PushRequest {
            v: crate::PROTOCOL_VERSION,
            device_id: self.device_id.clone(),
            sent_at_us: now_us,
            mutations,
        })
    }

    /// Takes in the server's answer to a push. Applied and duplicate
    /// mutations stay queued (and visible) until a pull confirms them;
    /// refused and held ones leave the queue for the refused list.
    pub fn on_push_response(&mut self, response: &PushResponse) {
        let mut dropped = false;
        for result in &response.results {
            // Only the numbers this answer names count as answered, not the
            // server's `last_processed`: that may cover a push whose answer
            // was lost, and a mutation whose outcome the replica never saw
            // must be sent again, or a rejection would vanish unseen.
            self.acked = self.acked.max(result.seq);
            let reason = match &result.outcome {
                Outcome::Applied | Outcome::Duplicate => continue,
                Outcome::Rejected(r) => (false, r.clone()),
                Outcome::Held(r) => (true, r.clone()),
            };
            if let Some(at) = self.pending.iter().position(|p| p.seq == result.seq) {
                let p = self.pending.remove(at);
                dropped = true;
                self.refused.push(Refused {
                    seq: p.seq,
                    mutation: p.mutation,
                    held: reason.0,
                    reason: reason.1,
                });
            }
        }
        if let Some(Stop::Gap { resume_from }) = &response.stopped {
            // The server lost track of mutations it had confirmed (restored
            // from a backup): send again what is still queued from there.
            self.acked = self.acked.min(resume_from.saturating_sub(1));
        }
        if dropped {
            self.rebase();
        }
    }

    /// The cursor for the next pull (`None` for the first).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Takes in one page of a pull.
    pub fn on_pull_response(&mut self, response: &PullResponse) {
        if response.reset {
            self.confirmed.clear();
        }
        for change in &response.changes {
            match change {
                Change::Put { record } => {
                    if let Some(kind) = record.kind() {
                        self.confirmed
                            .insert((kind, record.id().to_owned()), record.clone());
                    }
                }
                Change::Remove { kind, id } => {
                    self.confirmed.remove(&(*kind, id.clone()));
                }
            }
        }
        self.cursor = Some(response.cursor.clone());
        // The server says the effects of everything up to this number are in
        // what was just pulled: those queued mutations are done. Except the
        // ones whose push answer never arrived (above `acked`): the server
        // may have refused them, so they stay queued and are pushed again,
        // and the server answers a re-sent refused mutation with its refusal.
        // Dropping them here lost such a refusal for good.
        let done = response.last_processed.min(self.acked);
        self.pending.retain(|p| p.seq > done);
        self.rebase();
    }
}

/// The record a mutation targets in `records`: by id, and for evidence also
/// by SHA-256 within the task (the same file twice is one record).
pub fn find_target<'a>(
    records: &'a BTreeMap<Key, Record>,
    mutation: &Mutation,
) -> Option<&'a Record> {
    let (kind, id) = mutation.target();
    if let Some(found) = records.get(&(kind, id.to_owned())) {
        return Some(found);
    }
    if let Mutation::AddEvidence(add) = mutation {
        return records.values().find(|r| {
            matches!(r, Record::Evidence(e) if e.task_id == add.task_id && e.sha256 == add.sha256)
        });
    }
    None
}

/// The confirmed records, saved as a list of records (each carries its own
/// kind and id, which make its key).
mod records_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Key;
    use crate::records::Record;

    pub fn serialize<S: Serializer>(
        records: &BTreeMap<Key, Record>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(records.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Key, Record>, D::Error> {
        let records = Vec::<Record>::deserialize(deserializer)?;
        Ok(records
            .into_iter()
            .filter_map(|r| Some(((r.kind()?, r.id().to_owned()), r)))
            .collect())
    }
}
