//! Sequence numbers of deliveries, unique across crashes.
//!
//! The writer hands numbers out of a range whose upper bound is first made durable in
//! `inbox/next-seq` (written to a temporary file, synced, renamed, directory synced), so after
//! any crash every number handed out before is below the stored bound and the next run starts
//! there. One reservation covers [`RESERVE`] numbers, so the cost is one sync per that many
//! deliveries.
//!
//! sled's `generate_id` cannot be used for this: after a crash it restarts from its last
//! *durable* counter plus twice its persist interval, and the counter write that starts a new
//! interval is not synced before ids from that interval are handed out, so a crash soon after
//! a restart can hand out the same ids again.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::segment;

/// Numbers reserved per durable write of the bound.
pub const RESERVE: u64 = 1 << 20;
/// File holding the bound.
pub const FILE_NAME: &str = "next-seq";

/// Hands out increasing sequence numbers.
#[derive(Debug)]
pub struct SeqGen {
    dir: PathBuf,
    next: u64,
    reserved: u64,
}

impl SeqGen {
    /// Starts above the stored bound and above `floor` (one more than any number known to be
    /// in use).
    pub fn open(dir: &Path, floor: u64) -> io::Result<Self> {
        let stored = match std::fs::read_to_string(dir.join(FILE_NAME)) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{FILE_NAME} does not hold a number ({e}); restore it or remove the inbox directory"),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let next = stored.max(floor);
        Ok(Self {
            dir: dir.to_owned(),
            next,
            reserved: next,
        })
    }

    /// The next number; reserves a new range durably first when the current one is used up.
    pub fn next(&mut self) -> io::Result<u64> {
        if self.next >= self.reserved {
            let bound = self
                .next
                .checked_add(RESERVE)
                .ok_or_else(|| io::Error::other("inbox sequence numbers are exhausted"))?;
            let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
            let mut f = segment::private(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true),
            )
            .open(&tmp)?;
            writeln!(f, "{bound}")?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, self.dir.join(FILE_NAME))?;
            segment::sync_dir(&self.dir)?;
            self.reserved = bound;
        }
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_never_repeat_across_restarts_even_without_a_clean_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut g = SeqGen::open(dir.path(), 5).expect("open");
        let first: Vec<u64> = (0..3).map(|_| g.next().expect("next")).collect();
        assert_eq!(first, vec![5, 6, 7]);
        // A "crash": the generator is dropped without anything else being written.
        drop(g);
        let mut g = SeqGen::open(dir.path(), 0).expect("open");
        let after = g.next().expect("next");
        assert_eq!(after, 5 + RESERVE, "starts at the durable bound");
        // A floor above the bound wins.
        let mut g = SeqGen::open(dir.path(), 10 * RESERVE).expect("open");
        assert_eq!(g.next().expect("next"), 10 * RESERVE);
    }

    #[test]
    fn a_damaged_bound_file_is_an_error_not_a_restart_from_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "not a number").expect("write");
        let e = SeqGen::open(dir.path(), 0).expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
