//! Verification of a whole log as read back from the database: recompute
//! every entry's hash, follow every link, rebuild the Merkle root at every
//! checkpoint size and check every checkpoint's signature, then report the
//! first problem, classified as what someone with SQL access most likely did.
//!
//! It streams: entries are pushed one at a time (in seq order) and memory
//! stays O(log n) (the Merkle frontier) plus a fixed window of recent
//! entries and the list of checkpoints. It must never need the whole log in
//! memory, and never stop at the first oddity without looking one entry
//! ahead: that one entry is what tells a changed entry from an inserted one.

use std::collections::VecDeque;

use serde::Serialize;

use crate::{
    GENESIS_PREV_HASH, Hash,
    checkpoint::{PublicKey, SignedCheckpoint, find_key},
    entry::Entry,
    merkle::Frontier,
};

/// How many accepted entries the verifier remembers (seq and hash) to
/// recognise an entry whose `prev_hash` skips over inserted ones.
const LOOKBEHIND: usize = 64;

/// How far (in seqs, either way) the verifier looks for the seq a renumbered
/// entry was written with. Beyond that, a renumbered entry is reported as
/// changed. Only the first problem is classified, so this costs at most
/// 2 x 65,536 hashes once.
pub const RENUMBER_SEARCH: u64 = 65_536;

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Entries read (pushed), including any read ahead of the problem.
    pub entries_read: u64,
    /// Checkpoints whose signature, root and head were all confirmed.
    pub checkpoints_checked: u64,
    /// Entries 1..=proven_up_to match a signed checkpoint: proven intact
    /// even against someone who rewrote the database consistently. Entries
    /// after it are only as good as the hash chain.
    pub proven_up_to: u64,
    /// The first problem, `None` when the log is intact.
    pub problem: Option<Problem>,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first thing wrong with a log, and where. "seq" always means the seq
/// the entry was written with in the original log, where that can be told.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Problem {
    /// Entry `seq` is not what was written: its fields no longer hash to its
    /// stored hash (`UPDATE` of a field), or they were re-hashed and the next
    /// entry still names the original hash (`UPDATE` + recomputed hash).
    #[error("entry {seq} was changed")]
    Changed { seq: u64 },
    /// `count` entries that followed entry `after_seq` are gone (0: from the
    /// very start): a gap in the seqs (`DELETE`), or entries that still hash
    /// under their old, higher seqs (`DELETE` + renumbering).
    #[error("{count} entries after entry {after_seq} were removed")]
    Removed { after_seq: u64, count: u64 },
    /// The entry at `seq` (and maybe more after it) was never part of the log:
    /// a second entry with an existing seq, or an entry whose successors
    /// link past it or still hash under their old, lower seqs
    /// (`INSERT` with or without renumbering).
    #[error("entry {seq} was inserted")]
    Inserted { seq: u64 },
    /// The entry stored at `seq` belongs elsewhere in the log (seqs swapped
    /// or an entry moved): it hashes under another seq, and its neighbours
    /// are intact or it names the next entry as its predecessor.
    #[error("the entry stored at {seq} was moved there from elsewhere in the log")]
    Reordered { seq: u64 },
    /// The entries were not handed over in seq order (`seq` came after
    /// `after_seq`): a reading bug, or the storage order was tampered with.
    #[error("entry {seq} came after entry {after_seq}: not in seq order")]
    OutOfOrder { seq: u64, after_seq: u64 },
    /// The log ends at `entries`, but a signed checkpoint says it had
    /// `checkpoint_size` (the tail was deleted).
    #[error("the log has {entries} entries but a signed checkpoint has {checkpoint_size}")]
    Truncated { entries: u64, checkpoint_size: u64 },
    /// The entries 1..=checkpoint_size are a consistent chain, but not the
    /// one that was signed: it was rewritten from some entry on, somewhere
    /// from `first_unproven_seq` (the entry after the last checkpoint that
    /// still matches) to `checkpoint_size`.
    #[error(
        "the log no longer matches the signed checkpoint of size {checkpoint_size}: rewritten from entry {first_unproven_seq} or later"
    )]
    CheckpointMismatch {
        checkpoint_size: u64,
        first_unproven_seq: u64,
    },
    /// A stored checkpoint's signature does not verify with the key it names.
    #[error("the checkpoint of size {checkpoint_size} has a bad signature")]
    BadSignature { checkpoint_size: u64 },
    /// A stored checkpoint names a key that is not among the trusted ones.
    #[error("the checkpoint of size {checkpoint_size} is signed by unknown key {key_id}")]
    UnknownKey {
        checkpoint_size: u64,
        key_id: String,
    },
}

impl Problem {
    /// The first entry the problem concerns: what orders a chain problem
    /// against a checkpoint problem.
    fn first_seq(&self) -> u64 {
        match *self {
            Problem::Changed { seq } | Problem::Inserted { seq } | Problem::Reordered { seq } => {
                seq
            }
            Problem::Removed { after_seq, .. } => after_seq + 1,
            Problem::OutOfOrder { seq, .. } => seq,
            Problem::Truncated { entries, .. } => entries + 1,
            Problem::CheckpointMismatch {
                first_unproven_seq, ..
            } => first_unproven_seq,
            Problem::BadSignature { checkpoint_size }
            | Problem::UnknownKey {
                checkpoint_size, ..
            } => checkpoint_size,
        }
    }
}

/// Verifies a log pushed entry by entry.
///
/// ```text
/// let mut verifier = LogVerifier::new(checkpoints, &trusted_keys);
/// for entry in entries_in_seq_order {
///     if !verifier.push(entry) { break; } // a problem was found: stop reading
/// }
/// let report = verifier.finish();
/// ```
pub struct LogVerifier<'k> {
    trusted: &'k [PublicKey],
    /// Sorted by size; `next_checkpoint` is the first not yet checked.
    checkpoints: Vec<SignedCheckpoint>,
    next_checkpoint: usize,
    frontier: Frontier,
    /// The last accepted entries' (seq, hash), oldest first, starting with
    /// (0, genesis) so that entry 1 has a predecessor like any other.
    recent: VecDeque<(u64, Hash)>,
    /// Read, not yet judged: judging needs the entry after it.
    pending: Option<Entry>,
    entries_read: u64,
    checkpoints_checked: u64,
    proven_up_to: u64,
    problem: Option<Problem>,
}

impl<'k> LogVerifier<'k> {
    /// `checkpoints` in any order (all of them: a verifier given fewer proves
    /// less); `trusted` the public keys whose checkpoints count.
    pub fn new(
        checkpoints: impl IntoIterator<Item = SignedCheckpoint>,
        trusted: &'k [PublicKey],
    ) -> Self {
        let mut checkpoints: Vec<SignedCheckpoint> = checkpoints.into_iter().collect();
        checkpoints.sort_by_key(|signed| signed.checkpoint.tree_size);
        let mut recent = VecDeque::with_capacity(LOOKBEHIND + 1);
        recent.push_back((0, GENESIS_PREV_HASH));
        let mut verifier = Self {
            trusted,
            checkpoints,
            next_checkpoint: 0,
            frontier: Frontier::new(),
            recent,
            pending: None,
            entries_read: 0,
            checkpoints_checked: 0,
            proven_up_to: 0,
            problem: None,
        };
        // Checkpoints of the empty log.
        verifier.problem = verifier.check_checkpoints();
        verifier
    }

    /// Takes the next entry in seq order. Returns `false` once a problem is
    /// known: reading on changes nothing.
    pub fn push(&mut self, entry: Entry) -> bool {
        if self.problem.is_some() {
            return false;
        }
        self.entries_read += 1;
        if let Some(current) = self.pending.take() {
            self.problem = self.judge(current, Some(&entry));
        }
        self.pending = Some(entry);
        self.problem.is_none()
    }

    /// Judges the last entry and the checkpoints beyond the end of the log.
    pub fn finish(mut self) -> Report {
        if self.problem.is_none()
            && let Some(last) = self.pending.take()
        {
            self.problem = self.judge(last, None);
        }
        if self.problem.is_none() {
            self.problem = self.check_checkpoints();
        }
        if self.problem.is_none()
            && let Some(beyond) = self.checkpoints.get(self.next_checkpoint)
        {
            // A forged checkpoint beyond the end is a forgery, not a
            // truncation: check its signature first.
            self.problem = self.signature_problem(beyond).or(Some(Problem::Truncated {
                entries: self.frontier.len(),
                checkpoint_size: beyond.checkpoint.tree_size,
            }));
        }
        Report {
            entries_read: self.entries_read,
            checkpoints_checked: self.checkpoints_checked,
            proven_up_to: self.proven_up_to,
            problem: self.problem,
        }
    }

    /// Classifies `entry` (accepting it into the tree when it is fine), then
    /// checks the checkpoints that end right before it. A chain problem about
    /// an entry a checkpoint covers wins over that checkpoint's mismatch: it
    /// says more precisely what happened.
    fn judge(&mut self, entry: Entry, next: Option<&Entry>) -> Option<Problem> {
        let chain = self.classify(&entry, next);
        if let Some(problem) = &chain
            && problem.first_seq() <= self.frontier.len()
        {
            return chain;
        }
        if let Some(problem) = self.check_checkpoints() {
            return Some(problem);
        }
        if chain.is_some() {
            return chain;
        }
        self.frontier.push(entry.hash);
        if self.recent.len() > LOOKBEHIND {
            self.recent.pop_front();
        }
        self.recent.push_back((entry.seq, entry.hash));
        None
    }

    /// The chain rules. `r` is the entry at hand, everything before it was
    /// accepted; `next` is the entry after it, if any.
    fn classify(&self, r: &Entry, next: Option<&Entry>) -> Option<Problem> {
        let &(prev_seq, prev_hash) = self.recent.back()?;
        let expected = prev_seq + 1;

        if r.seq <= prev_seq {
            return Some(if r.seq == prev_seq {
                // Two rows claim one seq: one of them is not of the chain.
                Problem::Inserted { seq: r.seq }
            } else {
                Problem::OutOfOrder {
                    seq: r.seq,
                    after_seq: prev_seq,
                }
            });
        }
        if r.seq > expected {
            if let Some(next) = next
                && next.seq < r.seq
            {
                // The missing seq comes right after: a reading-order problem.
                return Some(Problem::OutOfOrder {
                    seq: next.seq,
                    after_seq: r.seq,
                });
            }
            if r.prev_hash == prev_hash && r.compute_hash_as(expected) == r.hash {
                // The right entry, with only its seq edited.
                return Some(Problem::Changed { seq: expected });
            }
            return Some(Problem::Removed {
                after_seq: prev_seq,
                count: r.seq - expected,
            });
        }

        let self_consistent = r.is_self_consistent();
        let linked = r.prev_hash == prev_hash;
        match (self_consistent, linked) {
            (true, true) => None,
            (false, true) => {
                // Fields edited with the hash kept; unless the next entry is
                // the original of this seq, renumbered one up to make room.
                if let Some(next) = next
                    && next.seq == expected + 1
                    && next.prev_hash == prev_hash
                    && next.compute_hash_as(expected) == next.hash
                {
                    return Some(Problem::Inserted { seq: expected });
                }
                Some(Problem::Changed { seq: expected })
            }
            (true, false) => {
                if let Some(seq) = self.links_past(&r.prev_hash) {
                    return Some(Problem::Inserted { seq });
                }
                if let Some(next) = next {
                    if next.prev_hash == prev_hash {
                        // The next entry is the one that followed ours.
                        return Some(Problem::Reordered { seq: expected });
                    }
                    if next.prev_hash != r.hash {
                        // Renumbered and re-hashed, links left alone: the
                        // next entry still names this one's original hash.
                        if let Some(problem) = renumbering(r, &next.prev_hash, prev_seq, expected) {
                            return Some(problem);
                        }
                    }
                }
                if prev_seq == 0 {
                    // Entry 1 names a predecessor: its prev_hash was edited.
                    return Some(Problem::Changed { seq: expected });
                }
                // The previous entry was edited and re-hashed; this one still
                // names its original hash.
                Some(Problem::Changed { seq: prev_seq })
            }
            (false, false) => {
                let Some(problem) = renumbering(r, &r.hash, prev_seq, expected) else {
                    return Some(Problem::Changed { seq: expected });
                };
                if let Problem::Removed { .. } = problem
                    && let Some(next) = next
                    && (r.prev_hash == next.hash
                        || (next.is_self_consistent() && next.prev_hash != r.hash))
                {
                    // Not a run of renumbered entries: this one alone was
                    // moved here (it names the next entry as its predecessor,
                    // or the next entry is intact at its own seq).
                    return Some(Problem::Reordered { seq: expected });
                }
                Some(problem)
            }
        }
    }

    /// When `prev_hash` is the hash of an accepted entry before the previous
    /// one, the entries after that one were inserted: the seq of the first.
    fn links_past(&self, prev_hash: &Hash) -> Option<u64> {
        let older = self.recent.len().checked_sub(1)?;
        let at = self
            .recent
            .iter()
            .take(older)
            .rposition(|(_, hash)| hash == prev_hash)?;
        self.recent.get(at + 1).map(|&(seq, _)| seq)
    }

    /// Checks the checkpoints of the size the tree has now.
    fn check_checkpoints(&mut self) -> Option<Problem> {
        while let Some(signed) = self.checkpoints.get(self.next_checkpoint) {
            let checkpoint = signed.checkpoint;
            if checkpoint.tree_size > self.frontier.len() {
                break;
            }
            if let Some(problem) = self.signature_problem(signed) {
                return Some(problem);
            }
            if checkpoint.merkle_root != self.frontier.root()
                || checkpoint.head_hash != self.frontier.head()
            {
                return Some(Problem::CheckpointMismatch {
                    checkpoint_size: checkpoint.tree_size,
                    first_unproven_seq: self.proven_up_to + 1,
                });
            }
            self.proven_up_to = checkpoint.tree_size;
            self.checkpoints_checked += 1;
            self.next_checkpoint += 1;
        }
        None
    }

    fn signature_problem(&self, signed: &SignedCheckpoint) -> Option<Problem> {
        let checkpoint_size = signed.checkpoint.tree_size;
        let Some(key) = find_key(self.trusted, &signed.key_id) else {
            return Some(Problem::UnknownKey {
                checkpoint_size,
                key_id: signed.key_id.0.clone(),
            });
        };
        key.verify(signed)
            .err()
            .map(|_| Problem::BadSignature { checkpoint_size })
    }
}

/// If `r`'s fields hash to `target` under another seq, what moving it from
/// there to `expected` means: entries removed before it (it came from a
/// higher seq) or inserted before it (from a lower one).
fn renumbering(r: &Entry, target: &Hash, prev_seq: u64, expected: u64) -> Option<Problem> {
    let higher = (1..=RENUMBER_SEARCH).filter_map(|d| expected.checked_add(d));
    if let Some(original) = r.find_seq(target, higher) {
        return Some(Problem::Removed {
            after_seq: prev_seq,
            count: original - expected,
        });
    }
    let lower = (1..=RENUMBER_SEARCH.min(expected - 1)).map(|d| expected - d);
    let original = r.find_seq(target, lower)?;
    Some(Problem::Inserted { seq: original })
}

/// Verifies a whole log at once: [`LogVerifier`] over an iterator.
pub fn verify_log(
    entries: impl IntoIterator<Item = Entry>,
    checkpoints: impl IntoIterator<Item = SignedCheckpoint>,
    trusted: &[PublicKey],
) -> Report {
    let mut verifier = LogVerifier::new(checkpoints, trusted);
    for entry in entries {
        if !verifier.push(entry) {
            break;
        }
    }
    verifier.finish()
}
