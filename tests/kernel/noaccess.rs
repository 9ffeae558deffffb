//! `PROTECT` to no access keeps the pages: the `noaccess` program takes a private page, a copy-on-write
//! page, a zero-page mapping and two merged pages through no access and back, with forked children
//! watching, and checks their bytes and sharing (see its module documentation). The kernel test runs the
//! page-merging scanner pass by pass until the program's mergeable pages are merged, then stops it, so
//! that nothing else takes or frees frames while the program counts them.

use cowpi_abi::ExitStatus;

use super::programs::{finish, start};
use crate::memory::{frames, ksm};
use crate::task::{self, Pid};
use crate::{check, check_eq, kernel_test};

fn running(pid: Pid) -> bool {
    task::tasks_snapshot().iter().any(|t| t.pid == pid && !matches!(t.state, task::State::Exited(_)))
}

kernel_test! {
    /// Hiding a page and showing it again gives back the same bytes and the same sharing, for every kind
    /// of page, with no frame freed on the way; a child's copy is never affected and still copies on
    /// write. (Before, no access dropped the frames: the pages came back as zeros.)
    fn no_access_keeps_private_shared_zero_and_merged_pages() -> TestResult {
        let free_before = frames::counters().free;
        let sharing_before = ksm::status().pages_sharing;
        let pid = start("noaccess", "")?;
        let mut passes = 0;
        while running(pid) && ksm::status().pages_sharing == sharing_before && passes < 2000 {
            ksm::scan_full_passes(1);
            passes += 1;
            task::sleep(2);
        }
        check!(passes > 0, "the program ended before the scanner ran");
        check_eq!(finish(pid)?, Some(ExitStatus::Exited(0)));
        // The scanner lets go of the merged frame once no page maps it.
        ksm::scan_full_passes(1);
        check_eq!(ksm::status().pages_shared, 0);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}
