use std::io::Write as _;

use super::*;
use crate::app::Faults;
use crate::storage::records::DeliveryState;

struct Opened {
    inbox: Inbox,
    tasks: InboxTasks,
    flusher: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
}

impl Opened {
    async fn close(self) {
        let Opened {
            inbox,
            tasks,
            flusher,
            ..
        } = self;
        drop(inbox);
        tasks.stop().await;
        flusher.abort();
        let _ = flusher.await;
    }
}

fn open(dir: &Path, store: &Store, max_segment: u64) -> Opened {
    let metrics = Arc::new(Metrics::default());
    let (flush, flusher) = StoreFlush::start(store.clone());
    let (inbox, tasks) = Inbox::open(
        dir,
        store.clone(),
        flush,
        metrics.clone(),
        max_segment,
        0,
        Faults::default(),
    )
    .expect("the inbox opens");
    Opened {
        inbox,
        tasks,
        flusher,
        metrics,
    }
}

fn applied() -> DeliveryRecord {
    DeliveryRecord {
        received_at: "2026-11-27T00:00:00.000Z".into(),
        event: None,
        issue_key: None,
        state: DeliveryState::Applied,
        reason: None,
        outcomes: vec![],
    }
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 50)).into_bytes()
}

async fn commit_all(inbox: &Inbox, n: usize) -> Vec<u64> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let inbox = inbox.clone();
        tasks.push(tokio::spawn(async move {
            let integration = if i % 2 == 0 { "1" } else { "2" };
            let ms = i64::try_from(i).expect("small");
            inbox
                .accept(integration, ms, &body(i))
                .await
                .expect("commit")
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("join"));
    }
    seqs
}

/// Like [`commit_all`], one delivery after the other: the sequence numbers follow `i`, so the
/// integrations alternate in the inbox's order.
async fn commit_in_order(inbox: &Inbox, n: usize) {
    for i in 0..n {
        let integration = if i % 2 == 0 { "1" } else { "2" };
        let ms = i64::try_from(i).expect("small");
        inbox
            .accept(integration, ms, &body(i))
            .await
            .expect("commit");
    }
}

fn pending_bodies(inbox: &Inbox) -> Vec<(u64, Vec<u8>)> {
    inbox
        .oldest_except(usize::MAX, &|_| false)
        .expect("reads")
        .into_iter()
        .map(|e| (e.seq, e.body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_syncs_and_read_back_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    let seqs = commit_all(&o.inbox, 64).await;
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 64, "every delivery gets its own number");
    assert_eq!(o.inbox.len(), 64);
    assert_eq!(o.metrics.inbox_depth(), 64);
    let text = o.metrics.render();
    assert!(
        text.contains("reference_server_inbox_flushed_entries_total 64\n"),
        "{text}"
    );

    // In sequence order, each body where its commit put it.
    let got = o.inbox.oldest_except(100, &|_| false).expect("reads");
    let order: Vec<u64> = got.iter().map(|e| e.seq).collect();
    assert_eq!(order, unique);
    for e in &got {
        let i = seqs.iter().position(|s| *s == e.seq).expect("known seq");
        assert_eq!(e.body, body(i));
        assert_eq!(e.received_ms, i64::try_from(i).expect("small"));
        assert_eq!(e.integration_id, if i % 2 == 0 { "1" } else { "2" });
    }
    // Skipping an integration skips only its entries.
    let only_2 = o.inbox.oldest_except(100, &|id| id == "1").expect("reads");
    assert_eq!(only_2.len(), 32);
    assert!(only_2.iter().all(|e| e.integration_id == "2"));
    let newest_1 = o.inbox.pending_for("1").expect("reads");
    assert_eq!(newest_1.len(), 32);
    assert!(newest_1.windows(2).all(|w| w[0].seq > w[1].seq));

    let first = got.first().expect("one");
    o.inbox
        .complete(&first.integration_id, &[(first.seq, &applied())])
        .expect("complete");
    assert_eq!(o.inbox.len(), 63);
    assert_eq!(o.metrics.inbox_depth(), 63);
    assert!(
        store
            .delivery_is_final(&first.integration_id, first.seq)
            .expect("reads")
    );
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_exactly_what_was_not_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    // In order, so the 5 oldest hold both integrations (concurrent accepts may not).
    commit_in_order(&o.inbox, 20).await;
    let before = pending_bodies(&o.inbox);
    // Record 5 as applied (a delivery-log chunk per integration) and one as still pending
    // (waiting for Jira).
    let oldest = o.inbox.oldest_except(5, &|_| false).expect("reads");
    let rec = applied();
    for id in ["1", "2"] {
        let done: Vec<(u64, &DeliveryRecord)> = oldest
            .iter()
            .filter(|e| e.integration_id == id)
            .map(|e| (e.seq, &rec))
            .collect();
        assert!(done.len() >= 2);
        o.inbox.complete(id, &done).expect("complete");
    }
    let (waiting_seq, waiting_id) = {
        let e = o
            .inbox
            .oldest_except(1, &|_| false)
            .expect("reads")
            .pop()
            .expect("one");
        (e.seq, e.integration_id)
    };
    store
        .put_delivery(
            &waiting_id,
            waiting_seq,
            &DeliveryRecord {
                state: DeliveryState::Pending,
                ..applied()
            },
        )
        .expect("put");
    o.close().await;
    store.flush_blocking().expect("flush");

    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    assert_eq!(o.metrics.inbox_depth(), 15);
    assert_eq!(pending_bodies(&o.inbox), before[5..].to_vec());
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_ignored_and_the_next_run_writes_a_new_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    commit_all(&o.inbox, 3).await;
    let before = pending_bodies(&o.inbox);
    o.close().await;

    // A crash in the middle of a write leaves the start of a record.
    let inbox_dir = dir.path().join(DIR_NAME);
    let (_, path) = segment::list(&inbox_dir)
        .expect("list")
        .pop()
        .expect("a segment");
    let mut partial = Vec::new();
    Record {
        seq: 999,
        received_ms: 0,
        integration_id: "1",
        body: b"{\"never\":\"acknowledged\"}",
    }
    .encode_into(&mut partial)
    .expect("encodes");
    let mut f = OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(&partial[..partial.len() - 3]).expect("write");
    drop(f);

    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    assert_eq!(pending_bodies(&o.inbox), before);
    commit_all(&o.inbox, 1).await;
    assert_eq!(o.inbox.len(), 4);
    assert_eq!(
        o.inbox.segments(),
        2,
        "the old segment is never appended to"
    );
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_segments_are_written_and_read_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let inbox_dir = dir.path().join(DIR_NAME);
    let max_segment = 2048;
    let o = open(dir.path(), &store, max_segment);
    // Past a quarter of the first segment (about 20 of these records) a spare is filled;
    // later rotations take spares.
    commit_all(&o.inbox, 20).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !inbox_dir.join("spare.ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no spare was prepared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for _ in 0..6 {
        commit_all(&o.inbox, 10).await;
    }
    let before = pending_bodies(&o.inbox);
    assert_eq!(before.len(), 80);
    o.close().await;

    // At least one segment is a spare: longer than the records written into it.
    let mut spares = 0;
    for (first, path) in segment::list(&inbox_dir).expect("list") {
        let file = File::open(&path).expect("open");
        let len = file.metadata().expect("stat").len();
        let (records, end) = segment::scan(&file, first).expect("scan");
        assert_eq!(end, segment::End::Clean);
        let written = records
            .last()
            .map_or(0, |r| r.body_offset + r.body_len as u64);
        // Every batch is followed by its end mark; a segment that is longer was a spare.
        assert!(len >= written + segment::END_MARK.len() as u64);
        if len > written + segment::END_MARK.len() as u64 {
            assert_eq!(len, max_segment, "{}", path.display());
            spares += 1;
        }
    }
    assert!(spares >= 1, "no segment was written into a spare");

    let o = open(dir.path(), &store, max_segment);
    assert!(
        !inbox_dir.join("spare.ready").exists(),
        "a spare left by the last run is removed"
    );
    assert_eq!(pending_bodies(&o.inbox), before);
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_segment_is_written_over_and_its_old_records_never_come_back() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let inbox_dir = dir.path().join(DIR_NAME);
    let kept = inbox_dir.join("spare.recycled");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Segments of about eight of these records.
    let o = open(dir.path(), &store, 512);
    for _ in 0..4 {
        commit_all(&o.inbox, 5).await;
    }
    for e in o
        .inbox
        .oldest_except(usize::MAX, &|_| false)
        .expect("reads")
    {
        o.inbox
            .complete(&e.integration_id, &[(e.seq, &applied())])
            .expect("complete");
    }
    while !kept.exists() {
        assert!(std::time::Instant::now() < deadline, "no segment was kept");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let kept_inode = std::fs::metadata(&kept).expect("stat").ino();
    while kept.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the kept segment was not used"
        );
        commit_all(&o.inbox, 5).await;
    }
    let before = pending_bodies(&o.inbox);
    o.close().await;

    let (first, path) = segment::list(&inbox_dir)
        .expect("list")
        .into_iter()
        .find(|(_, p)| std::fs::metadata(p).expect("stat").ino() == kept_inode)
        .expect("the kept file is a segment again");
    let (records, end) = segment::scan(&File::open(&path).expect("open"), first).expect("scan");
    assert_eq!(end, segment::End::Clean, "the scan ends at an end mark");
    assert!(!records.is_empty());
    assert_eq!(records[0].seq, first);
    assert!(
        records
            .iter()
            .all(|r| before.iter().any(|(seq, _)| *seq == r.seq)),
        "only the deliveries written over it are read"
    );
    let o = open(dir.path(), &store, 512);
    assert_eq!(pending_bodies(&o.inbox), before);
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_segments_are_deleted_after_the_store_is_flushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    // Tiny segments: every batch starts a new one.
    let o = open(dir.path(), &store, 1);
    for _ in 0..4 {
        commit_all(&o.inbox, 3).await;
    }
    let inbox_dir = dir.path().join(DIR_NAME);
    let files = segment::list(&inbox_dir).expect("list").len();
    assert!(files >= 4, "{files} segments");
    for e in o
        .inbox
        .oldest_except(usize::MAX, &|_| false)
        .expect("reads")
    {
        o.inbox
            .complete(&e.integration_id, &[(e.seq, &applied())])
            .expect("complete");
    }
    // All but the segment still being appended to go, once the janitor has flushed the store.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while segment::list(&inbox_dir).expect("list").len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "applied segments were not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(o.inbox.segments(), 1);
    o.close().await;
    // The next start finds the last one fully recorded and deletes it too.
    let o = open(dir.path(), &store, 1);
    assert!(o.inbox.is_empty());
    assert_eq!(segment::list(&inbox_dir).expect("list").len(), 0);
    o.close().await;
}

/// How a test damages a stored segment.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// A flipped bit in the body of the third record.
    MiddleRecord,
    /// The first record's header overwritten with garbage.
    FirstHeader,
    /// The third record's length field set to nearly 4 GiB.
    Length,
}

/// Stores five deliveries in one segment, damages it, and checks that the next start keeps
/// every other record pending, moves the damaged file aside as `*.corrupt` (byte for byte),
/// reports one skipped record, and that the start after that finds a clean segment.
async fn damaged_segment_case(damage: Damage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    for _ in 0..5 {
        commit_all(&o.inbox, 1).await;
    }
    let before = pending_bodies(&o.inbox);
    assert_eq!(before.len(), 5);
    o.close().await;

    let inbox_dir = dir.path().join(DIR_NAME);
    let [(first, path)] =
        <[_; 1]>::try_from(segment::list(&inbox_dir).expect("list")).expect("one segment");
    let (records, _) = segment::scan(&File::open(&path).expect("open"), first).expect("scan");
    assert_eq!(records.len(), 5);
    let mut bytes = std::fs::read(&path).expect("read");
    let (lost, offset, replacement): (usize, u64, Vec<u8>) = match damage {
        Damage::MiddleRecord => (
            2,
            records[2].body_offset + 1,
            vec![bytes[usize::try_from(records[2].body_offset + 1).expect("small")] ^ 0x10],
        ),
        Damage::FirstHeader => (0, 0, vec![0x5A; segment::HEADER_LEN]),
        Damage::Length => (
            2,
            records[2].offset + 1,
            0xFFFF_FFF0_u32.to_be_bytes().to_vec(),
        ),
    };
    let offset = usize::try_from(offset).expect("small");
    bytes[offset..offset + replacement.len()].copy_from_slice(&replacement);
    std::fs::write(&path, &bytes).expect("write");

    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    let mut expected = before.clone();
    expected.remove(lost);
    assert_eq!(pending_bodies(&o.inbox), expected, "{damage:?}");
    let text = o.metrics.render();
    assert!(
        text.contains("reference_server_inbox_records_skipped_total 1\n"),
        "{damage:?}: {text}"
    );
    let kept = inbox_dir.join(format!("{}.corrupt", segment::file_name(first)));
    assert_eq!(
        std::fs::read(&kept).expect("the damaged file is kept"),
        bytes,
        "{damage:?}"
    );
    let scanned = segment::read_segment(&File::open(&path).expect("open"), first).expect("scan");
    assert!(!scanned.is_damaged(), "{damage:?}: {scanned:?}");
    o.close().await;

    // The next start finds nothing damaged, and keeps the damaged file.
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    assert_eq!(pending_bodies(&o.inbox), expected, "{damage:?}");
    assert!(
        o.metrics
            .render()
            .contains("reference_server_inbox_records_skipped_total 0\n")
    );
    assert!(kept.exists());
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_middle_record_is_skipped_and_the_records_after_it_recovered() {
    damaged_segment_case(Damage::MiddleRecord).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_first_header_keeps_the_segment_and_the_records_after_it() {
    damaged_segment_case(Damage::FirstHeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_length_field_is_bounded_and_the_records_after_it_recovered() {
    damaged_segment_case(Damage::Length).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_whose_only_record_is_damaged_is_kept_aside_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    commit_all(&o.inbox, 1).await;
    o.close().await;
    let inbox_dir = dir.path().join(DIR_NAME);
    let [(first, path)] =
        <[_; 1]>::try_from(segment::list(&inbox_dir).expect("list")).expect("one segment");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[0] = 0;
    std::fs::write(&path, &bytes).expect("write");

    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    assert!(o.inbox.is_empty());
    assert!(
        o.metrics
            .render()
            .contains("reference_server_inbox_records_skipped_total 1\n")
    );
    let kept = inbox_dir.join(format!("{}.corrupt", segment::file_name(first)));
    assert_eq!(std::fs::read(&kept).expect("kept"), bytes);
    o.close().await;
}

/// A size-limited tmpfs mounted at a directory for one test, unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `at`; `None`, with one
    /// printed line, where mounting is not allowed (not root, no `mount`, a container without
    /// the capability).
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(at.to_owned())),
            Ok(o) => {
                println!(
                    "skipped: cannot mount a small tmpfs ({})",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    /// Fills the filesystem with `filler` until a write fails.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = File::create(&path).expect("filler");
        let chunk = vec![1u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_write_and_the_inbox_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(fs) = SmallFs::mount(&dir.path().join(DIR_NAME), "2m") else {
        return;
    };
    let store = Store::open(dir.path()).expect("store");
    let o = open(dir.path(), &store, 64 * 1024);
    commit_all(&o.inbox, 1).await;
    assert_eq!(o.inbox.readiness().await, Ok(()));
    let filler = fs.fill();

    // Larger than the rest of the page the last write went to.
    let large = format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)).into_bytes();
    let failed = o.inbox.accept("1", 0, &large).await;
    assert!(
        matches!(failed, Err(InboxError::Write(_))),
        "a write to a full disk fails: {failed:?}"
    );
    let reason = o.inbox.readiness().await.expect_err("not ready");
    assert!(reason.contains("No space left"), "{reason}");
    assert!(o.inbox.accept("1", 0, &large).await.is_err(), "still full");
    assert_eq!(o.inbox.len(), 1, "nothing failed is pending");

    std::fs::remove_file(&filler).expect("free the space");
    assert_eq!(
        o.inbox.readiness().await,
        Ok(()),
        "ready again without a restart"
    );
    let seq = o
        .inbox
        .accept("1", 0, &body(3))
        .await
        .expect("stored again");
    let pending = pending_bodies(&o.inbox);
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[1], (seq, body(3)));
    o.close().await;

    // What was acknowledged is read back; the failed deliveries are not.
    let o = open(dir.path(), &store, 64 * 1024);
    assert_eq!(pending_bodies(&o.inbox), pending);
    o.close().await;
}

/// Bytes of the segment files in `dir`.
fn segment_bytes(dir: &Path) -> u64 {
    segment::list(dir)
        .expect("list")
        .iter()
        .map(|(_, p)| std::fs::metadata(p).expect("stat").len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_backlog_is_compacted_and_keeps_no_applied_segment_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let inbox_dir = dir.path().join(DIR_NAME);
    // Segments of about eight records; integration "paused" gets one delivery in four and
    // never has one applied, "busy" gets the rest, all applied.
    let o = open(dir.path(), &store, 512);
    for i in 0..160 {
        let id = if i % 4 == 0 { "paused" } else { "busy" };
        let ms = i64::try_from(i).expect("small");
        o.inbox.accept(id, ms, &body(i)).await.expect("commit");
    }
    let spread = segment::list(&inbox_dir).expect("list").len();
    assert!(spread >= 15, "{spread} segments");
    let apply_busy = || {
        for e in o
            .inbox
            .oldest_except(usize::MAX, &|id| id == "paused")
            .expect("reads")
        {
            o.inbox
                .complete(&e.integration_id, &[(e.seq, &applied())])
                .expect("complete");
        }
    };
    apply_busy();
    let backlog = pending_bodies(&o.inbox);
    assert_eq!(backlog.len(), 40);
    let backlog_bytes: u64 = backlog
        .iter()
        .map(|(_, b)| segment::record_len("paused".len(), b.len()))
        .sum();

    // Compaction runs when a segment is sealed: keep deliveries of "busy" coming and applied.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 1000;
    loop {
        let files = segment::list(&inbox_dir).expect("list").len();
        let bytes = segment_bytes(&inbox_dir);
        if files <= 4 && bytes <= backlog_bytes + 2 * 600 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{files} segment files of {bytes} bytes for a backlog of {backlog_bytes} bytes"
        );
        o.inbox.accept("busy", 0, &body(n)).await.expect("commit");
        n += 1;
        apply_busy();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        o.inbox
            .oldest_except(usize::MAX, &|id| id != "paused")
            .expect("reads")
            .len(),
        40
    );
    let still: Vec<(u64, Vec<u8>)> = o
        .inbox
        .oldest_except(usize::MAX, &|id| id != "paused")
        .expect("reads")
        .into_iter()
        .map(|e| (e.seq, e.body))
        .collect();
    assert_eq!(
        still, backlog,
        "the backlog keeps its numbers, order and bodies"
    );
    o.close().await;

    // Read back after a restart: the same backlog.
    let o = open(dir.path(), &store, 512);
    let after: Vec<(u64, Vec<u8>)> = o
        .inbox
        .oldest_except(usize::MAX, &|id| id != "paused")
        .expect("reads")
        .into_iter()
        .map(|e| (e.seq, e.body))
        .collect();
    assert_eq!(after, backlog);
    o.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_refuses_deliveries_at_its_limit_and_takes_them_again_once_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let metrics = Arc::new(Metrics::default());
    let (flush, flusher) = StoreFlush::start(store.clone());
    let (inbox, tasks) = Inbox::open(
        dir.path(),
        store.clone(),
        flush,
        metrics,
        512,
        2048,
        Faults::default(),
    )
    .expect("the inbox opens");
    let mut refused = None;
    for i in 0..100 {
        match inbox.accept("1", 0, &body(i)).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the limit is reached");
    assert!(matches!(refused, InboxError::Full { .. }), "{refused}");
    assert!(refused.to_string().contains("--inbox-max-mb"), "{refused}");
    let reason = inbox.readiness().await.expect_err("not ready at the limit");
    assert!(reason.contains("--inbox-max-mb"), "{reason}");
    let stored = inbox.len();
    assert!((10..100).contains(&stored), "{stored}");

    for e in inbox.oldest_except(usize::MAX, &|_| false).expect("reads") {
        inbox
            .complete(&e.integration_id, &[(e.seq, &applied())])
            .expect("complete");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while inbox.readiness().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "applied segments did not make room"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    inbox.accept("1", 0, &body(1)).await.expect("room again");
    drop(inbox);
    tasks.stop().await;
    flusher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_compaction_renamed_its_file_reads_each_record_once() {
    // The merged file (records 10 to 13) is in place of the first segment; the second one,
    // with copies of 11 and 13, was not deleted yet.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let inbox_dir = dir.path().join(DIR_NAME);
    std::fs::create_dir_all(&inbox_dir).expect("mkdir");
    let write = |first: u64, seqs: &[u64]| {
        let mut bytes = Vec::new();
        for seq in seqs {
            Record {
                seq: *seq,
                received_ms: 0,
                integration_id: "1",
                body: &body(usize::try_from(*seq).expect("small")),
            }
            .encode_into(&mut bytes)
            .expect("encodes");
        }
        std::fs::write(inbox_dir.join(segment::file_name(first)), bytes).expect("write");
    };
    write(10, &[10, 11, 12, 13]);
    write(11, &[11, 13]);
    let o = open(dir.path(), &store, MAX_SEGMENT_BYTES);
    let seqs: Vec<u64> = pending_bodies(&o.inbox).iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [10, 11, 12, 13]);
    assert_eq!(o.metrics.inbox_depth(), 4);
    assert_eq!(
        segment::list(&inbox_dir).expect("list"),
        [(10, inbox_dir.join(segment::file_name(10)))],
        "the copies' segment is deleted"
    );
    o.close().await;
}
