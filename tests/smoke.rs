mod common;
use common::*;

#[test]
fn common_helpers_work() {
    let (a, b) = unix_pair();
    a.send(&payload(1, 10), None).unwrap();
    let got = receive_n(&b, 1, 100);
    assert_eq!(got[0].0, payload(1, 10));
    assert_nothing_queued(&b);
}
