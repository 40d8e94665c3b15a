use super::*;

fn open(dir: &Path) -> Spool {
    Spool::open(dir, 1 << 30, Fsync::Never).expect("open")
}

fn rec(i: u64) -> Vec<u8> {
    format!("<14>record number {i}\0").into_bytes()
}

fn read_all(s: &mut Spool) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut b = Vec::new();
        match s.read_next(&mut b) {
            Some(seq) => out.push((seq, b)),
            None => return out,
        }
    }
}

/// A copy of the backlog's files as they are now: what a `kill -9` leaves.
fn crash_copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn records_come_back_in_order_and_leave_once_delivered() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = open(&dir);
    for i in 0..100 {
        assert!(s.append(&rec(i)));
    }
    assert!(s.has_unread());
    s.flush().unwrap();
    let got = read_all(&mut s);
    assert_eq!(got.len(), 100);
    for (i, (seq, b)) in got.iter().enumerate() {
        assert_eq!((*seq, b), (i as u64, &rec(i as u64)));
    }
    assert_eq!(s.records(), 100);
    s.delivered_through(99);
    assert!(s.is_empty());
    assert!(segments(&dir).is_empty(), "delivered segments are deleted");
    assert_eq!(s.bytes(), 0);
}

#[test]
fn a_crash_reads_again_from_what_was_not_delivered() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = open(&dir);
    for i in 0..10 {
        s.append(&rec(i));
    }
    s.flush().unwrap();
    let first: Vec<u64> = read_all(&mut s).iter().map(|r| r.0).take(4).collect();
    s.delivered_through(first[3]);
    // More appended after the delivery, then the process dies.
    for i in 10..12 {
        s.append(&rec(i));
    }
    s.flush().unwrap();
    let copy = t.path().join("after-crash");
    crash_copy(&dir, &copy);
    let mut again = open(&copy);
    let seqs: Vec<u64> = read_all(&mut again).iter().map(|r| r.0).collect();
    assert_eq!(seqs, (4..12).collect::<Vec<_>>());
    // New records continue the numbering.
    again.append(&rec(12));
    again.flush().unwrap();
    assert_eq!(
        read_all(&mut again).iter().map(|r| r.0).collect::<Vec<_>>(),
        [12]
    );
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = open(&dir);
    for i in 0..5 {
        s.append(&rec(i));
    }
    s.flush().unwrap();
    let copy = t.path().join("torn");
    crash_copy(&dir, &copy);
    let seg = segments(&copy).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    let mut again = open(&copy);
    assert!(
        again
            .notes
            .iter()
            .any(|n| n.contains("cut") && n.contains(".seg")),
        "{:?}",
        again.notes
    );
    let seqs: Vec<u64> = read_all(&mut again).iter().map(|r| r.0).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    // The next record takes the cut one's number and reads back whole.
    again.append(&rec(99));
    again.flush().unwrap();
    let more = read_all(&mut again);
    assert_eq!(more, [(4, rec(99))]);
}

#[test]
fn a_damaged_record_is_skipped_counted_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = open(&dir);
    for i in 0..5 {
        s.append(&rec(i));
    }
    s.flush().unwrap();
    drop(s);
    let seg = segments(&dir).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let one = frame::HEADER + rec(0).len();
    // A byte of record 2's payload, then one of record 3's length.
    bytes[2 * one + frame::HEADER + 3] ^= 0x40;
    bytes[3 * one] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    let mut again = open(&dir);
    let seqs: Vec<u64> = read_all(&mut again).iter().map(|r| r.0).collect();
    assert_eq!(seqs, [0, 1, 4]);
    assert_eq!(again.damaged, 2);
    let notes = again.notes.join("\n");
    assert!(notes.contains(&format!("offset {}", 2 * one)), "{notes}");
    assert!(notes.contains(&seg.display().to_string()), "{notes}");
}

#[test]
fn the_budget_bounds_every_backlog_together() {
    let t = tempfile::tempdir().unwrap();
    let budget = USED.load(Ordering::Relaxed) + 10 * (frame::HEADER + rec(0).len()) as u64;
    let mut a = Spool::open(&t.path().join("a"), budget, Fsync::Never).unwrap();
    let mut b = Spool::open(&t.path().join("b"), budget, Fsync::Never).unwrap();
    let mut taken = 0;
    for i in 0..20 {
        taken += usize::from(a.append(&rec(i))) + usize::from(b.append(&rec(i)));
    }
    // Other tests share the process-wide count: at most the ten allowed.
    assert!(taken <= 10, "{taken}");
    assert!(!a.append(&rec(0)));
}

#[test]
fn one_backlog_has_one_writer() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let _s = open(&dir);
    assert!(matches!(
        Spool::open(&dir, 1 << 30, Fsync::Never),
        Err(SpoolError::Busy(_))
    ));
}

#[test]
fn segments_roll_and_are_deleted_as_they_are_delivered() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = Spool::open(&dir, 1 << 30, Fsync::Never).unwrap();
    let big = vec![b'x'; 1 << 20];
    for _ in 0..70 {
        s.append(&big);
        s.flush().unwrap();
    }
    assert!(segments(&dir).len() >= 2);
    let mut b = Vec::new();
    let mut last = 0;
    for _ in 0..40 {
        b.clear();
        last = s.read_next(&mut b).unwrap();
    }
    s.delivered_through(last);
    assert!(segments(&dir).len() < 3);
    let rest = read_all(&mut s);
    assert_eq!(rest.len(), 30);
    s.delivered_through(rest.last().unwrap().0);
    assert!(segments(&dir).is_empty());
}

#[test]
fn handler_names_stay_inside_the_directory() {
    assert_eq!(handler_dir("fwd"), "fwd");
    assert_eq!(handler_dir("../x"), "%2E%2E%2Fx");
    assert_eq!(handler_dir(""), "%");
    assert_ne!(handler_dir("a/b"), handler_dir("a%2Fb"));
}

#[test]
fn deliveries_out_of_order_move_the_head_past_every_earlier_one() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("h");
    let mut s = open(&dir);
    for i in 0..6 {
        s.append(&rec(i));
    }
    s.flush().unwrap();
    assert_eq!(read_all(&mut s).len(), 6);
    s.delivered(&[2, 1, 4]);
    assert_eq!(s.records(), 6, "record 0 is still in flight");
    s.delivered(&[0]);
    assert_eq!(s.records(), 3, "0, 1, 2 delivered; 3 is not");
    s.delivered(&[3, 5]);
    assert!(s.is_empty());
    assert_eq!(s.in_flight(), 0);
}
