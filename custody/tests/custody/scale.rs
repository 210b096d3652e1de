//! A long log goes through the streaming verifier (not timed here: release
//! builds verify a million entries in seconds).

use custody_log::{LogVerifier, Problem};

use crate::support::*;

#[test]
fn a_log_of_a_hundred_thousand_entries_verifies_and_a_late_change_is_found() {
    let mut entries = log(100_000);
    let checkpoints = vec![
        checkpoint(&entries, 25_000),
        checkpoint(&entries, 50_000),
        checkpoint(&entries, 99_999),
    ];
    let keys = trusted();
    let mut verifier = LogVerifier::new(checkpoints.clone(), &keys);
    for entry in &entries {
        assert!(verifier.push(entry.clone()));
    }
    let report = verifier.finish();
    assert!(report.is_intact());
    assert_eq!(
        (report.entries_read, report.proven_up_to),
        (100_000, 99_999)
    );

    update_data(&mut entries, 77_777);
    assert_eq!(
        verify(entries, checkpoints).problem,
        Some(Problem::Changed { seq: 77_777 })
    );
}
